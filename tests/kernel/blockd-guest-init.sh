# shellcheck shell=sh
# Runs inside the TCG guest (busybox sh) as /etc/guest-init for tests/kernel/blockd-in-guest-test.sh.
# Starts the real blockd (the embedded jlink runtime, /opt/dlsm/dlsm-blockd.jar) with
# --kernel-path $KERNEL_PATH (params.sh: linear_over_nbd or dm_clone) on 0.0.0.0 (QEMU forwards
# the host's 127.0.0.1 ports to it),
# then serves as the host's agent: the host drops /mnt/work/cmd-N (shell, with the helpers of
# /tmp/lib.sh), the guest runs it bounded by `timeout`, leaves its output in out-N and its exit
# code in rc-N (written last). The file `stop` ends the loop: blockd is stopped, the guest
# powers off.
set -u
work=/mnt/work
echo   # the console's last line (firmware) has no newline
log() { echo "guest: $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
hostname dlsm-guest
echo "127.0.0.1 localhost dlsm-guest" >/etc/hosts
echo "root:x:0:0:root:/root:/bin/sh" >/etc/passwd
mkdir -p $work
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 work $work; then
    echo "GUEST FAIL: mount 9p work"
    exit 1
fi
# shellcheck source=/dev/null # written by the host
. $work/params.sh

cat >/tmp/lib.sh <<'LIB'
# Helpers for the host's commands (sourced before each cmd-N).
export DM_DISABLE_UDEV=1
dm_table() { dmsetup table "$1"; }
dev_md5() { dd if="$1" bs=1M iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1; }
range_md5() { # DEVICE OFFSET LENGTH (4 KiB multiples)
    dd if="$1" bs=4096 skip=$(($2 / 4096)) count=$(($3 / 4096)) iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1
}
write_at() { # FILE DEVICE OFFSET
    dd if="$1" of="$2" bs=4096 seek=$(($3 / 4096)) oflag=direct conv=notrunc 2>&1
}
nbd_free() { [ ! -e "/sys/block/$1/pid" ] && [ "$(cat "/sys/block/$1/size")" = 0 ]; }
loop_free() { [ ! -s "/sys/block/$1/loop/backing_file" ]; }
LIB

KERNEL_PATH=${KERNEL_PATH:-linear_over_nbd}
if [ "$KERNEL_PATH" = dm_clone ]; then
    # Built out of tree (Debian's kernels lack CONFIG_DM_CLONE); dm-bufio and dm-persistent-data
    # are loaded by the initramfs. The throttle (percent of time kcopyd may copy) slows the
    # hydration so the host's write lands in a region not yet hydrated; blockd does not set it.
    if ! insmod /lib/extra/dm-clone.ko clone_hydration_throttle="${CLONE_THROTTLE:-3}"; then
        echo "GUEST FAIL: insmod dm-clone.ko"
        echo "FAIL insmod dm-clone.ko" >$work/ready
        exit 1
    fi
    log "dm-clone loaded (clone_hydration_throttle=$(cat /sys/module/dm_clone/parameters/clone_hydration_throttle 2>/dev/null))"
fi
mkdir -p /tmp/blockd
started=$(uptime_s)
log "starting blockd at ${started}s after boot: java ${JAVA_OPTS:-}"
cd /opt/dlsm || exit 1   # the jar by the relative path its AppCDS archive was dumped with
# shellcheck disable=SC2086 # JAVA_OPTS are separate words
# The token is the host's (in the share), so the host's calls can carry it.
java ${JAVA_OPTS:-} -jar dlsm-blockd.jar --data-dir /tmp/blockd --token-file $work/api-token \
    --nbd-listen 0.0.0.0:10809 --api-listen 0.0.0.0:7810 --kernel-path "$KERNEL_PATH" \
    >/tmp/blockd.out 2>$work/guest-blockd.log &
blockd=$!
i=0
while ! grep -q '^READY' /tmp/blockd.out 2>/dev/null; do
    i=$((i + 1))
    if ! kill -0 $blockd 2>/dev/null || [ $i -gt $((READY_TIMEOUT * 4)) ]; then
        echo "GUEST FAIL: blockd not READY after $i polls"
        echo "FAIL blockd did not start" >$work/ready
        kill $blockd 2>/dev/null
        exit 1
    fi
    sleep 0.25
done
ready=$(uptime_s)
log "blockd $(cat /tmp/blockd.out) at ${ready}s (JVM start to READY: $(awk "BEGIN{print $ready - $started}") s)"
echo "OK boot=$started ready=$ready" >$work/ready.tmp
mv $work/ready.tmp $work/ready

n=1
idle=0
while [ ! -e $work/stop ]; do
    if [ -e $work/cmd-$n ]; then
        timeout "$CMD_TIMEOUT" sh -c ". /tmp/lib.sh; . $work/cmd-$n" >$work/out-$n 2>&1
        echo $? >$work/rc-$n.tmp
        mv $work/rc-$n.tmp $work/rc-$n
        n=$((n + 1))
        idle=0
        continue
    fi
    idle=$((idle + 1))
    if [ $idle -gt $((IDLE_TIMEOUT * 10)) ]; then
        log "no command from the host for ${IDLE_TIMEOUT}s: stopping"
        break
    fi
    sleep 0.1
done

log "stopping blockd (pid $blockd)"
kill $blockd 2>/dev/null
i=0
while kill -0 $blockd 2>/dev/null && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.2; done
kill -9 $blockd 2>/dev/null
cp /tmp/blockd.out $work/guest-blockd.out 2>/dev/null
sync
log "done"
