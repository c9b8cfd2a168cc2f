#!/usr/bin/env bash
# Plain-QEMU live-migration stress test: no DLSM, no NBD, no blockd.
#
#   N=40 RATE=30 CHECK=1 ACCEL_OPTS=tcg tests/vm/qemu-tcg-migration-stress.sh
#
# The question it answers: does QEMU's own memory migration (TCG here) ever hand the guest
# wrong memory (a kernel "BUG: Bad page state", a 1 MiB O_DIRECT read-back with some 4 KiB
# pages wrong, a guest that stops answering), with nothing but a raw file both QEMUs share?
# It does on QEMU 7.2, and this tells 7.2 from 10.0 in a few minutes (docs/bench/vm-migration.md):
#
#   QEMU=system|backports N=20 RAM_CHECK=1 MAX_BW=25000000 MIGRATE_LIMIT=40 tests/vm/qemu-tcg-migration-stress.sh
#
# (migration throttled to the VM lab's 200 Mbit/s link: several dirty-bitmap passes per
# migration, each a chance to lose a store; unshaped, most migrations finish in one or two).
#
# The guest is the VM lab's (tests/guest/build-guest.sh + tests/vm/guest-workload.sh running
# tests/vm/guest-writer.c; built or reused exactly as tests/vm/vm-migration-lab.sh does, same
# kernel command line): it writes self-describing 1 MiB records with O_DIRECT at RATE MB/s and
# reads one back after every CHECK writes, printing PROG lines four times a second.
# Its disk is ONE raw file that both QEMUs open (-drive file=DISK,format=raw,if=virtio,
# cache=none,file.locking=off: same-host shared storage, like a cluster's). QEMU 0 boots the
# guest; once the guest reads records back, the guest is migrated N times, ping-pong between
# two live QEMU processes: QEMU i+1 starts with -incoming unix:SOCK, QMP migrate on QEMU i
# until completed, QEMU i quits. After every migration the new console (one log per QEMU) is
# scanned for VERIFY FAIL, IOERR, BUG:, Oops, general protection, Kernel panic, I/O error,
# and the guest must print a PROG line with an advancing record ID within PROG_WAIT s
# ("unresponsive" / "io_stalled" otherwise). At the end: STOP on the console, the guest's own
# verify pass (VERIFY ALL OK, FINAL last=ID), then the host checks the disk file byte for byte.
# A problem printed on QEMU i's console counts against migration i (the one that brought the
# guest there; 0 = before any migration); what the final verify finds counts as "final".
#
# Environment:
#   N             migrations (default 30)
#   RATE          guest write rate in MB/s, 0 = idle, max = unthrottled (default 30)
#   CHECK         read a record back after every CHECK writes (default 1; 0 = never)
#   ACCEL_OPTS    the -accel argument (default tcg; e.g. tcg,thread=single)
#   SMP           vCPUs (default 1)
#   CPU           -cpu model (default qemu64)
#   MEM_MIB       guest memory (default 256)
#   MEM           the -m argument as is (default: MEM_MIB); e.g. 262136K, a size that is not a
#                 multiple of 256 KiB, makes QEMU's dirty-bitmap sync take its slow path (which
#                 resets TCG's TLB dirty state) instead of the word-at-a-time fast path that
#                 QEMU 9.0's commit 03bfc2188f fixed ("physmem: Fix migration dirty bitmap
#                 coherency with TCG memory access")
#   DISK_MIB      disk size (default 128); SLOTS records of 1 MiB (default DISK_MIB / 2)
#   MAX_BW        migration max-bandwidth in bytes/s set on every source before it migrates
#                 (default 100000000000: unshaped); "default" keeps QEMU's own (128 MiB/s in 7.2,
#                 what vm-migration-lab.sh runs with)
#   DWELL_S       seconds the guest runs on a QEMU after its PROG check, before it moves on
#                 (default 1)
#   PROG_WAIT     seconds a migrated guest has to print an advancing PROG line (default 10)
#   MIGRATE_LIMIT seconds one migration may take (default 120)
#   RAM_CHECK     1: the destination starts with -S too; once the migration completed (both
#                 QEMUs paused at the same guest state) both dump guest RAM (QMP pmemsave) and
#                 every 4 KiB page is compared: a page that differs is an update the migration
#                 lost, whether or not the guest ever notices it (kind ram_mismatch, not fatal);
#                 then the destination is continued. Adds the dump time to the guest's pause.
#                 The first two mismatching dump pairs are kept (ram-src.I.bin, ram-dst.I.bin).
#                 Default 0
#   STOP_ON_FAIL  1: stop migrating at the first problem of any kind (default 0: only a fatal
#                 one - kernel BUG/Oops/GPF/panic, unresponsive, QEMU exit - stops the loop)
#   QEMU          auto (default), system, backports or a binary's path (tests/vm/qemu-binary.sh:
#                 auto takes Debian's bookworm-backports build, 10.0, over a system QEMU < 9.0)
#   GUEST_CACHE   guest build cache (default <repo>/build/guest, as the lab)
#   KEEP_WORK=1   keep the work directory (a run with failures keeps it anyway)
#   RESULT_FILE   also write the STRESS line there
# Output: progress lines, one line per migration (MIG i ...), then
#   STRESS variant=... migrations=N failures=K first_failure_at=I|none kinds=KIND@I,...|none ...
# Exit status: 0 no failure, 1 failures, 2 the test itself could not run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
lab=$here/vmlab.py

N=${N:-30}
RATE=${RATE:-30}
CHECK=${CHECK:-1}
ACCEL_OPTS=${ACCEL_OPTS:-tcg}
SMP=${SMP:-1}
CPU=${CPU:-qemu64}
MEM_MIB=${MEM_MIB:-256}
MEM=${MEM:-$MEM_MIB}
DISK_MIB=${DISK_MIB:-128}
SLOTS=${SLOTS:-$((DISK_MIB / 2))}
MAX_BW=${MAX_BW:-100000000000}
DWELL_S=${DWELL_S:-1}
PROG_WAIT=${PROG_WAIT:-10}
MIGRATE_LIMIT=${MIGRATE_LIMIT:-120}
STOP_ON_FAIL=${STOP_ON_FAIL:-0}
RAM_CHECK=${RAM_CHECK:-0}
variant="accel=$ACCEL_OPTS/smp=$SMP/cpu=$CPU/mem=$MEM/rate=$RATE/check=$CHECK/bw=$MAX_BW/ramcheck=$RAM_CHECK"

say() { echo "[$(date +%T)] $*"; }
die() { echo "qemu-tcg-migration-stress: ERROR: $*" >&2; exit 2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
for v in N SMP MEM_MIB DISK_MIB SLOTS DWELL_S PROG_WAIT MIGRATE_LIMIT CHECK; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number (is '${!v}')"
done

# ------------------------------------------------------------------ tools and the guest
missing=()
command -v gcc >/dev/null || missing+=(gcc)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
fi
# The same guest as vm-migration-lab.sh (WORKLOAD=c): pool, compiled writer, initramfs.
cache=${GUEST_CACHE:-$root/build/guest}
mkdir -p "$cache"
QEMU_SYSTEM=$(GUEST_CACHE=$cache "$here/qemu-binary.sh" "${QEMU:-auto}") || die "no QEMU (QEMU=${QEMU:-auto})"
qemu_version=$("$QEMU_SYSTEM" --version | head -1)
variant="qemu=$(echo "$qemu_version" | awk '{print $4}')/$variant"
pool=$cache/dlsm-pool
[ -s "$pool" ] || $py "$lab" pool "$pool"
writer=$cache/guest-writer
if [ ! -x "$writer" ] || [ "$here/guest-writer.c" -nt "$writer" ]; then
    gcc -O2 -Wall -Werror -o "$writer.tmp" "$here/guest-writer.c" && mv "$writer.tmp" "$writer"
fi
eval "$(GUEST_CACHE=$cache "$root/tests/guest/build-guest.sh" --init "$here/guest-workload.sh" \
        --files "$pool:/etc/dlsm-pool" --binaries "$writer" --print-env)"
kernel=$GUEST_KERNEL initrd=$GUEST_INITRD

# cache=none needs O_DIRECT: the work dir must not be on tmpfs.
work=$(mktemp -d "${TMPDIR:-/var/tmp}/qemu-tcg-stress.XXXXXX")
pids=()
keep=${KEEP_WORK:-0}
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
    local rc=$? p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done # cleanup: already gone is fine
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true # cleanup: already gone is fine
    done
    if [ "$keep" = 1 ] || [ "$rc" != 0 ]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Forgets a PID that has exited (so the trap never signals a reused PID).
forget() { # PID
    local p keep_pids=()
    for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep_pids+=("$p"); done
    pids=("${keep_pids[@]}")
}
wait_pid() { # PID TIMEOUT-S: 0 once PID is gone
    local _
    for _ in $(seq $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}
qmp() { $py "$lab" qmp "$@"; }
jget() { # EXPR over the JSON on stdin as d
    $py -c 'import json,sys; d=json.load(sys.stdin); v=eval(sys.argv[1], {}, {"d": d}); print(v if isinstance(v, str) else json.dumps(v))' "$1"
}

disk=$work/disk.img
$py "$lab" image "$disk" "$DISK_MIB" "$SLOTS" "$pool"
append="console=ttyS0 panic=-1 quiet dlsm.slots=$SLOTS dlsm.rate=$RATE dlsm.prefilled=1 dlsm.check=$CHECK"
qemu_common=(-accel "$ACCEL_OPTS" -M pc -cpu "$CPU" -m "$MEM" -smp "$SMP" -nodefaults -no-user-config
             -display none -no-reboot -no-shutdown -kernel "$kernel" -initrd "$initrd" -append "$append"
             -drive "file=$disk,format=raw,if=virtio,cache=none,file.locking=off,id=disk0")
qemu_pid=()
start_qemu() { # I [EXTRA...]: QEMU number I, console con$I.{sock,log}, QMP qmp$I.sock
    local i=$1 _; shift
    "$QEMU_SYSTEM" "${qemu_common[@]}" \
        -chardev "socket,id=con,path=$work/con$i.sock,server=on,wait=off,logfile=$work/con$i.log" \
        -serial chardev:con -qmp "unix:$work/qmp$i.sock,server=on,wait=off" -msg timestamp=on \
        "$@" >"$work/qemu$i.out" 2>"$work/qemu$i.log" &
    qemu_pid[i]=$!
    pids+=("${qemu_pid[i]}")
    for _ in $(seq 200); do
        [ -S "$work/qmp$i.sock" ] && return 0
        kill -0 "${qemu_pid[i]}" 2>/dev/null || break
        sleep 0.05
    done
    cat "$work/qemu$i.log" >&2
    return 1
}
stop_qemu() { # I: QMP quit, then TERM/KILL; forgets the PID
    local p=${qemu_pid[$1]}
    qmp "$work/qmp$1.sock" quit >/dev/null 2>&1 || true # judged by the wait just below
    wait_pid "$p" 30 || { kill "$p" 2>/dev/null || true; wait_pid "$p" 10 || kill -9 "$p" 2>/dev/null || true; } # escalates until gone; a dead PID is the goal
    wait_pid "$p" 10 || true # cleanup: a QEMU that outlives this is killed by the exit trap
    forget "$p"
}

# ------------------------------------------------------------------ problems on the consoles
# What a console line means; lines are counted once per console (seen[I]).
bad_rx='VERIFY FAIL|IOERR|BUG: |Oops|general protection|Kernel panic|I/O error'
declare -A seen=()
scan_kinds=()
failures=0 first_failure=none fatal=''
kinds=()
fail_log=$work/failures.txt
: >"$fail_log"
kind_of() { # LINE
    case $1 in
        *'VERIFY FAIL'*) echo verify_fail ;; *IOERR*) echo ioerr ;; *'BUG: '*) echo kernel_bug ;;
        *Oops*) echo oops ;; *'general protection'*) echo gpf ;; *'Kernel panic'*) echo panic ;;
        *'I/O error'*) echo blk_ioerr ;; *) echo other ;;
    esac
}
# Records problems AT (a migration number or "final"): a failure is a point with at least one
# problem, however many lines and kinds; each kind is listed once per point.
declare -A at_kinds=()
record() { # AT KIND...
    local at=$1 k
    shift
    if [ -z "${at_kinds[$at]:-}" ]; then
        failures=$((failures + 1))
        [ "$first_failure" != none ] || first_failure=$at
        at_kinds[$at]=' '
    fi
    for k in "$@"; do
        case ${at_kinds[$at]} in *" $k "*) continue ;; esac
        at_kinds[$at]+="$k "
        kinds+=("$k@$at")
        case $k in kernel_bug|oops|gpf|panic|unresponsive|io_stalled|qemu_exit|migrate_failed) fatal=$k ;; esac
    done
    keep=1
    say "FAILURE at $at:${at_kinds[$at]}"
}
# New problem lines on console I since the last scan: their kinds in $scan_kinds, the lines
# (with the kernel's report around the first one) appended to the failure log.
scan() { # I ATTRIBUTE-TO
    local i=$1 at=$2 lines n old first line
    scan_kinds=()
    [ -f "$work/con$i.log" ] || return 0
    lines=$(grep -anE "$bad_rx" "$work/con$i.log" || true) # no match: the normal case
    [ -n "$lines" ] || return 0
    n=$(echo "$lines" | wc -l)
    old=${seen[$i]:-0}
    [ "$n" -gt "$old" ] || return 0
    seen[$i]=$n
    lines=$(echo "$lines" | tail -n +$((old + 1)))
    first=$(echo "$lines" | head -1 | cut -d: -f1)
    {
        echo "=== at $at, console con$i.log:"
        echo "$lines" | head -20
        echo "--- con$i.log lines $((first > 5 ? first - 5 : 1))..$((first + 25)):"
        sed -n "$((first > 5 ? first - 5 : 1)),$((first + 25))p" "$work/con$i.log"
    } >>"$fail_log"
    while IFS= read -r line; do scan_kinds+=("$(kind_of "$line")"); done <<<"$lines"
}
check_console() { # I AT [EXTRA-KIND...]: scan, record a failure at AT if anything turned up
    local at=$2
    scan "$1" "$2"
    shift 2
    scan_kinds+=("$@")
    [ ${#scan_kinds[@]} -eq 0 ] || record "$at" "${scan_kinds[@]}"
}
# Waits until console I shows a PROG line with up > UP0 (and, with RATE > 0, id > ID0).
# Prints "ok", "io_stalled" (progress lines, no new records) or "unresponsive".
await_prog() { # I UP0 ID0 TIMEOUT
    local i=$1 up0=$2 id0=$3 p up id got=unresponsive end=$(($(date +%s) + $4)) _
    for _ in $(seq $(($4 * 4))); do
        [ "$(date +%s)" -le "$end" ] || break
        p=$($py "$lab" last-prog "$work/con$i.log" 2>/dev/null || echo '{}')
        up=$(echo "$p" | jget 'd.get("up", -1)') id=$(echo "$p" | jget 'd.get("id", -1)')
        if [ "$up" -gt "$up0" ]; then
            got=io_stalled
            if [ "$RATE" = 0 ] || [ "$id" -gt "$id0" ]; then echo ok; return 0; fi
        fi
        sleep 0.25
    done
    echo "$got"
}
# Compares two guest RAM dumps page by page: "PAGES-DIFFERING [first pfns]" on stdout.
ram_diff() { # SRC DST
    $py - "$1" "$2" <<'PY'
import sys
P, C = 4096, 1 << 20
bad = []
with open(sys.argv[1], "rb") as a, open(sys.argv[2], "rb") as b:
    off = 0
    while True:
        x, y = a.read(C), b.read(C)
        if not x and not y:
            break
        if x != y:
            for p in range(0, max(len(x), len(y)), P):
                if x[p:p + P] != y[p:p + P]:
                    bad.append((off + p) // P)
        off += C
print(len(bad), " ".join("0x%x" % p for p in bad[:16]) + (" ..." if len(bad) > 16 else ""))
PY
}
ram_kept=0
last_field() { # I KEY: from the last PROG line of console I (-1 without one)
    $py "$lab" last-prog "$work/con$1.log" | jget "d.get('$2', -1)"
}

# ------------------------------------------------------------------ boot
say "variant $variant; $N migrations; disk $DISK_MIB MiB ($SLOTS records), shared raw file $disk"
say "QEMU $qemu_version; kernel $GUEST_KVER; load: $(cut -d' ' -f1-3 /proc/loadavg)"
t_boot=$(now)
start_qemu 0 || die "QEMU 0 did not start"
$py "$lab" wait-console "$work/con0.log" '^READY|IOERR' 300 >/dev/null || die "the guest did not become ready"
grep -q '^READY' "$work/con0.log" || die "the guest: $(grep IOERR "$work/con0.log")"
say "guest ready $(secs "$t_boot" "$(now)") s after start"
if [ "$RATE" != 0 ] && [ "$CHECK" != 0 ]; then
    $py "$lab" wait-console "$work/con0.log" '^PROG .* r=[1-9]' 180 >/dev/null ||
        die "the guest never started reading records back"
    say "the guest reads records back"
fi
sleep "$DWELL_S"
check_console 0 0

# ------------------------------------------------------------------ ping-pong
mig_log=$work/migrations.tsv
printf 'i\twall_s\ttotal_ms\tdowntime_ms\tram_transferred\tprog_after_s\tresult\tram_diff_pages\n' >"$mig_log"
cur=0 done_migrations=0
for i in $(seq "$N"); do
    [ -z "$fatal" ] || break
    [ "$STOP_ON_FAIL" != 1 ] || [ "$failures" = 0 ] || break
    kill -0 "${qemu_pid[cur]}" 2>/dev/null || { record "$cur" qemu_exit; break; }
    up0=$(last_field "$cur" up) id0=$(last_field "$cur" id)
    # Each QEMU is a fresh process: the source's max-bandwidth is its own default until set.
    if [ "$MAX_BW" != default ]; then
        qmp "$work/qmp$cur.sock" migrate-set-parameters "{\"max-bandwidth\": $MAX_BW}" >/dev/null
    fi
    sock=$work/mig$i.sock
    hold=(); [ "$RAM_CHECK" != 1 ] || hold=(-S)
    start_qemu "$i" "${hold[@]}" -incoming "unix:$sock" || { record "$i" qemu_exit; break; }
    for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
    [ -S "$sock" ] || die "QEMU $i does not listen on $sock"
    t0=$(now)
    if ! mig=$($py "$lab" migrate "$work/qmp$cur.sock" "unix:$sock" "$MIGRATE_LIMIT"); then
        say "migration $i failed: $mig"
        printf '%s\t\t\t\t\t\t%s\n' "$i" "failed: $mig" >>"$mig_log"
        record "$i" migrate_failed
        stop_qemu "$i"
        break
    fi
    # The destination runs (RAM_CHECK: is paused) once it has loaded the state (normally at once).
    dst_status=unknown
    for _ in $(seq 40); do
        dst_status=$(qmp "$work/qmp$i.sock" query-status 2>/dev/null | jget 'd["status"]' 2>/dev/null) || dst_status=unknown
        case $dst_status in running|paused) break ;; esac
        sleep 0.1
    done
    ram_pages=''
    if [ "$RAM_CHECK" = 1 ]; then
        mem_bytes=$(qmp "$work/qmp$i.sock" query-memory-size-summary | jget 'd["base-memory"]')
        for n in "$cur" "$i"; do
            qmp "$work/qmp$n.sock" pmemsave "{\"val\": 0, \"size\": $mem_bytes, \"filename\": \"$work/ram$n.bin\"}" >/dev/null
        done
        diff_out=$(ram_diff "$work/ram$cur.bin" "$work/ram$i.bin")
        ram_pages=${diff_out%% *}
        if [ "$ram_pages" != 0 ]; then
            {
                echo "=== at $i: $ram_pages guest RAM pages differ between QEMU $cur (source, paused after the migration) and QEMU $i (destination, not started yet); first pfns: ${diff_out#* }"
            } >>"$fail_log"
            if [ "$ram_kept" -lt 2 ]; then
                mv "$work/ram$cur.bin" "$work/ram-src.$i.bin"; mv "$work/ram$i.bin" "$work/ram-dst.$i.bin"
                ram_kept=$((ram_kept + 1))
            fi
        fi
        rm -f "$work/ram$cur.bin" "$work/ram$i.bin"
        qmp "$work/qmp$i.sock" cont >/dev/null
        dst_status="$dst_status, ram diff $ram_pages pages, then continued"
    fi
    t_run=$(now)
    stop_qemu "$cur"
    check_console "$cur" "$cur" # late lines on the old console: the guest ran there
    prev=$cur cur=$i
    done_migrations=$i
    prog=$(await_prog "$cur" "$up0" "$id0" "$PROG_WAIT")
    t_prog=$(now)
    extra=()
    if [ "$prog" != ok ]; then
        extra+=("$prog")
        # Where the guest is: its state, its registers (a loop? halted?), its last words.
        {
            echo "=== at $i: guest $prog (no advancing PROG line within $PROG_WAIT s); QEMU $i status $dst_status"
            qmp "$work/qmp$i.sock" human-monitor-command '{"command-line": "info registers"}' | jget 'd' 2>&1 | head -30 || true # diagnostics of a failure already counted
            echo "--- tail of con$i.log:"; tail -5 "$work/con$i.log" 2>/dev/null || true # diagnostics only
            echo "--- tail of con$prev.log:"; tail -5 "$work/con$prev.log" 2>/dev/null || true # diagnostics only
        } >>"$fail_log"
    fi
    kill -0 "${qemu_pid[cur]}" 2>/dev/null || extra+=(qemu_exit)
    [ -z "$ram_pages" ] || [ "$ram_pages" = 0 ] || extra+=(ram_mismatch)
    check_console "$cur" "$i" "${extra[@]}"
    result=ok; [ -z "${at_kinds[$i]:-}" ] || result=FAIL
    wall=$(echo "$mig" | jget 'round(d["wall_s"], 3)')
    total=$(echo "$mig" | jget 'd["total_ms"]') down=$(echo "$mig" | jget 'd["downtime_ms"]')
    ram=$(echo "$mig" | jget 'd["ram_transferred"]')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "$wall" "$total" "$down" "$ram" "$(secs "$t_run" "$t_prog")" "$result" "$ram_pages" >>"$mig_log"
    say "MIG $i: QEMU $prev -> $i total ${total} ms downtime ${down} ms ram $([ "$ram" = null ] && echo "?" || echo $((ram >> 20))) MiB; QEMU $i $dst_status $(secs "$t0" "$t_run") s after migrate; guest $prog; $(grep -a '^PROG' "$work/con$cur.log" | tail -1); $result"
    [ "$prog" = ok ] || break
    sleep "$DWELL_S"
done

# ------------------------------------------------------------------ the end: verify
final_kinds=()
last=''
if kill -0 "${qemu_pid[cur]}" 2>/dev/null; then
    check_console "$cur" "$cur"
    $py "$lab" send "$work/con$cur.sock" STOP
    if ! $py "$lab" wait-console "$work/con$cur.log" '^STOPPING|BUG: ' 30 >/dev/null; then
        final_kinds+=(console_dead)
    elif $py "$lab" wait-console "$work/con$cur.log" '^FINAL|BUG: ' 300 >/dev/null && grep -q '^FINAL' "$work/con$cur.log"; then
        last=$(sed -n 's/^FINAL last=\([0-9]*\).*/\1/p' "$work/con$cur.log")
        say "guest: $(grep -a '^STOPPING' "$work/con$cur.log") / $(grep -a '^VERIFY ALL' "$work/con$cur.log") / $(grep -a '^FINAL' "$work/con$cur.log")"
        grep -q '^VERIFY ALL OK' "$work/con$cur.log" || final_kinds+=(final_verify_fail)
    else
        final_kinds+=(no_final)
    fi
    # -no-shutdown: QEMU stays after the guest powers off.
    for _ in $(seq 100); do
        [ "$(qmp "$work/qmp$cur.sock" query-status 2>/dev/null | jget 'd["status"]' 2>/dev/null)" = shutdown ] && break
        sleep 0.1
    done
    stop_qemu "$cur"
else
    final_kinds+=(qemu_exit)
fi
host_verify=skipped
if [ -n "$last" ]; then
    host_verify=$($py "$lab" verify-image "$disk" "$SLOTS" "$last" "$pool") || final_kinds+=(host_verify_fail)
    say "$host_verify"
fi
# What the final pass printed (VERIFY FAIL of its own) goes with it.
scan "$cur" final
final_kinds+=("${scan_kinds[@]}")
[ ${#final_kinds[@]} -eq 0 ] || record final "${final_kinds[@]}"

# ------------------------------------------------------------------ summary
durations=$($py - "$mig_log" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
def col(k):
    return sorted(float(r[k]) for r in rows if len(r) > 5 and r[k] not in ("", "None", "null"))
out = []
for name, k in (("total_ms", 2), ("downtime_ms", 3), ("wall_s", 1)):
    v = col(k)
    if v:
        out.append("%s=%g/%g/%g" % (name, v[0], statistics.median(v), v[-1]))
print(" ".join(out) + " (min/median/max)" if out else "none")
PY
)
kinds_s=none
[ ${#kinds[@]} -eq 0 ] || kinds_s=$(IFS=,; echo "${kinds[*]}")
line="STRESS variant=$variant migrations=$done_migrations failures=$failures first_failure_at=$first_failure kinds=$kinds_s $durations"
if [ "$failures" != 0 ]; then
    echo "--- failure excerpts ($fail_log):"
    head -60 "$fail_log"
fi
echo "$line"
[ -z "${RESULT_FILE:-}" ] || echo "$line" >>"$RESULT_FILE"
[ "$keep" != 1 ] || echo "work dir: $work (consoles con*.log, QEMU logs qemu*.log, migrations.tsv, failures.txt)"
[ "$failures" = 0 ]
