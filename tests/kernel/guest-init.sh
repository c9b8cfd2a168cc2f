# Runs inside the TCG guest (busybox sh) as /etc/guest-init, embedded by tests/guest/build-guest.sh.
# The node side of the kernel path: it sources the plan that io.dlsm.blockd.dm.PlanMain rendered
# on the host (/mnt/work/plan.sh) and calls its functions, checking the kernel's view after each.
# Host and guest meet in /mnt/work (9p): the guest touches a file, the other side waits for it.
set -u
work=/mnt/work
step() { echo "guest: $*"; }
fail() {
    echo "GUEST FAIL: $*"
    [ -d $work ] && echo "FAIL $*" >$work/result
    exit 1
}
await() { # FILE: written by the host
    i=0
    while [ ! -e "$work/$1" ]; do
        i=$((i + 1))
        [ $i -le 1200 ] || fail "timed out waiting for the host ($1)"
        sleep 0.25
    done
}
md5() { md5sum | cut -d' ' -f1; }
dev_md5() { dd if="$DLSM_DEVICE" bs=1M iflag=direct 2>/dev/null | md5; }
range_md5() { # OFFSET LENGTH (4 KiB multiples)
    dd if="$DLSM_DEVICE" bs=4096 skip=$(($1 / 4096)) count=$(($2 / 4096)) iflag=direct 2>/dev/null | md5
}
write_at() { # FILE OFFSET
    dd if="$1" of="$DLSM_DEVICE" bs=4096 seek=$(($2 / 4096)) oflag=direct conv=notrunc 2>/dev/null ||
        fail "write of $1 at $2 failed"
}
no_dlsm_devices() { ! DM_DISABLE_UDEV=1 dmsetup ls 2>/dev/null | grep -q '^dlsm-'; }
nbd_free() { [ ! -e /sys/block/nbd0/pid ] && [ "$(cat /sys/block/nbd0/size)" = 0 ]; }

ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
mkdir -p $work /mnt/blockd
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 work $work || fail "mount 9p work"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 blockd /mnt/blockd || fail "mount 9p blockd"
. $work/params.sh
. $work/plan.sh
step "kernel $(uname -r), $(DM_DISABLE_UDEV=1 dmsetup version | tail -1), plan for $DLSM_DEVICE"

if [ "$MODE" = dm_clone ]; then
    # The throttle (percent of time kcopyd may copy) only slows hydration down enough that the
    # guest's write below lands in a region not yet hydrated; the plan itself does not use it.
    insmod /lib/extra/dm-clone.ko clone_hydration_throttle=$CLONE_THROTTLE || fail "insmod dm-clone.ko"
fi
step "setup ($MODE): nbd0 -> $NBD_WHAT, linear proxy table"
dlsm_setup || fail "dlsm_setup"
[ -b "$DLSM_DEVICE" ] || fail "$DLSM_DEVICE is not a block device"
DM_DISABLE_UDEV=1 dmsetup table "$DLSM_DM_NAME" | grep -q " linear 43:0 0$" || fail "proxy table is not linear over nbd0"
[ "$(dev_md5)" = "$SRC_MD5" ] || fail "PROXY: device content differs from the source"
step "PROXY: the whole device reads as the source"
touch $work/proxy-ok
await activated

if [ "$MODE" = dm_clone ]; then
    dlsm_activate || fail "dlsm_activate"
    DM_DISABLE_UDEV=1 dmsetup table "$DLSM_DM_NAME" | grep -q " clone 7:2 7:1 43:0 " || fail "no clone table"
    step "HYDRATING: clone table live: $(DM_DISABLE_UDEV=1 dmsetup status "$DLSM_DM_NAME")"
fi
write_at $work/w1.bin "$W1_OFF"
[ "$(range_md5 "$W1_OFF" "$W1_LEN")" = "$W1_MD5" ] || fail "read-back of the guest's write differs"
step "wrote $W1_LEN bytes at $W1_OFF (partial region)"
touch $work/written
if [ "$MODE" = dm_clone ]; then
    dlsm_await_hydrated || fail "dlsm_await_hydrated"
    step "cut-over: linear over loop1 (the destination), nbd0 disconnected"
    dlsm_finish || fail "dlsm_finish"
    local_dev=7:1
else
    await committed
    step "cut-over: loop0 over the volume file, table swap, nbd0 disconnected"
    dlsm_cutover || fail "dlsm_cutover"
    local_dev=7:0
fi
DM_DISABLE_UDEV=1 dmsetup table "$DLSM_DM_NAME" | grep -q " linear $local_dev 0$" || fail "table is not linear over $local_dev"
nbd_free || fail "nbd0 is still connected after the cut-over"
[ "$(dev_md5)" = "$EXPECTED1_MD5" ] || fail "LOCAL: device content differs from source + guest write"
step "LOCAL: content = source + the guest's write, from the local device"
write_at $work/w2.bin "$W2_OFF"
[ "$(range_md5 "$W2_OFF" "$W2_LEN")" = "$W2_MD5" ] || fail "LOCAL: read-back of the second write differs"
step "LOCAL: wrote $W2_LEN bytes at $W2_OFF without nbd"

# The volume is fenced (migrating away, its VM gone): the device must refuse every write, so
# nothing reaches the file behind the write gate. The host checks the file afterwards: a write
# that got through would show there.
expected2=$(dev_md5)
dlsm_fence || fail "dlsm_fence"
DM_DISABLE_UDEV=1 dmsetup table "$DLSM_DM_NAME" | grep -Eq " error *$" || fail "fenced table is not error: $(DM_DISABLE_UDEV=1 dmsetup table "$DLSM_DM_NAME")"
if dd if=$work/w3.bin of="$DLSM_DEVICE" bs=4096 seek=$((W3_OFF / 4096)) oflag=direct conv=notrunc 2>/dev/null; then
    fail "FENCED: a write to $DLSM_DEVICE succeeded"
fi
if dd if="$DLSM_DEVICE" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; then
    fail "FENCED: a read of $DLSM_DEVICE succeeded"
fi
step "FENCED: error table, writes and reads refused"
dlsm_unfence || fail "dlsm_unfence"
DM_DISABLE_UDEV=1 dmsetup table "$DLSM_DM_NAME" | grep -q " linear $local_dev 0$" || fail "unfenced table is not linear over $local_dev"
[ "$(dev_md5)" = "$expected2" ] || fail "UNFENCED: content changed while fenced"
step "UNFENCED: linear over $local_dev again, content unchanged"

dlsm_teardown || fail "dlsm_teardown"
no_dlsm_devices || fail "a dlsm- device survived the teardown"
for l in $LOOPS; do
    [ ! -e /sys/block/$l/loop/backing_file ] || fail "$l still attached after the teardown"
done
step "teardown: no dlsm- device, nbd0 and $LOOPS free"

step "crash recovery: setup again, then the clean-up blockd runs at its next start"
dlsm_setup || fail "second dlsm_setup"
[ -b "$DLSM_DEVICE" ] || fail "second setup made no device"
dlsm_recover_crashed_setup || fail "dlsm_recover_crashed_setup"
no_dlsm_devices || fail "a dlsm- device survived recovery"
nbd_free || fail "nbd0 still connected after recovery"
step "recovery: nothing left behind"
sync
echo PASS >$work/result
step PASS
