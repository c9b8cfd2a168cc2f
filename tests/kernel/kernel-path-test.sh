#!/usr/bin/env bash
# In-guest proof of the LINEAR_OVER_NBD kernel path (issue 7): a Debian kernel under QEMU TCG
# runs the dmsetup / nbd-client / losetup plan that io.dlsm.blockd.dm.PlanMain renders from the
# real state machines, against blockd nodes running on this host.
#
#   tests/kernel/kernel-path-test.sh        (root; installs what it needs from Debian's archive)
#
# Host: node A (source) with volume v1 filled with random data; node B (destination) with a
# sink v1 in PROXY from A's migration export. Both listen on 127.0.0.1: QEMU's user networking
# maps 10.0.2.2 in the guest to the host's loopback. The guest also mounts B's data directory
# over 9p, so its loop device sits on the very file blockd's sink writes (the "local device").
# Sequence (guest | host):
#   setup: nbd0 -> B's export "v1", dm linear over nbd0; the device reads as the source | -
#   -                                                      | fence A, activate B (slow copier)
#   write W1 through the device (lands in B's sink)        | check A's file is untouched
#   -                                                      | copier unlimited, wait for COMMITTED
#   cut-over: loop0 on volumes/v1.img, suspend/load/resume, nbd0 disconnected; device content =
#   source + W1; write W2 (goes to the file through loop, not through nbd); teardown; setup
#   again and the crash clean-up leaves nothing.
#   Host: B's volume file = source + W1 + W2, A's file = source.
# Prints "1 passed, 0 failed" or exits non-zero.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/deps.sh
. "$root/scripts/deps.sh"

SIZE_MIB=${SIZE_MIB:-16}
TIMEOUT=${GUEST_TIMEOUT:-300}

ensure_build_deps
ensure_packages qemu-system-x86_64:qemu-system-x86 nbd-client:nbd-client dmsetup:dmsetup curl:curl

jar=$root/dlsm-blockd/target/dlsm-blockd.jar
if [ ! -f "$jar" ] || [ -n "$(find "$root/dlsm-blockd/src/main" -newer "$jar" -type f | head -1)" ]; then
    echo "kernel-path-test: building blockd"
    (cd "$root" && mvn -B -q -ntp -pl dlsm-blockd -DskipTests package)
fi

# The guest: Debian's kernel, busybox, nbd + dm-mod (+ loop, 9p, virtio-net) and the tools.
eval "$(GUEST_MODULES="virtio_pci virtio_net nbd dm-mod loop 9p 9pnet_virtio" \
        GUEST_BINARIES="dmsetup nbd-client" GUEST_INIT="$here/guest-init.sh" \
        "$root/tests/guest/build-guest.sh" --print-env)"

work=$(mktemp -d /tmp/dlsm-kernel.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
mkdir -p "$work/share"
share=$work/share

start_node() {
    local name=$1
    java -jar "$jar" --data-dir "$work/$name" --nbd-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 \
        >"$work/$name.out" 2>"$work/$name.log" &
    pids+=($!)
    for _ in $(seq 300); do
        grep -q '^READY' "$work/$name.out" 2>/dev/null && return 0
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "node $name did not start; its log:" >&2
    cat "$work/$name.log" >&2
    exit 1
}
field() { sed -n "s/.*$2=\([^ ]*\).*/\1/p" "$work/$1.out"; }
api() { curl -sS -f -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "$2"; }
jfield() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
md5() { md5sum "$1" | cut -d' ' -f1; }
fail() { echo "kernel-path-test: FAIL: $*" >&2; echo "0 passed, 1 failed"; exit 1; }
await_guest() { # FILE
    for _ in $(seq $((TIMEOUT * 4))); do
        [ -e "$share/$1" ] && return 0
        [ -e "$share/result" ] && fail "guest: $(cat "$share/result")"
        kill -0 "$qemu_pid" 2>/dev/null || fail "the guest stopped early (console: $work/console.log)"
        sleep 0.25
    done
    fail "timed out waiting for the guest ($1)"
}

start_node a
start_node b
A_API=http://$(field a api); A_NBD=$(field a nbd)
B_API=http://$(field b api); B_NBD=$(field b nbd)
size=$((SIZE_MIB << 20))

# Source content: random data with a hole, written to A's volume file before anyone connects.
api POST "$A_API/v1/volumes" "{\"name\":\"v1\",\"sizeBytes\":$size}" >/dev/null
head -c $((size / 2)) /dev/urandom >"$work/src-data"
cp --sparse=always /dev/null "$work/source.img"
truncate -s "$size" "$work/source.img"
dd if="$work/src-data" of="$work/source.img" bs=1M seek=$((SIZE_MIB / 4)) conv=notrunc status=none
dd if="$work/source.img" of="$work/a/volumes/v1.img" bs=1M conv=notrunc,sparse status=none
# Guest writes: W1 is partial (8 KiB inside a 64 KiB region the sink has not fetched yet), W2
# lands after the cut-over.
w1_off=$(((SIZE_MIB / 2) * 1048576 + 4096)); w1_len=8192
w2_off=$((1048576 + 65536)); w2_len=65536
head -c $w1_len /dev/urandom >"$share/w1.bin"
head -c $w2_len /dev/urandom >"$share/w2.bin"
cp "$work/source.img" "$work/expected1.img"
dd if="$share/w1.bin" of="$work/expected1.img" bs=4096 seek=$((w1_off / 4096)) conv=notrunc status=none
cp "$work/expected1.img" "$work/expected2.img"
dd if="$share/w2.bin" of="$work/expected2.img" bs=4096 seek=$((w2_off / 4096)) conv=notrunc status=none
cat >"$share/params.sh" <<P
SRC_MD5=$(md5 "$work/source.img")
EXPECTED1_MD5=$(md5 "$work/expected1.img")
W1_OFF=$w1_off; W1_LEN=$w1_len; W1_MD5=$(md5 "$share/w1.bin")
W2_OFF=$w2_off; W2_LEN=$w2_len; W2_MD5=$(md5 "$share/w2.bin")
P

mexp=$(api POST "$A_API/v1/volumes/v1/migration-export" | jfield migrationExport)
api POST "$B_API/v1/sinks" "{\"name\":\"v1\",\"source\":{\"host\":\"127.0.0.1\",\"port\":${A_NBD##*:},\"export\":\"$mexp\"},\"bandwidthBytesPerSecond\":131072}" >/dev/null

# The node-side plan, from the Java state machines: blockd's own export at 10.0.2.2, the
# volume's file as the guest sees it after the commit.
java -cp "$jar" io.dlsm.blockd.dm.PlanMain --mode linear_over_nbd --volume v1 --size-bytes "$size" \
    --nbd-device /dev/nbd0 --nbd-host 10.0.2.2 --nbd-port "${B_NBD##*:}" \
    --local /mnt/blockd/volumes/v1.img --loop-device /dev/loop0 >"$share/plan.sh" 2>"$work/plan.log" ||
    fail "PlanMain: $(cat "$work/plan.log")"
echo "kernel-path-test: plan"; sed 's/^/    /' "$share/plan.sh"

started=$(date +%s)
timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -m 512 -smp 1 -nographic -no-reboot \
    -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -append "console=ttyS0 panic=-1 quiet" \
    -netdev user,id=n0 -device virtio-net-pci,netdev=n0 \
    -virtfs local,path="$share",mount_tag=work,security_model=none,id=work \
    -virtfs local,path="$work/b",mount_tag=blockd,security_model=none,id=blockd \
    </dev/null >"$work/console.log" 2>&1 &
qemu_pid=$!
pids+=($qemu_pid)
tail -f "$work/console.log" --pid=$qemu_pid 2>/dev/null | grep --line-buffered -E '^(guest|GUEST|init):' &

await_guest proxy-ok
api POST "$A_API/v1/volumes/v1/fence" '{}' >/dev/null
state=$(api POST "$B_API/v1/sinks/v1/activate" '{}' | jfield state)
[ "$state" = ACTIVE ] || fail "sink did not activate: $state"
echo "host: A fenced, sink on B ACTIVE (copier at 128 KiB/s)"
touch "$share/activated"

await_guest written
[ "$(md5 "$work/a/volumes/v1.img")" = "$(md5 "$work/source.img")" ] ||
    fail "the guest's write reached the source"
echo "host: the source is unchanged: the guest's write stayed on B"
api PUT "$B_API/v1/sinks/v1/bandwidth" '{"bytesPerSecond":0}' >/dev/null
for _ in $(seq 600); do
    state=$(api GET "$B_API/v1/sinks/v1" | jfield state)
    [ "$state" = COMMITTED ] && break
    sleep 0.1
done
[ "$state" = COMMITTED ] || fail "sink did not commit: $state"
echo "host: sink COMMITTED: volumes/v1.img on B is the local copy"
touch "$share/committed"

wait "$qemu_pid" || true
elapsed=$(($(date +%s) - started))
[ "$(cat "$share/result" 2>/dev/null)" = PASS ] ||
    { tail -40 "$work/console.log" >&2; fail "guest result: $(cat "$share/result" 2>/dev/null || echo none)"; }
[ "$(md5 "$work/b/volumes/v1.img")" = "$(md5 "$work/expected2.img")" ] ||
    fail "B's volume file is not source + W1 + W2"
[ "$(md5 "$work/a/volumes/v1.img")" = "$(md5 "$work/source.img")" ] || fail "A's volume changed"
echo "host: B's volume file = source + both guest writes; A's = source (guest ran ${elapsed}s)"
echo "kernel-path-test: 1 passed, 0 failed"
