#!/usr/bin/env bash
# A full disk under blockd is a pause for the VM, not an I/O error. A real QEMU guest (TCG)
# runs with its disk on a blockd volume, `-drive ...,werror=enospc`; blockd's
# data directory is a small tmpfs this script mounts (and unmounts), nearly filled by a filler
# file. The guest writes its first lap of self-describing 1 MiB records (tests/vm/
# guest-workload.sh, prefilled=0) until the file system is full: blockd answers ENOSPC, QEMU
# pauses the VM (QMP status io-error, BLOCK_IO_ERROR with nospace). The script then deletes the
# filler and sends QMP `cont`; the guest finishes the lap, writes on, verifies every record
# (VERIFY ALL OK), and the host checks the volume byte for byte from the last record ID.
# No I/O error may appear on the console. Exits non-zero on any failure or after TIME_LIMIT
# seconds (default 1200: a guard against a hang, not a speed check; each step waits for a state).
#
# Environment: SLOTS (records, default 24), FREE_MIB (room left beside the filler, default 8),
# QEMU (as in vm-migration-lab.sh: auto, system, backports or a path), KEEP_WORK=1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
lab=$here/vmlab.py
SLOTS=${SLOTS:-24}
FREE_MIB=${FREE_MIB:-8}
limit=${TIME_LIMIT:-1200}
DISK_MIB=$((SLOTS * 2))
# Records, the filler and blockd's own small files: the filler leaves FREE_MIB MiB.
FS_MIB=$((SLOTS + 16))
deadline=$(( $(date +%s) + limit ))

say() { echo "[$(date +%T)] $*"; }
fail() {
    echo "vm-enospc: FAIL: $*" >&2
    if [ -n "${work:-}" ] && [ -d "$work" ]; then
        KEEP_WORK=1
        for f in "$work"/con.log "$work"/qemu.log "$work"/node.log; do
            [ -s "$f" ] || continue
            echo "---- last lines of $f" >&2
            tail -n 25 "$f" | cut -c1-300 >&2
        done
    fi
    exit 1
}
left() { echo $(( deadline - $(date +%s) )); }

# shellcheck source=scripts/deps.sh
. "$root/scripts/deps.sh"
ensure_packages nbdcopy:libnbd-bin curl:curl java:openjdk-17-jre-headless gcc:gcc
jar=$root/dlsm-blockd/target/dlsm-blockd.jar
[ -f "$jar" ] || (cd "$root" && mvn -B -q -pl dlsm-blockd -am package -DskipTests) >&2
cache=${GUEST_CACHE:-$root/build/guest}
mkdir -p "$cache"
QEMU_SYSTEM=$(GUEST_CACHE=$cache "$here/qemu-binary.sh" "${QEMU:-auto}") || fail "no QEMU (QEMU=${QEMU:-auto})"
pool=$cache/dlsm-pool
[ -s "$pool" ] || $py "$lab" pool "$pool"
writer=$cache/guest-writer
if [ ! -x "$writer" ] || [ "$here/guest-writer.c" -nt "$writer" ]; then
    gcc -O2 -Wall -Werror -o "$writer.tmp" "$here/guest-writer.c" && mv "$writer.tmp" "$writer"
fi
eval "$(GUEST_CACHE=$cache "$root/tests/guest/build-guest.sh" --init "$here/guest-workload.sh" \
        --files "$pool:/etc/dlsm-pool" --binaries "$writer" --print-env)"

work=$(mktemp -d "${TMPDIR:-/tmp}/dlsm-vm-enospc.XXXXXX")
small=$work/small
pids=()
mounted=''
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    [ -z "$mounted" ] || umount "$small" 2>/dev/null || umount -l "$small" 2>/dev/null || true
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$small"
mount -t tmpfs -o "size=${FS_MIB}m,mode=0700" dlsm-vm-enospc "$small"
mounted=1
java -jar "$jar" --data-dir "$small/node" --nbd-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 \
    >"$work/node.out" 2>"$work/node.log" &
pids+=("$!")
for _ in $(seq 1800); do grep -q '^READY' "$work/node.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^READY' "$work/node.out" || fail "blockd did not start"
api=$(sed -n 's/.*api=\([^ ]*\).*/\1/p' "$work/node.out")
nbd=$(sed -n 's/.*nbd=\([^ ]*\).*/\1/p' "$work/node.out")
auth=$(bearer_header_file "$small/node/api-token" "$work/node-auth.header")
curl -sS -f --max-time 60 -X POST -H @"$auth" -H 'Content-Type: application/json' \
    -d "{\"name\":\"vm\",\"sizeBytes\":$((DISK_MIB << 20))}" "http://$api/v1/volumes" >/dev/null
# The filler takes all but FREE_MIB MiB: the guest's lap of SLOTS MiB cannot fit.
avail_mib=$(( $(df --output=avail -k "$small" | tail -1) / 1024 ))
dd if=/dev/zero of="$small/filler" bs=1M count=$((avail_mib - FREE_MIB)) status=none
say "tmpfs of $FS_MIB MiB, $(( $(df --output=avail -k "$small" | tail -1) / 1024 )) MiB free; the guest writes $SLOTS MiB"

append="console=ttyS0 panic=-1 quiet loglevel=5 dlsm.slots=$SLOTS dlsm.rate=max dlsm.prefilled=0 dlsm.check=4"
"$QEMU_SYSTEM" -accel tcg -M pc -cpu qemu64 -m 256 -smp 1 -nodefaults -no-user-config -display none \
    -no-reboot -no-shutdown -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -append "$append" \
    -chardev "socket,id=con,path=$work/con.sock,server=on,wait=off,logfile=$work/con.log" -serial chardev:con \
    -qmp "unix:$work/qmp.sock,server=on,wait=off" -qmp "unix:$work/qmpev.sock,server=on,wait=off" \
    -drive "file=nbd://$nbd/vm,format=raw,if=virtio,cache=none,id=disk0,werror=enospc" \
    >"$work/qemu.out" 2>"$work/qemu.log" &
qemu=$!
pids+=("$qemu")
for _ in $(seq 300); do [ -S "$work/qmp.sock" ] && [ -S "$work/qmpev.sock" ] && break; sleep 0.1; done
[ -S "$work/qmpev.sock" ] || fail "QEMU did not start"
$py "$lab" events "$work/qmpev.sock" "$work/events.jsonl" &
pids+=("$!")
status() { $py "$lab" qmp "$work/qmp.sock" query-status | $py -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }

# The first lap fills the file system: QEMU must pause the VM, not report an error to it.
paused=''
while [ "$(left)" -gt 0 ]; do
    s=$(status) || s=''
    if [ "$s" = io-error ]; then paused=1; break; fi
    grep -q -E '^READY|IOERR|I/O error' "$work/con.log" 2>/dev/null && break
    kill -0 "$qemu" 2>/dev/null || fail "QEMU exited"
    sleep 0.2
done
[ -n "$paused" ] || fail "the VM did not pause on ENOSPC (status ${s:-?}): $(grep -m1 -E 'READY|IOERR|I/O error' "$work/con.log" || true)"
grep -q '"nospace": true' "$work/events.jsonl" || fail "no BLOCK_IO_ERROR with nospace in QMP events: $(grep BLOCK_IO_ERROR "$work/events.jsonl" | head -2)"
say "VM paused on ENOSPC: $(grep -m1 BLOCK_IO_ERROR "$work/events.jsonl" | cut -c1-200)"
grep -q 'no space left on its file system' "$work/node.log" || fail "blockd did not say the file system is full"
# Still paused a moment later: nothing resumes it but the operator.
sleep 2
[ "$(status)" = io-error ] || fail "the VM left the pause by itself"

rm -f "$small/filler"
$py "$lab" qmp "$work/qmp.sock" cont >/dev/null
say "filler deleted, VM resumed"
$py "$lab" wait-console "$work/con.log" '^READY|IOERR' "$(left)" >/dev/null || fail "the guest did not finish its first lap"
grep -q '^READY' "$work/con.log" || fail "guest: $(grep -m1 IOERR "$work/con.log")"
$py "$lab" wait-console "$work/con.log" '^PROG .* r=[1-9]' "$(left)" >/dev/null || fail "the guest never read a record back"
$py "$lab" send "$work/con.sock" STOP
$py "$lab" wait-console "$work/con.log" '^FINAL' "$(left)" >/dev/null || fail "the guest did not finish its verify pass"
last=$(sed -n 's/^FINAL last=\([0-9]*\).*/\1/p' "$work/con.log")
for _ in $(seq 300); do [ "$(status)" = shutdown ] && break; sleep 0.1; done
$py "$lab" qmp "$work/qmp.sock" quit >/dev/null || true
nbdcopy "nbd://$nbd/vm" "$work/got.img"
host_verify=$($py "$lab" verify-image "$work/got.img" "$SLOTS" "$last" "$pool") || true
say "guest: $(grep '^VERIFY ALL' "$work/con.log") / $(grep '^FINAL' "$work/con.log"); $host_verify"
problems=$(grep -E 'I/O error|IOERR|VERIFY FAIL|Buffer I/O|blk_update_request|Call Trace|Kernel panic|BUG: ' "$work/con.log" || true)
[ -z "$problems" ] || fail "the guest saw errors: $(echo "$problems" | head -5)"
grep -q '^VERIFY ALL OK' "$work/con.log" || fail "guest verify pass failed"
case $host_verify in *"host verify: OK"*) ;; *) fail "host verify failed" ;; esac
echo "vm-enospc: PASS"
