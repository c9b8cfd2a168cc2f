#!/usr/bin/env bash
# One live migration of a real VM (QEMU, unmodified) with its disk, DLSM or QEMU drive-mirror.
#
#   METHOD=dlsm|mirror-background|mirror-write-blocking|shared tests/vm/vm-migration-lab.sh
#
# The guest (tests/guest/build-guest.sh + tests/vm/guest-workload.sh, whose timed loop runs
# compiled from tests/vm/guest-writer.c) writes self-describing
# 1 MiB records to its raw disk with O_DIRECT at RATE MB/s, reads earlier ones back and checks
# them, and prints a progress line every second on its serial console.
#
# METHOD=dlsm: two blockd nodes A and B; the volume lives on A; guest 1 boots with
#   `-drive file=nbd://A/VOLUME`. Migration, driven like Nova would through the REST backend
#   (CONTROL=backend; both nodes register with it): `POST /v1/migrations {volume, targetNode,
#   switchMode: auto}` opens the migration export on A and a PROXY sink on B (nothing is
#   copied), guest 2 starts with the disk at nbd://B/VOLUME and `-incoming`, QMP `migrate` on
#   guest 1 until `completed`, guest 1 quits (its NBD connection closes, A fences itself), the
#   backend sees it and activates B's sink, which hydrates in the background until COMMITTED.
#   CONTROL=blockd does the same steps on the two blockd APIs directly. No QEMU block job.
# METHOD=mirror-*: what libvirt's --copy-storage-all does: guest 1 on a local raw file, the
#   destination disk is served by `nbdkit --filter=stats file` (which counts the bytes that
#   arrive), guest 2 starts `-incoming` on that export, QMP drive-mirror (sync full, mode
#   existing, copy-mode background|write-blocking) until ready (or MIRROR_LIMIT s: then the
#   migration is abandoned and reported as not converged), then migrate the way libvirt does:
#   capability pause-before-switchover; at "pre-switchover" (guest paused) block-job-cancel,
#   which completes the mirror's final sync, then migrate-continue. (Cancelling only after
#   "completed" crashes QEMU 7.2 when the mirror still has writes in flight: an assertion on
#   the inactivated target.)
# Then the guest verifies every record (VERIFY ALL OK), prints its last record ID and powers
# off; the host checks the destination disk byte for byte against the records, and greps the
# consoles for I/O errors. Exit status 0 only when everything holds.
#
# Environment:
#   METHOD         dlsm (default), mirror-background, mirror-write-blocking, shared (the
#                  baseline: both QEMUs on node A's export, memory-only migration, no
#                  storage moves; what a cluster with shared storage does)
#   DISK_MIB       disk size (default 128); SLOTS records of 1 MiB (default DISK_MIB / 2), the
#                  rest stays a hole; the disk starts with one full lap of records (host-made)
#   RATE           guest write rate in MB/s: 0 = idle, max = unthrottled (default 10)
#   CHECK          read back an earlier record every CHECK writes (default 4, 0 = never)
#   WORKLOAD       c (default): the workload's loop compiled from guest-writer.c (needs gcc);
#                  shell: the busybox loop of guest-workload.sh (a process per record: a TCG
#                  guest then writes ~11 MB/s at most on 2 cores)
#   LINK_MBIT      0 (default): everything on 127.0.0.1. N > 0: node A and node B are two network
#                  namespaces joined by a veth pair shaped to N Mbit/s each way (tbf); memory and
#                  storage traffic share it, as between two hosts
#   BASELINE_S     seconds of workload measured before the migration starts (default 5)
#   POST_S         seconds the guest keeps running on the destination at the end (default 3)
#   MIRROR_LIMIT   seconds the mirror may take to become ready (default 120)
#   MIGRATE_LIMIT  seconds QMP migrate may take before it is cancelled and reported as not
#                  converged (default 300)
#   COMMIT_LIMIT   seconds DLSM hydration may take (default 300)
#   CONTROL       METHOD=dlsm: backend (default: the REST backend orchestrates) or blockd (the
#                  lab calls both blockd APIs itself)
#   DLSM_BANDWIDTH the sink's background copy limit in bytes/s (default 0 = unlimited), what
#                  `dlsm migrate --bandwidth` sets: leaves the guest's on-demand fetches link room
#   ACCEL          auto (default: KVM if a guest really boots with it, else TCG), kvm, tcg
#   MEM_MIB        guest memory (default 256)
#   QEMU           the QEMU both nodes run: auto (default), system, backports or a binary's path
#                  (tests/vm/qemu-binary.sh: auto takes Debian's bookworm-backports build, 10.0,
#                  when the system's is older than 9.0, whose TCG loses guest RAM stores in
#                  live migration)
#   RESULT_FILE    also write the result JSON there
#   KEEP_WORK=1    keep the work directory (consoles, QEMU trace logs, blockd logs); a run
#                  that fails keeps it anyway
# Output: progress on stderr-like lines, then `RESULT {json}` and `vm-migration-lab: PASS|FAIL`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/deps.sh
. "$root/scripts/deps.sh"
py=/usr/bin/python3
lab=$here/vmlab.py

METHOD=${METHOD:-dlsm}
DISK_MIB=${DISK_MIB:-128}
SLOTS=${SLOTS:-$((DISK_MIB / 2))}
RATE=${RATE:-10}
CHECK=${CHECK:-4}
LINK_MBIT=${LINK_MBIT:-0}
BASELINE_S=${BASELINE_S:-5}
POST_S=${POST_S:-3}
MIRROR_LIMIT=${MIRROR_LIMIT:-120}
MIGRATE_LIMIT=${MIGRATE_LIMIT:-300}
COMMIT_LIMIT=${COMMIT_LIMIT:-300}
ACCEL=${ACCEL:-auto}
MEM_MIB=${MEM_MIB:-256}
CONTROL=${CONTROL:-backend}
case $CONTROL in backend|blockd) ;; *) echo "CONTROL must be backend or blockd" >&2; exit 2 ;; esac
case $METHOD in dlsm|mirror-background|mirror-write-blocking|shared) ;; *)
    echo "METHOD must be dlsm, mirror-background, mirror-write-blocking or shared" >&2; exit 2 ;; esac

say() { echo "[$(date +%T)] $*"; }
# A failure keeps the work directory and shows the ends of the consoles and daemon logs: in
# CI that output is all there is to go by.
fail() {
    echo "vm-migration-lab: FAIL: $*" >&2
    if [ -n "${work:-}" ] && [ -d "$work" ]; then
        KEEP_WORK=1
        local f
        for f in "$work"/con1.log "$work"/con2.log "$work"/qemu1.log "$work"/qemu2.log "$work"/a.log "$work"/b.log; do
            [ -s "$f" ] || continue
            echo "---- last lines of $f" >&2
            tail -n 25 "$f" | cut -c1-300 >&2
        done
    fi
    exit 1
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# ------------------------------------------------------------------ tools and the guest
missing=()
command -v nbdkit >/dev/null || missing+=(nbdkit)
command -v nbdcopy >/dev/null || missing+=(libnbd-bin)
command -v curl >/dev/null || missing+=(curl)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
if [ "$LINK_MBIT" != 0 ]; then command -v tc >/dev/null || missing+=(iproute2); fi
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
fi
jar=$root/dlsm-blockd/target/dlsm-blockd.jar
backend_jar=$root/dlsm-rest-backend/target/dlsm-rest-backend.jar
if [ "${METHOD#mirror-}" = "$METHOD" ] && [ ! -f "$jar" ]; then
    say "building blockd"
    (cd "$root" && mvn -B -q -pl dlsm-blockd -am package -DskipTests) >&2
fi
if [ "$METHOD" = dlsm ] && [ "$CONTROL" = backend ] && [ ! -f "$backend_jar" ]; then
    say "building the REST backend"
    # Only the jar the lab runs: mvn verify is what runs the backend's tests.
    (cd "$root" && mvn -B -q -pl dlsm-rest-backend -am package -DskipTests) >&2
fi

cache=${GUEST_CACHE:-$root/build/guest}
mkdir -p "$cache"
QEMU_SYSTEM=$(GUEST_CACHE=$cache "$here/qemu-binary.sh" "${QEMU:-auto}") || fail "no QEMU (QEMU=${QEMU:-auto})"
qemu_version=$("$QEMU_SYSTEM" --version | head -1)
pool=$cache/dlsm-pool
[ -s "$pool" ] || $py "$lab" pool "$pool"
# The workload's compiled loop (guest-writer.c); WORKLOAD=shell runs the busybox one instead.
guest_bins=''
if [ "${WORKLOAD:-c}" = c ]; then
    writer=$cache/guest-writer
    if [ ! -x "$writer" ] || [ "$here/guest-writer.c" -nt "$writer" ]; then
        command -v gcc >/dev/null || fail "gcc is needed to build the guest's workload (or WORKLOAD=shell)"
        gcc -O2 -Wall -Werror -o "$writer.tmp" "$here/guest-writer.c" && mv "$writer.tmp" "$writer"
    fi
    guest_bins=$writer
fi
eval "$(GUEST_CACHE=$cache "$root/tests/guest/build-guest.sh" --init "$here/guest-workload.sh" \
        --files "$pool:/etc/dlsm-pool" --binaries "$guest_bins" --print-env)"
kernel=$GUEST_KERNEL initrd=$GUEST_INITRD

work=$(mktemp -d "${TMPDIR:-/tmp}/dlsm-vmlab.XXXXXX")
pids=()
nsA='' nsB=''
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    [ -z "$nsA" ] || ip netns del "$nsA" 2>/dev/null || true
    [ -z "$nsB" ] || ip netns del "$nsB" 2>/dev/null || true
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command in node A's / node B's network namespace (or right here on loopback).
inA() { if [ -n "$nsA" ]; then ip netns exec "$nsA" "$@"; else "$@"; fi; }
inB() { if [ -n "$nsB" ]; then ip netns exec "$nsB" "$@"; else "$@"; fi; }
# Starts a command in the background in a namespace; its PID (the command's own: `ip netns
# exec` execs it) goes to $pids and $last_pid.
start_in() { # NS-VAR-NAME OUT ERR COMMAND...
    local ns=${!1} out=$2 err=$3; shift 3
    if [ -n "$ns" ]; then ip netns exec "$ns" "$@" >"$out" 2>"$err" &
    else "$@" >"$out" 2>"$err" & fi
    last_pid=$!
    pids+=("$last_pid")
}
free_port() { # NS-FUNCTION HOST
    "$1" "$py" -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$2"
}

results=$work/results.txt
: >"$results"
res() { echo "$1 $2" >>"$results"; }
emit_result() { # prints RESULT {json} of everything res recorded (and writes RESULT_FILE)
    local result
    result=$($py - "$results" <<'PY'
import json, sys
out = {}
for line in open(sys.argv[1]):
    k, _, v = line.rstrip("\n").partition(" ")
    try:
        out[k] = json.loads(v)
    except ValueError:
        out[k] = v
print(json.dumps(out))
PY
)
    echo "RESULT $result"
    [ -z "${RESULT_FILE:-}" ] || echo "$result" >"$RESULT_FILE"
}

# ------------------------------------------------------------------ accelerator
if [ "$ACCEL" = auto ]; then
    ACCEL=tcg
    kvm_cache=$cache/kvm-usable.$(echo "$qemu_version" | tr -dc '0-9.').$GUEST_KVER
    if [ -w /dev/kvm ]; then
        if [ ! -f "$kvm_cache" ]; then
            # A guest must reach user space under KVM; here a nested hypervisor can expose
            # /dev/kvm and still fail ordinary kernels.
            probe_init=$work/probe-init.sh
            echo 'echo KVM-PROBE-OK' >"$probe_init"
            eval "$(GUEST_CACHE=$cache "$root/tests/guest/build-guest.sh" --init "$probe_init" --name kvm-probe --print-env)"
            if timeout 30 "$QEMU_SYSTEM" -accel kvm -M pc -m 128 -nodefaults -no-user-config \
                   -display none -no-reboot -no-shutdown -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" \
                   -append "console=ttyS0 panic=-1 quiet" -serial stdio 2>&1 | grep -q KVM-PROBE-OK; then
                echo kvm >"$kvm_cache"
            else
                echo tcg >"$kvm_cache"
            fi
        fi
        ACCEL=$(cat "$kvm_cache")
    fi
fi
say "$qemu_version; accelerator: $ACCEL; method $METHOD; disk $DISK_MIB MiB, $SLOTS MiB of records; rate $RATE MB/s; link ${LINK_MBIT:-0} Mbit/s (0 = loopback)"
res qemu "${qemu_version#QEMU emulator version }"
res method "$METHOD"; res control "$([ "$METHOD" = dlsm ] && echo "$CONTROL" || echo none)"; res accel "$ACCEL"; res rate_target "$RATE"; res disk_mib "$DISK_MIB"
res data_mib "$SLOTS"; res link_mbit "$LINK_MBIT"

# ------------------------------------------------------------------ network
if [ "$LINK_MBIT" != 0 ]; then
    nsA=dlsmvm-a-$$ nsB=dlsmvm-b-$$
    ip netns add "$nsA"; ip netns add "$nsB"
    ip link add va netns "$nsA" type veth peer name vb netns "$nsB"
    HA=198.18.0.1 HB=198.18.0.2
    inA ip addr add $HA/30 dev va; inB ip addr add $HB/30 dev vb
    for f in inA inB; do "$f" ip link set lo up; done
    inA ip link set va up; inB ip link set vb up
    inA tc qdisc replace dev va root tbf rate "${LINK_MBIT}mbit" burst 256kb latency 50ms
    inB tc qdisc replace dev vb root tbf rate "${LINK_MBIT}mbit" burst 256kb latency 50ms
else
    HA=127.0.0.1 HB=127.0.0.1
fi

# ------------------------------------------------------------------ disks
$py "$lab" image "$work/base.img" "$DISK_MIB" "$SLOTS" "$pool"
vol=vmdisk
# The bearer-token header file of each API address (blockd and the backend made the tokens).
declare -A auth_of
api() { # inA|inB API METHOD PATH [JSON]
    "$1" curl -sS -f --max-time 30 -X "$3" -H @"${auth_of[$2]}" -H 'Content-Type: application/json' \
        ${5:+-d "$5"} "http://$2$4"
}
jget() { # EXPR over the JSON on stdin as d; strings print raw, the rest as JSON (null...)
    $py -c 'import json,sys; d=json.load(sys.stdin); v=eval(sys.argv[1], {}, {"d": d}); print(v if isinstance(v, str) else json.dumps(v))' "$1"
}
start_node() { # NAME inA|inB HOST [BLOCKD-ARGS...]
    local name=$1 host=$3 i
    shift 3
    mkdir -p "$work/$name"
    # shellcheck disable=SC2086 # JAVA_OPTS holds several options
    start_in "ns${name^}" "$work/$name.out" "$work/$name.log" \
        java ${JAVA_OPTS:-} -jar "$jar" --data-dir "$work/$name" --nbd-listen "$host:0" --api-listen "$host:0" "$@"
    for i in $(seq 300); do
        if grep -q '^READY' "$work/$name.out" 2>/dev/null; then
            auth_of[$(field "$name" api)]=$(bearer_header_file "$work/$name/api-token" "$work/$name.auth")
            return 0
        fi
        kill -0 "$last_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$work/$name.log" >&2
    fail "blockd $name did not start (i=$i)"
}
field() { sed -n "s/.*$2=\([^ ]*\).*/\1/p" "$work/$1.out"; }
# Runs COMMAND... up to TRIES times, PAUSE s apart, until its output matches the regex WANT;
# the last output is left in $polled.
poll() { # TRIES PAUSE WANT COMMAND...
    local tries=$1 pause=$2 want=$3 _
    shift 3
    for _ in $(seq "$tries"); do
        polled=$("$@") || polled=''
        [[ $polled =~ $want ]] && return 0
        sleep "$pause"
    done
    return 1
}
# shellcheck disable=SC2317 # called through poll
backend_get() { api inA "$BACKEND" GET "$1" | jget "$2"; } # PATH EXPR

# Creates the volume on node A (through CREATE-API, the backend's or A's) and writes the
# guest's initial records into it; the source QEMU's disk is A's export of it.
create_volume() { # API JSON-NODE-FIELD
    api inA "$1" POST /v1/volumes "{\"name\":\"$vol\",\"sizeBytes\":$((DISK_MIB << 20))$2}" >/dev/null
    inA nbdcopy "$work/base.img" "nbd://$A_NBD/$vol"
    src_disk=nbd://$A_NBD/$vol
}
if [ "$METHOD" = dlsm ] && [ "$CONTROL" = backend ]; then
    # The control plane runs on node A's side; node B reaches it over the link.
    start_in nsA "$work/backend.out" "$work/backend.log" \
        java -jar "$backend_jar" --listen "$HA:0" --state-dir "$work/backend"
    for _ in $(seq 300); do
        grep -q '^READY' "$work/backend.out" 2>/dev/null && break
        kill -0 "$last_pid" 2>/dev/null || { cat "$work/backend.log" >&2; fail "the REST backend did not start"; }
        sleep 0.1
    done
    BACKEND=$(field backend api)
    auth_of[$BACKEND]=$(bearer_header_file "$work/backend/api-token" "$work/backend.auth")
    start_node a inA "$HA" --backend-url "http://$BACKEND" --node-name node-a \
        --registration-token-file "$work/backend/registration-token"
    start_node b inB "$HB" --backend-url "http://$BACKEND" --node-name node-b \
        --registration-token-file "$work/backend/registration-token"
elif [ "${METHOD#mirror-}" = "$METHOD" ]; then
    # With shared storage node B runs its blockd too, idle: every compute node of a cloud
    # does, and the baseline must not differ from DLSM's runs by a JVM's share of the cores.
    start_node a inA "$HA"; start_node b inB "$HB"
fi
if [ "${METHOD#mirror-}" = "$METHOD" ]; then
    A_API=$(field a api) A_NBD=$(field a nbd) B_API=$(field b api) B_NBD=$(field b nbd)
fi
if [ "$METHOD" = dlsm ] && [ "$CONTROL" = backend ]; then
    poll 100 0.2 '^2$' backend_get /v1/nodes 'sum(n["state"] == "UP" for n in d)' ||
        fail "the nodes did not register with the REST backend at $BACKEND"
    say "REST backend $BACKEND; node A: nbd $A_NBD; node B: nbd $B_NBD (both registered)"
    create_volume "$BACKEND" ',"node":"node-a"'
    dst_disk=nbd://$B_NBD/$vol
elif [ "$METHOD" = dlsm ]; then
    say "node A: nbd $A_NBD api $A_API; node B: nbd $B_NBD api $B_API"
    create_volume "$A_API" ''
    dst_disk=nbd://$B_NBD/$vol
elif [ "$METHOD" = shared ]; then
    say "node A: nbd $A_NBD api $A_API (shared by both QEMUs); node B's blockd idle"
    create_volume "$A_API" ''
    dst_disk=$src_disk
else
    cp --sparse=always "$work/base.img" "$work/src.img"
    truncate -s "${DISK_MIB}M" "$work/dst.img"
    nbd_port=$(free_port inB "$HB")
    start_in nsB "$work/nbdkit.out" "$work/nbdkit.log" nbdkit -f --filter=stats file "$work/dst.img" \
        statsfile="$work/nbdkit-stats.txt" -i "$HB" -p "$nbd_port"
    nbdkit_pid=$last_pid
    for _ in $(seq 100); do inB nbdinfo --can connect "nbd://$HB:$nbd_port" 2>/dev/null && break; sleep 0.1; done
    src_disk=$work/src.img
    dst_disk=nbd://$HB:$nbd_port
fi
rm -f "$work/base.img"

# ------------------------------------------------------------------ guests
append="console=ttyS0 panic=-1 quiet loglevel=5 dlsm.slots=$SLOTS dlsm.rate=$RATE dlsm.prefilled=1 dlsm.check=$CHECK"
qemu_common=(-accel "$ACCEL" -M pc -cpu qemu64 -m "$MEM_MIB" -smp 1 -nodefaults -no-user-config
             -display none -no-reboot -no-shutdown -kernel "$kernel" -initrd "$initrd" -append "$append")
# What storage does while the guest is paused is read from QEMU itself: its NBD client's
# requests and replies and the end of its stop-time drain and flush, from its trace log
# (wall-clock stamps), against the STOP/RESUME events of a second QMP monitor.
# Only events of QEMU's main loop: tracing in the vCPU thread (virtio-blk's) writes the log
# from it, once per request.
# QEMU 8.2 renamed the structured reply's event (extended headers): take the names this one has.
"$QEMU_SYSTEM" -trace help | grep -x -E 'nbd_send_request|nbd_receive_simple_reply|nbd_receive_structured_reply_chunk|nbd_receive_reply_chunk_header|nbd_co_request_fail|migration_completion_vm_stop' \
    >"$work/trace-events"
start_guest() { # N NS-VAR DISK [EXTRA...]
    local n=$1 ns=$2 disk=$3; shift 3
    start_in "$ns" "$work/qemu$n.out" "$work/qemu$n.log" "$QEMU_SYSTEM" "${qemu_common[@]}" \
        -chardev "socket,id=con,path=$work/con$n.sock,server=on,wait=off,logfile=$work/con$n.log" \
        -serial chardev:con -qmp "unix:$work/qmp$n.sock,server=on,wait=off" \
        -qmp "unix:$work/qmpev$n.sock,server=on,wait=off" \
        -msg timestamp=on -trace "events=$work/trace-events" -D "$work/trace$n.log" \
        -drive "file=$disk,format=raw,if=virtio,cache=none,id=disk0" "$@"
    local qemu_pid=$last_pid
    for _ in $(seq 100); do
        if [ -S "$work/qmp$n.sock" ] && [ -S "$work/qmpev$n.sock" ]; then
            $py "$lab" events "$work/qmpev$n.sock" "$work/events$n.jsonl" &
            pids+=("$!")
            last_pid=$qemu_pid
            return 0
        fi
        sleep 0.1
    done
    cat "$work/qemu$n.log" >&2
    fail "QEMU $n did not start"
}
qmp() { $py "$lab" qmp "$@"; }
wait_pid() { # PID TIMEOUT
    local i
    for i in $(seq $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}

# Nothing dirty in the host's page cache when the guest starts: the disk image just written,
# and whatever an earlier run left, would otherwise be written back during this run and sit
# in front of its flushes on the host's disk (a FLUSH in the pause then measures that).
sync
t_boot=$(now)
start_guest 1 nsA "$src_disk"
qemu1=$last_pid
$py "$lab" wait-console "$work/con1.log" '^READY|IOERR' 180 >/dev/null || fail "guest 1 did not become ready"
grep -q '^READY' "$work/con1.log" || fail "guest 1: $(grep IOERR "$work/con1.log")"
say "guest 1 runs the workload ($(secs "$t_boot" "$(now)") s after start)"
if [ "$RATE" != 0 ]; then
    # The workload starts reading records back only after half a lap of writes, and a guest
    # short of CPU writes faster before (the busybox loop about twice as fast). The baseline
    # must be the workload the migration will see, so it starts once read-backs run.
    $py "$lab" wait-console "$work/con1.log" '^PROG .* r=[1-9]' 120 >/dev/null ||
        fail "guest 1 never started reading records back"
    say "guest 1 reads records back: baseline of $BASELINE_S s starts"
fi
sleep "$BASELINE_S"

# ------------------------------------------------------------------ the migration
mig_port=$(free_port inB "$HB")
u0=$($py "$lab" last-prog "$work/con1.log" | jget 'd.get("up", 0)')
t_start=$(now)
if [ "$METHOD" = dlsm ] && [ "$CONTROL" = backend ]; then
    mig_id=$(api inA "$BACKEND" POST /v1/migrations "{\"volume\":\"$vol\",\"targetNode\":\"node-b\",\"bandwidthBytesPerSecond\":${DLSM_BANDWIDTH:-0},\"switchMode\":\"auto\"}" | jget 'd["id"]')
    # Nova starts the destination QEMU once the backend says the target serves the volume.
    poll 300 0.05 '^True$' backend_get "/v1/migrations/$mig_id" \
            'str(d["phase"] == "PREPARED" and (d["progress"] or {}).get("t0") is not None)' ||
        fail "migration $mig_id: no PROXY sink on B after 15 s: $(api inA "$BACKEND" GET "/v1/migrations/$mig_id")"
    # PREPARED means B answered PROXY to the backend; asking B again here would add a
    # process start to the time the VM waits for its destination.
    say "prepared by the backend: migration $mig_id, sink on B in PROXY"
elif [ "$METHOD" = dlsm ]; then
    mexp=$(api inA "$A_API" POST "/v1/volumes/$vol/migration-export" | jget 'd["migrationExport"]')
    api inB "$B_API" POST /v1/sinks "{\"name\":\"$vol\",\"source\":{\"host\":\"$HA\",\"port\":${A_NBD##*:},\"export\":\"$mexp\"},\"bandwidthBytesPerSecond\":${DLSM_BANDWIDTH:-0}}" >/dev/null
    say "prepared: migration export $mexp on A, sink on B is $(api inB "$B_API" GET "/v1/sinks/$vol" | jget 'd["state"]')"
fi
start_guest 2 nsB "$dst_disk" -incoming "tcp:$HB:$mig_port"
qemu2=$last_pid
# QMP answers before the incoming port listens; connecting to it would start a migration.
for _ in $(seq 300); do
    inB ss -Hltn "sport = :$mig_port" | grep -q . && break
    kill -0 "$qemu2" 2>/dev/null || { cat "$work/qemu2.log" >&2; fail "QEMU 2 exited"; }
    sleep 0.1
done
converged=true
if [ "${METHOD#mirror-}" != "$METHOD" ]; then
    mode=${METHOD#mirror-}
    say "drive-mirror ($mode) to $dst_disk"
    if mirror=$($py "$lab" mirror "$work/qmp1.sock" disk0 "$dst_disk" "$mode" "$MIRROR_LIMIT"); then
        res mirror_ready_s "$(echo "$mirror" | jget 'd["ready_s"]')"
    else
        converged=false
        say "mirror not ready within $MIRROR_LIMIT s: $mirror"
    fi
fi
if [ "$converged" = true ]; then
    job=''; [ "${METHOD#mirror-}" = "$METHOD" ] || job=mirror0
    # The source QEMU ends once the destination runs, as libvirt ends it.
    if ! mig=$($py "$lab" migrate "$work/qmp1.sock" "tcp:$HB:$mig_port" "$MIGRATE_LIMIT" "$job" "$work/qmp2.sock"); then
        case $mig in *'"timeout"'*) ;; *) fail "migration: $mig" ;; esac
        # Never completed (the guest dirties memory and disk faster than the link drains):
        # migrate_cancel was sent, the guest stays on the source.
        converged=false
        say "migration did not complete within $MIGRATE_LIMIT s"
    fi
fi
if [ "$converged" = true ]; then
    t_running=$(now)
    say "memory migration: $mig"
    for k in total_ms downtime_ms ram_transferred mirror_cancel_s; do res "$k" "$(echo "$mig" | jget "d['$k']")"; done
    res vm_on_destination_s "$(secs "$t_start" "$t_running")"
    if [ "$METHOD" = dlsm ]; then
        wait_pid "$qemu1" 30 || fail "QEMU 1 did not quit"
        t_quit=$(now)
        if [ "$CONTROL" = backend ]; then
            # A fences itself when its last writer leaves; the backend sees it and switches.
            poll 600 0.02 '^(ACTIVE|DEGRADED|HYDRATED|COMMITTED|ABORTED|FAILED)$' \
                backend_get "/v1/migrations/$mig_id" 'd["phase"]' || true # judged just below
            phase=$polled
            case $phase in ACTIVE|DEGRADED|HYDRATED|COMMITTED) ;; *)
                fail "migration $mig_id is $phase after guest 1 quit: $(api inA "$BACKEND" GET "/v1/migrations/$mig_id")" ;; esac
            t_active=$(now)
            say "QEMU 1 gone $(secs "$t_running" "$t_quit") s after the VM resumed on B; A fenced itself, the backend switched B to $phase $(secs "$t_quit" "$t_active") s later"
        else
            # shellcheck disable=SC2317 # called through poll
            a_fenced() { api inA "$A_API" GET "/v1/volumes/$vol" | jget 'd["fenced"]'; }
            poll 300 0.02 '^true$' a_fenced || fail "node A did not fence itself after guest 1 quit"
            api inB "$B_API" POST "/v1/sinks/$vol/activate" '{}' >/dev/null
            t_active=$(now)
            say "QEMU 1 gone $(secs "$t_running" "$t_quit") s after the VM resumed on B; A fenced itself, sink on B active $(secs "$t_quit" "$t_active") s later"
        fi
        state=''
        for _ in $(seq $((COMMIT_LIMIT * 5))); do
            state=$(api inB "$B_API" GET "/v1/sinks/$vol" | jget 'd["state"]')
            case $state in COMMITTED|ABORTED|DEGRADED|FAILED) break ;; esac
            sleep 0.2
        done
        [ "$state" = COMMITTED ] || fail "sink ended $state (limit $COMMIT_LIMIT s)"
        t_end=$(now)
        if [ "$CONTROL" = backend ]; then
            poll 150 0.2 '^COMMITTED$' backend_get "/v1/migrations/$mig_id" 'd["phase"]' ||
                fail "B committed but the backend says migration $mig_id is $polled"
            res backend_migration_phase "$polled"
        fi
        sink=$(api inB "$B_API" GET "/v1/sinks/$vol")
        echo "$sink" >"$work/sink.json"
        if switch=$($py "$lab" switch-timing "$work/sink.json" "$work/events1.jsonl" "$work/events2.jsonl"); then
            say "the VM's I/O on B was proxied to A for: $switch"
            for k in proxied_after_resume_ms source_gone_after_resume_ms switch_after_source_gone_ms; do
                res "$k" "$(echo "$switch" | jget "d['$k']")"
            done
        else
            say "switch timing not measured: $switch"
        fi
        say "COMMITTED $(secs "$t_start" "$t_end") s after the start"
        res storage_wire_bytes "$(echo "$sink" | jget 'd["wireBytesReceived"] + d["bytesProxiedRead"] + d["bytesProxiedWritten"]')"
        for k in wireBytesReceived bytesProxiedRead bytesProxiedWritten bytesFetchedOnDemand \
                 bytesCopiedInBackground bytesOverwrittenNeverFetched bytesSkippedAsHoles; do
            res "dlsm_$k" "$(echo "$sink" | jget "d['$k']")"
        done
        res hydration_s "$(secs "$t_active" "$t_end")"
    else
        # Mirror: cancelled (after its final sync) while the guest was paused. Shared: the
        # disk never moved. Either way the migration ends when the VM runs on B.
        t_end=$t_running
        wait_pid "$qemu1" 30 || fail "QEMU 1 did not quit"
    fi
    res total_s "$(secs "$t_start" "$t_end")"
    run_con=$work/con2.log run_qmp=$work/qmp2.sock run_con_sock=$work/con2.sock run_pid=$qemu2
else
    # Not converged: give up the migration like an operator would; the VM stays on the source.
    if [ "$METHOD" = dlsm ]; then
        api inB "$B_API" POST "/v1/sinks/$vol/abort" '{}' >/dev/null || true
    elif [ "$METHOD" != shared ]; then
        # force: abandon the copy at once (the source stays authoritative)
        $py "$lab" cancel "$work/qmp1.sock" mirror0 60 force >/dev/null || fail "block-job-cancel did not finish"
    fi
    t_end=$(now)
    res total_s "null"
    res vm_on_destination_s "null"
    kill "$qemu2" 2>/dev/null || true
    res mirror_cancel_s null
    run_con=$work/con1.log run_qmp=$work/qmp1.sock run_con_sock=$work/con1.sock run_pid=$qemu1
fi
u1=$($py "$lab" last-prog "$run_con" | jget 'd.get("up", 0)')
res converged "$converged"
res migration_window_s "$(secs "$t_start" "$t_end")"
# No progress line on the destination yet when the migration ended: the window ends with
# the first line the guest printed there.
[ "$u1" != 0 ] || u1=$($py "$lab" last-prog "$work/con1.log" | jget 'd.get("up", 0)')

# ------------------------------------------------------------------ the end: verify
sleep "$POST_S"
res guest_mbps_before "$($py "$lab" prog-rate $((u0 - BASELINE_S * 100)) $((u0 - 1)) "$work/con1.log")"
res guest_mbps_during "$($py "$lab" prog-rate "$u0" "$u1" "$work/con1.log" "$run_con")"
if [ "$run_con" = "$work/con2.log" ] && u_move=$(grep -m1 '^PROG' "$work/con2.log" | sed 's/^PROG up=\([0-9]*\).*/\1/') &&
        [ -n "$u_move" ] && [ "$u_move" -lt "$u1" ]; then
    # The two phases apart: while memory moves (both QEMUs busy) and after the move (DLSM:
    # while the blocks follow, until COMMITTED).
    res guest_mbps_until_move "$($py "$lab" prog-rate "$u0" $((u_move - 1)) "$work/con1.log" "$run_con")"
    res guest_mbps_after_move "$($py "$lab" prog-rate "$u_move" "$u1" "$work/con1.log" "$run_con")"
fi
grep -q '^PROG' "$run_con" || fail "no progress on the running guest's console"
say "guest runs: $(grep '^PROG' "$run_con" | tail -1)"
$py "$lab" send "$run_con_sock" STOP
if ! $py "$lab" wait-console "$run_con" '^STOPPING|BUG: ' 30 >/dev/null; then
    # Seen twice on 2026-12-02, only after a migration: the guest runs on but its console
    # input is dead (resending does not help). Its final verify cannot be asked for.
    KEEP_WORK=1
    fail "the guest on $( [ "$run_con" = "$work/con2.log" ] && echo B || echo A) ignores console input: no STOPPING 30 s after STOP (work dir kept)"
fi
$py "$lab" wait-console "$run_con" '^FINAL|BUG: ' 600 >/dev/null || fail "guest did not finish its verify pass"
# A guest kernel BUG (seen: "Bad page state" on the destination, seconds after the move, with
# shared storage too) means its memory is corrupt; what the workload says after it is void.
kernel_bug=$(cat "$work"/con*.log | grep -m1 'BUG: ' || true) # none: the normal case
[ -z "$kernel_bug" ] || res guest_kernel_bug "$kernel_bug"
if ! grep -q '^FINAL' "$run_con"; then
    res ok false
    emit_result
    KEEP_WORK=1
    fail "the guest's kernel reports corrupt memory, it stopped its workload: $kernel_bug"
fi
# -no-shutdown: QEMU stays after the guest powers off, so its block statistics can be read.
for _ in $(seq 300); do
    [ "$(qmp "$run_qmp" query-status | jget 'd["status"]')" = shutdown ] && break
    sleep 0.1
done
guest_wr_dst=$(qmp "$run_qmp" query-blockstats | jget '[b["stats"]["wr_bytes"] for b in d if b.get("qdev", "").find("virtio") >= 0 or b.get("device") == "disk0"][0]')
qmp "$run_qmp" quit >/dev/null || true
wait_pid "$run_pid" 60 || fail "QEMU did not quit"
final=$(grep '^FINAL' "$run_con")
last=$(echo "$final" | sed -n 's/.*last=\([0-9]*\).*/\1/p')
say "guest: $(grep '^VERIFY ALL' "$run_con") / $final"
if [ "$METHOD" = dlsm ]; then
    inB nbdcopy "nbd://$B_NBD/$vol" "$work/got.img"
    check_img=$work/got.img
elif [ "$METHOD" = shared ]; then
    inA nbdcopy "nbd://$A_NBD/$vol" "$work/got.img"
    check_img=$work/got.img
    res storage_wire_bytes 0
else
    kill "$nbdkit_pid"; wait_pid "$nbdkit_pid" 30 || true
    stats=$($py "$lab" nbdkit-stats "$work/nbdkit-stats.txt")
    say "nbdkit on the destination saw: $stats"
    # The guest's own writes after it moved also reach nbdkit: they are not migration traffic.
    if [ "$converged" = true ]; then dst_guest=$guest_wr_dst; else dst_guest=0; fi
    res storage_wire_bytes "$(echo "$stats" | jget "d.get('write_bytes', 0) - $dst_guest")"
    res guest_written_on_destination "$dst_guest"
    res mirror_zero_bytes "$(echo "$stats" | jget 'd.get("zero_bytes", 0)')"
    if [ "$converged" = true ]; then check_img=$work/dst.img; else check_img=$work/src.img; fi
fi
if [ "$converged" = true ]; then
    # Both QEMUs have quit: their trace logs are complete.
    if pause=$($py "$lab" pause-storage "$work/trace1.log" "$work/events1.jsonl" \
            "$work/trace2.log" "$work/events2.jsonl"); then
        say "while the guest was paused: $pause"
        keys=(guest_paused_ms src_drain_flush_ms)
        # The mirror's source disk is a local file, outside QEMU's NBD trace: its final sync
        # in the pause is mirror_cancel_s.
        [ "${METHOD#mirror-}" != "$METHOD" ] ||
            keys+=(storage_busy_in_pause_ms src_flush_ms src_nbd_requests_in_pause dst_nbd_requests_in_pause)
        for k in "${keys[@]}"; do
            res "$k" "$(echo "$pause" | jget "d['$k']")"
        done
    else
        say "storage during the pause not measured: $pause"
    fi
fi
host_verify=$($py "$lab" verify-image "$check_img" "$SLOTS" "$last" "$pool") || true
say "$host_verify"
res records_last "$last"

status=0
# grep finds nothing in a good run: its status 1 is the normal case, $problems is what counts.
problems=$(cat "$work"/con*.log | grep -E 'I/O error|IOERR|VERIFY FAIL|Buffer I/O|blk_update_request|Call Trace|Kernel panic|BUG: ' || true)
[ -z "$problems" ] || { echo "$problems" | head -20 >&2; status=1; }
grep -q '^VERIFY ALL OK' "$run_con" || { echo "guest verify pass failed" >&2; status=1; }
case $host_verify in *"host verify: OK"*) ;; *) echo "host verify failed" >&2; status=1 ;; esac
res ok "$([ $status = 0 ] && echo true || echo false)"

emit_result
if [ $status = 0 ]; then
    echo "vm-migration-lab: PASS"
else
    # Consoles, QEMU traces and blockd logs are what tells a wrong read-back apart.
    KEEP_WORK=1
    echo "vm-migration-lab: FAIL"
fi
exit $status
