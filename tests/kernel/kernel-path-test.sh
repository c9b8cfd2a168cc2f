#!/usr/bin/env bash
# In-guest proof of the kernel path (issue 7): a Debian kernel under QEMU TCG runs the
# dmsetup / nbd-client / losetup plan that io.dlsm.blockd.dm.PlanMain renders from the real
# state machines, against blockd nodes running on this host. One guest boot per mode.
#
#   tests/kernel/kernel-path-test.sh        (root; installs what it needs from Debian's archive)
#   MODES="linear_over_nbd" tests/kernel/kernel-path-test.sh      only one mode
#
# Host: node A (source) with a volume filled with random data and a hole. Both nodes listen on
# 127.0.0.1: QEMU's user networking maps 10.0.2.2 in the guest to the host's loopback. The
# guest mounts a per-run share (plan, parameters, handshake files) and node B's data directory
# over 9p, so its loop devices sit on host files the host can check afterwards.
#
# linear_over_nbd (guest | host):
#   setup: nbd0 -> B's sink export, dm linear over nbd0; reads equal the source | -
#   -                                                 | fence A, activate the sink on B (slow)
#   write W1 (partial region) through the device      | A's file untouched: the write stayed on B
#   -                                                 | copier unlimited, wait for COMMITTED
#   cut-over: loop0 on B's volumes/VOL.img, suspend/load/resume, nbd0 disconnected; content =
#   source + W1; write W2 through loop0; fence: error table, W3 and a read refused; unfence:
#   linear again, content unchanged; teardown; setup again, crash clean-up leaves nothing
#   host: B's volume file = source + W1 + W2 (no W3), A's = source
# dm_clone (needs dm-clone.ko, built out of tree by build-dm-clone.sh in ~20 s):
#   setup: nbd0 -> A's migration export VOL@token, linear proxy; reads equal the source
#   host fences A; guest: clone table (meta loop2, destination loop1, source nbd0) +
#   enable_hydration, W1 during hydration, poll status until hydrated, linear over loop1,
#   nbd0 disconnected; content = source + W1; W2; fence/unfence as above; teardown; crash clean-up.
#   host: the destination file = source + W1 + W2, A's = source
# Prints "N passed, M failed"; exits non-zero on a failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/deps.sh
. "$root/scripts/deps.sh"

SIZE_MIB=${SIZE_MIB:-16}
TIMEOUT=${GUEST_TIMEOUT:-900}
MODES=${MODES:-linear_over_nbd dm_clone}
cache=$root/build/kernel

ensure_build_deps
ensure_packages qemu-system-x86_64:qemu-system-x86 nbd-client:nbd-client dmsetup:dmsetup curl:curl

jar=$root/dlsm-blockd/target/dlsm-blockd.jar
if [ ! -f "$jar" ] || [ -n "$(find "$root/dlsm-blockd/src/main" -newer "$jar" -type f | head -1)" ]; then
    echo "kernel-path-test: building blockd"
    (cd "$root" && mvn -B -q -ntp -pl dlsm-blockd -DskipTests package)
fi

# The guest: Debian's kernel, busybox, nbd + dm-mod (+ dm-persistent-data for dm-clone, loop,
# 9p, virtio-net) and the two tools; dm-clone.ko rides along as a file.
guest_modules="virtio_pci virtio_net nbd dm-mod dm-bufio dm-persistent-data loop 9p 9pnet_virtio"
build_guest() {
    GUEST_MODULES=$guest_modules GUEST_BINARIES="dmsetup nbd-client" GUEST_INIT="$here/guest-init.sh" \
        GUEST_FILES=${1:-} "$root/tests/guest/build-guest.sh" --print-env
}
eval "$(build_guest)"
case " $MODES " in
    *" dm_clone "*)
        ko=$("$here/build-dm-clone.sh" "$GUEST_KVER" "$cache")
        eval "$(build_guest "$ko:/lib/extra/dm-clone.ko")" ;;
esac

work=$(mktemp -d /tmp/dlsm-kernel.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The bearer-token header file of each node's API base URL (blockd made the tokens).
declare -A auth_of
start_node() {
    local name=$1
    java -jar "$jar" --data-dir "$work/$name" --nbd-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 \
        >"$work/$name.out" 2>"$work/$name.log" &
    pids+=($!)
    for _ in $(seq 300); do
        if grep -q '^READY' "$work/$name.out" 2>/dev/null; then
            auth_of[http://$(field "$name" api)]=$(bearer_header_file "$work/$name/api-token" "$work/$name.auth")
            return 0
        fi
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "node $name did not start; its log:" >&2
    cat "$work/$name.log" >&2
    exit 1
}
field() { sed -n "s/.*$2=\([^ ]*\).*/\1/p" "$work/$1.out"; }
api() { curl -sS -f -X "$1" -H @"${auth_of[${2%%/v1/*}]}" -H 'Content-Type: application/json' ${3:+-d "$3"} "$2"; }
jfield() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
md5() { md5sum "$1" | cut -d' ' -f1; }
passed=0
fail() { echo "kernel-path-test: FAIL ($mode): $*" >&2; echo "$passed passed, 1 failed"; exit 1; }
await_guest() { # FILE
    for _ in $(seq $((TIMEOUT * 4))); do
        [ -e "$share/$1" ] && return 0
        [ -e "$share/result" ] && fail "guest: $(cat "$share/result")"
        kill -0 "$qemu_pid" 2>/dev/null || fail "the guest stopped early (console: $work/console-$mode.log)"
        sleep 0.25
    done
    fail "timed out waiting for the guest ($1)"
}

start_node a
start_node b
A_API=http://$(field a api); A_NBD=$(field a nbd)
B_API=http://$(field b api); B_NBD=$(field b nbd)
size=$((SIZE_MIB << 20))

run_mode() { # MODE VOLUME
    mode=$1
    local vol=$2 state
    share=$work/share-$mode
    mkdir -p "$share"
    echo "== $mode (volume $vol)"
    # Source content: random data with holes, written to A's volume file before anyone connects.
    api POST "$A_API/v1/volumes" "{\"name\":\"$vol\",\"sizeBytes\":$size}" >/dev/null
    truncate -s "$size" "$work/$vol.src"
    head -c $((size / 2)) /dev/urandom |
        dd of="$work/$vol.src" bs=1M seek=$((SIZE_MIB / 4)) conv=notrunc status=none
    dd if="$work/$vol.src" of="$work/a/volumes/$vol.img" bs=1M conv=notrunc,sparse status=none
    # W1: 8 KiB inside a 64 KiB region nobody copied yet; W2 after the cut-over.
    local w1_off=$(((SIZE_MIB / 2) * 1048576 + 4096)) w1_len=8192
    local w2_off=$((1048576 + 65536)) w2_len=65536
    head -c $w1_len /dev/urandom >"$share/w1.bin"
    head -c $w2_len /dev/urandom >"$share/w2.bin"
    # W3: attempted while the device is fenced; it must not reach the file.
    local w3_off=$((2 * 1048576)) w3_len=65536
    head -c $w3_len /dev/urandom >"$share/w3.bin"
    cp "$work/$vol.src" "$work/$vol.exp1"
    dd if="$share/w1.bin" of="$work/$vol.exp1" bs=4096 seek=$((w1_off / 4096)) conv=notrunc status=none
    cp "$work/$vol.exp1" "$work/$vol.exp2"
    dd if="$share/w2.bin" of="$work/$vol.exp2" bs=4096 seek=$((w2_off / 4096)) conv=notrunc status=none
    local mexp
    mexp=$(api POST "$A_API/v1/volumes/$vol/migration-export" | jfield migrationExport)
    local plan_args=(--volume "$vol" --size-bytes "$size" --nbd-device /dev/nbd0 --nbd-host 10.0.2.2)
    local final loops nbd_what
    if [ "$mode" = linear_over_nbd ]; then
        api POST "$B_API/v1/sinks" "{\"name\":\"$vol\",\"source\":{\"host\":\"127.0.0.1\",\"port\":${A_NBD##*:},\"export\":\"$mexp\"},\"bandwidthBytesPerSecond\":131072}" >/dev/null
        plan_args+=(--mode linear_over_nbd --nbd-port "${B_NBD##*:}"
                    --local "/mnt/blockd/volumes/$vol.img" --loop-device /dev/loop0)
        final=$work/b/volumes/$vol.img; loops=loop0; nbd_what="blockd B's sink export"
    else
        truncate -s "$size" "$share/dest.img"
        truncate -s 4M "$share/meta.img"      # all zero: dm-clone formats it
        plan_args+=(--mode dm_clone --nbd-port "${A_NBD##*:}" --export "$mexp"
                    --local /mnt/work/dest.img --loop-device /dev/loop1
                    --meta /mnt/work/meta.img --meta-loop-device /dev/loop2 --region-sectors 128)
        final=$share/dest.img; loops="loop1 loop2"; nbd_what="node A's migration export"
    fi
    cat >"$share/params.sh" <<P
MODE=$mode
CLONE_THROTTLE=${CLONE_THROTTLE:-3}
NBD_WHAT="$nbd_what"
LOOPS="$loops"
SRC_MD5=$(md5 "$work/$vol.src")
EXPECTED1_MD5=$(md5 "$work/$vol.exp1")
W1_OFF=$w1_off; W1_LEN=$w1_len; W1_MD5=$(md5 "$share/w1.bin")
W2_OFF=$w2_off; W2_LEN=$w2_len; W2_MD5=$(md5 "$share/w2.bin")
W3_OFF=$w3_off
P
    java -cp "$jar" io.dlsm.blockd.dm.PlanMain "${plan_args[@]}" >"$share/plan.sh" 2>"$work/plan.log" ||
        fail "PlanMain: $(cat "$work/plan.log")"
    echo "plan (rendered by PlanMain):"; grep -v '^#' "$share/plan.sh" | sed 's/^/    /'

    local started
    started=$(date +%s)
    : >"$work/console-$mode.log"
    timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -m 512 -smp 1 -nographic -no-reboot \
        -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -append "console=ttyS0 panic=-1 quiet" \
        -netdev user,id=n0 -device virtio-net-pci,netdev=n0 \
        -virtfs local,path="$share",mount_tag=work,security_model=none,id=work \
        -virtfs local,path="$work/b",mount_tag=blockd,security_model=none,id=blockd \
        </dev/null >"$work/console-$mode.log" 2>&1 &
    qemu_pid=$!
    pids+=($qemu_pid)
    tail -f "$work/console-$mode.log" --pid=$qemu_pid 2>/dev/null | grep --line-buffered -E '^(guest|GUEST|init|dlsm):' &

    await_guest proxy-ok
    api POST "$A_API/v1/volumes/$vol/fence" '{}' >/dev/null
    if [ "$mode" = linear_over_nbd ]; then
        state=$(api POST "$B_API/v1/sinks/$vol/activate" '{}' | jfield state)
        [ "$state" = ACTIVE ] || fail "sink did not activate: $state"
        echo "host: A fenced, sink on B ACTIVE (copier at 128 KiB/s)"
    else
        echo "host: A fenced"
    fi
    touch "$share/activated"

    await_guest written
    [ "$(md5 "$work/a/volumes/$vol.img")" = "$(md5 "$work/$vol.src")" ] || fail "the guest's write reached the source"
    echo "host: the source is unchanged: the guest's write stayed on the destination"
    if [ "$mode" = linear_over_nbd ]; then
        api PUT "$B_API/v1/sinks/$vol/bandwidth" '{"bytesPerSecond":0}' >/dev/null
        for _ in $(seq 600); do
            state=$(api GET "$B_API/v1/sinks/$vol" | jfield state)
            [ "$state" = COMMITTED ] && break
            sleep 0.1
        done
        [ "$state" = COMMITTED ] || fail "sink did not commit: $state"
        echo "host: sink COMMITTED: volumes/$vol.img on B is the local copy"
        touch "$share/committed"
    fi

    wait "$qemu_pid" || true
    [ "$(cat "$share/result" 2>/dev/null)" = PASS ] ||
        { tail -40 "$work/console-$mode.log" >&2; fail "guest result: $(cat "$share/result" 2>/dev/null || echo none)"; }
    [ "$(md5 "$final")" = "$(md5 "$work/$vol.exp2")" ] || fail "$final is not source + W1 + W2 (W3, written while fenced, must be absent)"
    [ "$(md5 "$work/a/volumes/$vol.img")" = "$(md5 "$work/$vol.src")" ] || fail "A's volume changed"
    echo "host: $mode: $(basename "$final") = source + both guest writes; A's volume = source (guest ran $(($(date +%s) - started)) s)"
    passed=$((passed + 1))
}

n=0
for m in $MODES; do
    n=$((n + 1))
    run_mode "$m" "v$n"
done
echo "kernel-path-test: $passed passed, 0 failed"
