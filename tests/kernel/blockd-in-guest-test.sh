#!/usr/bin/env bash
# The kernel path driven by blockd itself, in a real kernel: the blockd JVM runs *inside* a
# Debian 6.1 guest under QEMU TCG with --kernel-path MODE (linear_over_nbd, dm_clone; one guest
# boot per mode) and is driven over its REST API from this host. kernel-path-test.sh proves the command sequences (PlanMain); this proves
# the wiring: DeviceResource -> KernelDevices -> dmsetup/nbd-client/losetup issued by blockd's
# own process, the sink lifecycle's cut-over, and fencing a volume's device.
#
#   tests/kernel/blockd-in-guest-test.sh      (root; installs what it needs from Debian's archive)
#   MODES=dm_clone tests/kernel/blockd-in-guest-test.sh                          only one mode
#
# Host: a source blockd (127.0.0.1, port 0) with one volume per mode (random data and a hole).
# Guest: busybox initramfs with nbd, dm-mod, dm-bufio, dm-persistent-data, loop, 9p, dmsetup,
# nbd-client (+ dm-clone.ko, built by build-dm-clone.sh, when dm_clone runs), a jlink runtime with the
# modules jdeps finds in the fat jar, the jar and an AppCDS archive of its classes (dumped here by
# the same runtime); blockd's data dir on the guest's tmpfs.
# QEMU user networking forwards 127.0.0.1:API_PORT -> guest :7810 and 127.0.0.1:NBD_PORT ->
# guest :10809; the guest reaches the source at 10.0.2.2. A 9p share carries the guest-side
# checks: the host drops cmd-N, the guest agent (blockd-guest-init.sh) answers out-N / rc-N.
#
# Flow (every step through REST): migration export on the source; POST /v1/sinks on the guest
# (source 10.0.2.2); POST /v1/volumes/VOL/device -> PROXY: linear over nbdN, content = source;
# linear_over_nbd: nbdN is on the guest blockd's own sink export (a second NBD client of it
# works); dm_clone: nbdN is on the source's migration export and the sink's export is withdrawn
# (a client of it is refused). Fence the source, activate the sink;
#   linear_over_nbd: a guest write W1 through the device; the source's file unchanged; copier
#     unlimited, COMMITTED, blockd's reconcile cuts over;
#   dm_clone: GET device HYDRATING, clone table (destination: a loop device on sinks/VOL.img),
#     W1 while dm-clone hydrates (slowed by clone_hydration_throttle and the sink's bandwidth,
#     hydration_threshold 1); the source's file unchanged; bandwidth unlimited -> status shows
#     hydration_threshold 64 / batch 16; hydrated: blockd swaps to linear over the loop device,
#     the sink commits by itself; wireBytesReceived and bytesCopiedInBackground 0;
# then in both: GET .../device LOCAL; linear over loopN on volumes/VOL.img, nbdN disconnected;
# content = source + W1; the volume has 1 writer (the device) and an NBD export; fence VOL on
# the guest: error table, a write and a read fail; unfence: linear again, write W2 works;
# DELETE the device: gone, nbdN and loopN free; the host reads the guest's VOL over the
# forwarded NBD port: source + W1 + W2. Last line: "blockd-in-guest: N passed, M failed".
#
# Environment: MODES ("linear_over_nbd dm_clone"), SIZE_MIB (16), GUEST_TIMEOUT (one guest, s;
# 900), READY_TIMEOUT (JVM start in the guest, s; 300), GUEST_SMP (1), GUEST_JAVA_OPTS,
# CLONE_THROTTLE (dm-clone's clone_hydration_throttle until W1 is written, percent; 3),
# KEEP_WORK=1 keeps the temp dir.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/deps.sh
. "$root/scripts/deps.sh"

SIZE_MIB=${SIZE_MIB:-16}
MODES=${MODES:-linear_over_nbd dm_clone}
CLONE_THROTTLE=${CLONE_THROTTLE:-3}
for m in $MODES; do
    case $m in linear_over_nbd|dm_clone) ;; *) echo "blockd-in-guest: unknown mode $m" >&2; exit 2 ;; esac
done
TIMEOUT=${GUEST_TIMEOUT:-900}
READY_TIMEOUT=${READY_TIMEOUT:-300}
SMP=${GUEST_SMP:-1}   # measured: the JVM starts no faster with 2 emulated CPUs, the whole run is faster with 1
# C1 only and the serial collector: the JIT and GC threads compete with blockd for 1-2 emulated CPUs.
# The AppCDS archive on top of the JDK's (-Xshare:auto: a stale archive only costs time).
cds=/opt/java/lib/server/classes.jsa:/opt/dlsm/blockd.jsa
JAVA_OPTS=${GUEST_JAVA_OPTS:--Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -XX:SharedArchiveFile=$cds}
cache=$root/build/kernel
t_start=$(date +%s)

ensure_build_deps
ensure_packages qemu-system-x86_64:qemu-system-x86 nbd-client:nbd-client dmsetup:dmsetup curl:curl \
    nbdcopy:libnbd-bin

jar=$root/dlsm-blockd/target/dlsm-blockd.jar
if [ ! -f "$jar" ] || [ -n "$(find "$root/dlsm-blockd/src/main" -newer "$jar" -type f | head -1)" ]; then
    echo "blockd-in-guest: building blockd"
    # Only the jar: the README's test command runs blockd's tests in its mvn verify.
    (cd "$root" && mvn -B -q -ntp -pl dlsm-blockd -am -DskipTests package)
fi

# The Java modules blockd needs, as jdeps sees them in the fat jar (cached per jar content).
mkdir -p "$cache"
jar_sum=$(sha256sum <"$jar" | cut -c1-16)
if [ ! -s "$cache/jdeps-$jar_sum" ]; then
    rm -f "$cache"/jdeps-*
    jdeps --print-module-deps --ignore-missing-deps --multi-release 17 "$jar" >"$cache/jdeps-$jar_sum.tmp"
    mv "$cache/jdeps-$jar_sum.tmp" "$cache/jdeps-$jar_sum"
fi
java_modules=$(tail -1 "$cache/jdeps-$jar_sum")

# An AppCDS archive of blockd's classes, dumped on this host by the runtime the guest gets: it
# halves the JVM's start under TCG. Dumped once per jar; the jar goes next to it with its mtime
# (the archive checks it) and is started as a relative path, so /opt/dlsm in the guest matches.
guest_env=$(GUEST_JLINK=$java_modules "$root/tests/guest/build-guest.sh" --java-home-only)
eval "$guest_env"
appcds=$cache/appcds-$jar_sum
if [ ! -s "$appcds/blockd.jsa" ]; then
    echo "blockd-in-guest: dumping the AppCDS archive"
    rm -rf "$cache"/appcds-*
    mkdir -p "$appcds.tmp"
    cp -p "$jar" "$appcds.tmp/dlsm-blockd.jar"
    (
        cd "$appcds.tmp"
        "$GUEST_JAVA_HOME/bin/java" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
            -XX:ArchiveClassesAtExit=blockd.jsa -jar dlsm-blockd.jar --data-dir "$appcds.tmp/data" \
            --nbd-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 >out 2>log &
        p=$!
        for _ in $(seq 600); do grep -q '^READY' out 2>/dev/null && break; kill -0 $p 2>/dev/null || break; sleep 0.1; done
        u=http://$(sed -n 's/.*api=\([^ ]*\).*/\1/p' out)
        h=$(bearer_header_file "$appcds.tmp/data/api-token" "$appcds.tmp/auth")
        # A few requests, so the archive also holds what the first REST calls load. One that
        # fails only leaves its classes out of the archive; the archive itself is checked below.
        curl -sS -m 30 -H @"$h" -X POST -H 'Content-Type: application/json' -d '{"name":"t","sizeBytes":1048576}' "$u/v1/volumes" || true
        curl -sS -m 30 -H @"$h" -X POST -H 'Content-Type: application/json' -d '{}' "$u/v1/volumes/t/migration-export" || true
        curl -sS -m 30 -H @"$h" -X POST "$u/v1/volumes/t/device" || true
        curl -sS -m 30 -H @"$h" "$u/v1/node/capabilities" "$u/v1/sinks" "$u/v1/volumes/t" || true
        kill $p
        wait $p || true # the status of a killed JVM
    ) >/dev/null 2>&1
    rm -rf "$appcds.tmp/data" "$appcds.tmp/out" "$appcds.tmp/log" "$appcds.tmp/auth"
    [ -s "$appcds.tmp/blockd.jsa" ] || { echo "blockd-in-guest: no AppCDS archive was written" >&2; exit 1; }
    mv "$appcds.tmp" "$appcds"
fi

# dm-bufio and dm-persistent-data for dm-clone.ko, which rides along as a file (insmod'ed by
# the guest's init in dm_clone mode; Debian's kernels do not build it).
guest_modules="virtio_pci virtio_net nbd:nbds_max=4 dm-mod dm-bufio dm-persistent-data loop 9p 9pnet_virtio"
# One name: a new jar replaces this test's initramfs (~70 MB) in the cache instead of adding one.
build_guest() { # [EXTRA_FILES]
    GUEST_MODULES=$guest_modules GUEST_BINARIES="dmsetup nbd-client" GUEST_INIT="$here/blockd-guest-init.sh" \
        GUEST_TREES="$appcds:/opt/dlsm" GUEST_JLINK=$java_modules GUEST_NAME=blockd-in-guest \
        GUEST_FILES=${1:-} "$root/tests/guest/build-guest.sh" --print-env
}
case " $MODES " in
    *" dm_clone "*)
        # GUEST_KVER: from --java-home-only above; the module must match the guest kernel's vermagic.
        ko=$("$here/build-dm-clone.sh" "$GUEST_KVER" "$cache")
        guest_env=$(build_guest "$ko:/lib/extra/dm-clone.ko") ;;
    *) guest_env=$(build_guest) ;;
esac
eval "$guest_env"
t_built=$(date +%s)

work=$(mktemp -d /tmp/dlsm-blockd-guest.XXXXXX)
share=$work/share   # per mode: $work/share-MODE, set by run_mode
pids=()
qemu_pid=
summarized=0
timings=()
cleanup() {
    local p
    if [ "$summarized" = 0 ]; then
        failed=$((failed + 1))
        echo "  FAIL: stopped early (a command failed; see above)" >&2
        summary
    fi
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'echo "blockd-in-guest: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "  ok: $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL: $*" >&2; }
summary() {
    summarized=1
    local t
    for t in "${timings[@]}"; do echo "blockd-in-guest: timings: $t"; done
    echo "blockd-in-guest: $passed passed, $failed failed"
}
# A step the rest depends on failed: stop here.
abort() {
    bad "$*"
    if [ -n "$qemu_pid" ]; then
        echo "--- guest console (tail)" >&2; tail -30 "$work/console-$mode.log" >&2 || true
        echo "--- guest blockd log (tail)" >&2; tail -30 "$share/guest-blockd.log" >&2 || true
    fi
    summary
    exit 1
}
expect() { # DESCRIPTION ACTUAL EXPECTED
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', expected '$3'"; fi
}
check() { # DESCRIPTION COMMAND...: passes when COMMAND succeeds
    local d=$1; shift
    if "$@"; then ok "$d"; else bad "$d"; fi
}

# Each API's bearer-token header file: the source node's (it made its token), the guest node's
# (the host makes one per boot and hands it over in the share, since the guest's disk is its own).
auth_for() { case $1 in "$A_API"/*) echo "$work/a.auth" ;; *) echo "$share/guest.auth" ;; esac; }
api() { curl -sS -f -m 120 -X "$1" -H @"$(auth_for "$2")" -H 'Content-Type: application/json' ${3:+-d "$3"} "$2"; }
api_code() { curl -sS -o /dev/null -w '%{http_code}' -m 120 -H @"$(auth_for "$2")" -X "$1" "$2"; }
jfield() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
await_state() { # URL WANTED TRIES: polls the resource's "state" every 0.2 s; prints the last one
    local s=""
    for _ in $(seq "$3"); do
        s=$(api GET "$1" | jfield state)
        [ "$s" = "$2" ] && break
        sleep 0.2
    done
    echo "$s"
}
md5() { md5sum "$1" | cut -d' ' -f1; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs shell in the guest (with the helpers of blockd-guest-init.sh's lib.sh); its output is left
# in $gout, its exit code returned (255: no answer). Bounded on both sides. Not to be called in
# a subshell: the command counter lives here.
cmd_n=0
gout=
guest() { # SCRIPT
    cmd_n=$((cmd_n + 1))
    gout=
    printf '%s\n' "$1" >"$share/cmd-$cmd_n.tmp"
    mv "$share/cmd-$cmd_n.tmp" "$share/cmd-$cmd_n"
    for _ in $(seq $((CMD_TIMEOUT * 10 + 100))); do
        if [ -e "$share/rc-$cmd_n" ]; then
            gout=$(cat "$share/out-$cmd_n")
            return "$(cat "$share/rc-$cmd_n")"
        fi
        if ! kill -0 "$qemu_pid" 2>/dev/null; then
            gout="the guest stopped (console: $work/console-$mode.log)"
            return 255
        fi
        sleep 0.1
    done
    gout="the guest did not answer command $cmd_n: $1"
    return 255
}
gcheck() { # DESCRIPTION SCRIPT: passes when SCRIPT exits 0 in the guest
    if guest "$2"; then ok "$1"; else bad "$1: exit $? ${gout:+: $gout}"; fi
}
CMD_TIMEOUT=120

# ---------------------------------------------------------------- source node on the host
java -jar "$jar" --data-dir "$work/a" --nbd-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 \
    >"$work/a.out" 2>"$work/a.log" &
pids+=($!)
for _ in $(seq 600); do
    grep -q '^READY' "$work/a.out" 2>/dev/null && break
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
done
grep -q '^READY' "$work/a.out" || { cat "$work/a.log" >&2; abort "the source blockd did not start"; }
A_API=http://$(sed -n 's/.*api=\([^ ]*\).*/\1/p' "$work/a.out")
bearer_header_file "$work/a/api-token" "$work/a.auth" >/dev/null
A_NBD_PORT=$(sed -n 's/.*nbd=[^ ]*:\([0-9]*\).*/\1/p' "$work/a.out")
size=$((SIZE_MIB << 20))

# One guest boot per mode, one volume per mode on the source (v1, v2, ...).
# set_fence fence|unfence FENCED STATE: the call on the guest's blockd, its answer, the device's
# state after it; leaves the device's dm table in $gout (a failed dmsetup is in $gout too and
# fails the caller's check of the table).
set_fence() {
    local fenced dstate
    fenced=$(api POST "$G_API/v1/volumes/$vol/$1" '{}' | jfield fenced)
    expect "POST /v1/volumes/$vol/$1 on the guest" "$fenced" "$2"
    dstate=$(api GET "$G_API/v1/volumes/$vol/device" | jfield state)
    expect "GET device: $3" "$dstate" "$3"
    guest "dm_table $dm" || true
}

run_mode() { # MODE VOLUME
    mode=$1 vol=$2
    local t_mode t_boot t_ready t_flow t0 state dev dm path table nbd loop backing dstate fenced code got
    local caps kmode status wire copied writers mexp mode_name
    t_mode=$(date +%s)
    share=$work/share-$mode
    mkdir -p "$share"
    cmd_n=0
    case $mode in linear_over_nbd) mode_name=LINEAR_OVER_NBD ;; dm_clone) mode_name=DM_CLONE ;; esac
    echo "== $mode (volume $vol)"

    # ------------------------------------------------------------ the source volume
    api POST "$A_API/v1/volumes" "{\"name\":\"$vol\",\"sizeBytes\":$size}" >/dev/null
    truncate -s "$size" "$work/$vol.src"   # first quarter and last quarter: a hole
    head -c $((size / 2)) /dev/urandom | dd of="$work/$vol.src" bs=1M seek=$((SIZE_MIB / 4)) conv=notrunc status=none
    dd if="$work/$vol.src" of="$work/a/volumes/$vol.img" bs=1M conv=notrunc,sparse status=none
    # W1 after activation (8 KiB inside a 64 KiB region), W2 after unfence; W3 tried while fenced.
    local w1_off=$(((SIZE_MIB / 2) * 1048576 + 4096)) w1_len=8192
    local w2_off=$((1048576 + 65536)) w2_len=65536
    local w3_off=$((2 * 1048576)) w3_len=65536
    head -c $w1_len /dev/urandom >"$share/w1.bin"
    head -c $w2_len /dev/urandom >"$share/w2.bin"
    head -c $w3_len /dev/urandom >"$share/w3.bin"
    cp "$work/$vol.src" "$work/$vol.exp1"
    dd if="$share/w1.bin" of="$work/$vol.exp1" bs=4096 seek=$((w1_off / 4096)) conv=notrunc status=none
    cp "$work/$vol.exp1" "$work/$vol.exp2"
    dd if="$share/w2.bin" of="$work/$vol.exp2" bs=4096 seek=$((w2_off / 4096)) conv=notrunc status=none
    local SRC_MD5 EXP1_MD5 EXP2_MD5 W1_MD5 W2_MD5
    SRC_MD5=$(md5 "$work/$vol.src"); EXP1_MD5=$(md5 "$work/$vol.exp1"); EXP2_MD5=$(md5 "$work/$vol.exp2")
    W1_MD5=$(md5 "$share/w1.bin"); W2_MD5=$(md5 "$share/w2.bin")

    # ------------------------------------------------------------ the guest node
    local api_port nbd_port
    api_port=$(free_port); nbd_port=$(free_port)
    while [ "$nbd_port" = "$api_port" ]; do nbd_port=$(free_port); done
    G_API=http://127.0.0.1:$api_port
    # The guest's blockd requires this token (--token-file in the share): 256 random bits.
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n=' >"$share/api-token")
    bearer_header_file "$share/api-token" "$share/guest.auth" >/dev/null
    cat >"$share/params.sh" <<P
JAVA_OPTS="$JAVA_OPTS"
KERNEL_PATH=$mode
CLONE_THROTTLE=$CLONE_THROTTLE
READY_TIMEOUT=$READY_TIMEOUT
CMD_TIMEOUT=$CMD_TIMEOUT
IDLE_TIMEOUT=$((CMD_TIMEOUT + 120))
P
    echo "blockd-in-guest: booting the guest ($mode; TCG, -smp $SMP, 1 GiB; API 127.0.0.1:$api_port, NBD 127.0.0.1:$nbd_port)"
    t_boot=$(date +%s)
    : >"$work/console-$mode.log"
    timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -m 1024 -smp "$SMP" -nographic -no-reboot \
        -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -append "console=ttyS0 panic=-1 quiet" \
        -netdev "user,id=n0,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:$api_port-:7810,hostfwd=tcp:127.0.0.1:$nbd_port-:10809" \
        -device virtio-net-pci,netdev=n0 \
        -virtfs local,path="$share",mount_tag=work,security_model=none,id=work \
        </dev/null >"$work/console-$mode.log" 2>&1 &
    qemu_pid=$!
    pids+=("$qemu_pid")
    tail -f "$work/console-$mode.log" --pid="$qemu_pid" 2>/dev/null | grep --line-buffered -E '^(guest|GUEST|init):' &
    pids+=($!)

    for _ in $(seq $((READY_TIMEOUT * 4 + 240))); do
        [ -e "$share/ready" ] && break
        kill -0 "$qemu_pid" 2>/dev/null || abort "the guest stopped before blockd was ready"
        sleep 0.25
    done
    [ -e "$share/ready" ] || abort "blockd in the guest not READY within ${READY_TIMEOUT}s"
    local ready_state ready_boot ready_at
    read -r ready_state ready_boot ready_at <"$share/ready" || true
    [ "$ready_state" = OK ] || abort "blockd in the guest did not start: $(cat "$share/ready")"
    t_ready=$(date +%s)
    ok "blockd READY in the guest (${ready_boot#boot=} s after boot, ${ready_at#ready=} s uptime; $((t_ready - t_boot)) s since QEMU started)"
    # The agent itself: an answer is this command's, and an exit code comes back.
    local token=agent-$$-$RANDOM rc=0
    if guest "echo $token" && [ "$gout" = "$token" ]; then ok "the guest agent answers"; else abort "the guest agent: '$gout'"; fi
    guest "exit 3" || rc=$?
    expect "the guest agent returns exit codes" "$rc" 3
    caps=$(api GET "$G_API/v1/node/capabilities") || abort "the guest's API is not reachable through the forward"
    kmode=$(jfield mode <<<"$caps")
    expect "guest capabilities: mode $mode_name" "$kmode" "$mode_name"
    if [ "$mode" = dm_clone ]; then
        expect "guest capabilities: dmClone true" "$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["capabilities"]["dmClone"])' <<<"$caps")" True
    fi

    # ------------------------------------------------------------ PROXY
    mexp=$(api POST "$A_API/v1/volumes/$vol/migration-export" | jfield migrationExport)
    state=$(api POST "$G_API/v1/sinks" "{\"name\":\"$vol\",\"source\":{\"host\":\"10.0.2.2\",\"port\":$A_NBD_PORT,\"export\":\"$mexp\"},\"bandwidthBytesPerSecond\":131072}" | jfield state) ||
        abort "POST /v1/sinks on the guest failed"
    expect "sink on the guest: PROXY from 10.0.2.2:$A_NBD_PORT/$mexp" "$state" PROXY
    t0=$(date +%s.%N)
    dev=$(api POST "$G_API/v1/volumes/$vol/device") || abort "POST /v1/volumes/$vol/device failed: $(tail -5 "$share/guest-blockd.log")"
    echo "  device: $dev ($(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s)"
    expect "device state PROXY" "$(jfield state <<<"$dev")" PROXY
    expect "device mode $mode_name" "$(jfield mode <<<"$dev")" "$mode_name"
    dm=dlsm-$vol
    path=$(jfield devicePath <<<"$dev")
    expect "device path /dev/mapper/$dm" "$path" "/dev/mapper/$dm"
    guest "dm_table $dm" || abort "no table for $dm: $gout"
    table=$gout
    nbd=$(sed -n 's/^0 [0-9]* linear 43:\([0-9]*\) 0$/nbd\1/p' <<<"$table")
    check "PROXY table linear over /dev/$nbd: $table" [ -n "$nbd" ]
    # nbd minors go in steps of 1 << max_part (0 here: nbd.ko's default)
    nbd=${nbd:-nbd0}
    gcheck "/dev/$nbd attached to nbd-client" "[ -e /sys/block/$nbd/pid ]"
    gcheck "PROXY: $path reads as the source (md5 $SRC_MD5)" "[ \"\$(dev_md5 $path)\" = $SRC_MD5 ]"
    if [ "$mode" = dm_clone ]; then
        # The sink was handed to the kernel: two writers of its file that do not know of each
        # other would lose the VM's writes, so nobody else may connect to it.
        check "the guest's export of the sink is withdrawn (nbdinfo over the forwarded port is refused)" \
            eval "! timeout 60 nbdinfo --size 'nbd://127.0.0.1:$nbd_port/$vol' >'$work/nbdinfo.out' 2>&1"
        sed 's/^/    nbdinfo: /' "$work/nbdinfo.out" | head -3
    else
        got=$(timeout 60 nbdinfo --size "nbd://127.0.0.1:$nbd_port/$vol" 2>&1 || true)
        expect "the guest's sink export serves a second NBD client (size)" "$got" "$size"
    fi

    # ------------------------------------------------------------ activation and a write
    state=$(api POST "$A_API/v1/volumes/$vol/fence" '{}' | jfield fenced)
    expect "source fenced" "$state" True
    state=$(api POST "$G_API/v1/sinks/$vol/activate" '{}' | jfield state)
    expect "sink ACTIVE (128 KiB/s)" "$state" ACTIVE
    if [ "$mode" = dm_clone ]; then
        dstate=$(api GET "$G_API/v1/volumes/$vol/device" | jfield state)
        expect "GET device: HYDRATING" "$dstate" HYDRATING
        guest "dm_table $dm" || true # a failed dmsetup lands in $gout and fails the check of it
        table=$gout
        guest "dmsetup status $dm" || true
        status=$gout
        echo "    table: $table"; echo "    status: $status"
        local clone_re='^0 [0-9]+ clone 7:([0-9]+) 7:([0-9]+) 43:'"${nbd#nbd}"' 128 '
        check "HYDRATING: table clone (metadata loop, destination loop, /dev/$nbd, 64 KiB regions)" \
            grep -q -E "$clone_re" <<<"$table"
        local dest_loop; dest_loop=loop$(sed -E -n "s/$clone_re.*/\\2/p" <<<"$table")
        guest "cat /sys/block/$dest_loop/loop/backing_file" || true
        expect "dm-clone's destination /dev/$dest_loop is the sink's own data file" "$gout" "/tmp/blockd/sinks/$vol.img"
        check "HYDRATING: hydration_threshold 1, batch 1 at 128 KiB/s" \
            grep -q 'hydration_threshold 1 hydration_batch_size 1 ' <<<"$status"
    fi
    gcheck "W1: $w1_len bytes at $w1_off written through $path (oflag=direct)" \
        "write_at /mnt/work/w1.bin $path $w1_off && [ \"\$(range_md5 $path $w1_off $w1_len)\" = $W1_MD5 ]"
    if [ "$mode" = dm_clone ]; then
        guest "dmsetup status $dm" || true
        status=$gout
        local hyd; hyd=$(awk '{print $7}' <<<"$status")
        check "W1 landed during hydration (hydrated/total after W1: $hyd)" eval "[ '${hyd%/*}' -lt '${hyd#*/}' ]"
    fi
    check "the source's file is unchanged: W1 stayed on the guest" [ "$(md5 "$work/a/volumes/$vol.img")" = "$SRC_MD5" ]

    # ------------------------------------------------------------ COMMITTED and blockd's cut-over
    api PUT "$G_API/v1/sinks/$vol/bandwidth" '{"bytesPerSecond":0}' >/dev/null
    t0=$(date +%s)
    if [ "$mode" = dm_clone ]; then
        guest "dmsetup status $dm" || true
        check "bandwidth unlimited reaches dm-clone: hydration_threshold 64, batch 16 ($gout)" \
            grep -q 'hydration_threshold 64 hydration_batch_size 16 ' <<<"$gout"
        # The module-wide throttle is no per-device setting blockd makes; raised here only so
        # the rest of the copy does not take minutes under TCG.
        guest "echo 100 >/sys/module/dm_clone/parameters/clone_hydration_throttle" ||
            echo "    (clone_hydration_throttle not writable: $gout; waiting)"
    fi
    state=$(await_state "$G_API/v1/sinks/$vol" COMMITTED 900)
    [ "$state" = COMMITTED ] || abort "sink did not commit: $state"
    ok "sink COMMITTED ($(($(date +%s) - t0)) s after the bandwidth went unlimited)"
    dstate=$(await_state "$G_API/v1/volumes/$vol/device" LOCAL 300)
    [ "$dstate" = LOCAL ] || abort "device not cut over: $dstate"
    ok "GET device: LOCAL ($(($(date +%s) - t0)) s)"
    guest "dm_table $dm" || true
    table=$gout
    loop=$(sed -n 's/^0 [0-9]* linear 7:\([0-9]*\) 0$/loop\1/p' <<<"$table")
    check "LOCAL table linear over /dev/$loop: $table" [ -n "$loop" ]
    loop=${loop:-loop0}
    guest "cat /sys/block/$loop/loop/backing_file" || true
    backing=$gout
    expect "/dev/$loop is on the committed volume file" "$backing" "/tmp/blockd/volumes/$vol.img"
    gcheck "/dev/$nbd disconnected after the cut-over" "nbd_free $nbd"
    gcheck "LOCAL: content = source + W1" "[ \"\$(dev_md5 $path)\" = $EXP1_MD5 ]"
    status=$(api GET "$G_API/v1/sinks/$vol")
    wire=$(jfield wireBytesReceived <<<"$status"); copied=$(jfield bytesCopiedInBackground <<<"$status")
    if [ "$mode" = dm_clone ]; then
        expect "the sink's wireBytesReceived is 0: dm-clone copied, every block crossed once" "$wire" 0
        expect "the sink's bytesCopiedInBackground is 0: the user-space copier never ran" "$copied" 0
        expect "the sink's regionsPresent = regionsTotal" "$(jfield regionsPresent <<<"$status")" "$(jfield regionsTotal <<<"$status")"
    else
        echo "    sink: wireBytesReceived $wire, bytesCopiedInBackground $copied (the user-space copier)"
    fi
    writers=$(api GET "$G_API/v1/volumes/$vol" | jfield writers)
    expect "GET /v1/volumes/$vol on the guest: writers 1 (the device is its direct writer)" "$writers" 1
    # A whole read, not just the handshake: a withdrawn export still answers the handshake.
    got=$(nbdcopy "nbd://127.0.0.1:$nbd_port/$vol" - 2>"$work/nbdcopy.err" | md5sum | cut -d' ' -f1) || true
    expect "the guest's volume $vol is served over NBD again: source + W1 $(cat "$work/nbdcopy.err")" "$got" "$EXP1_MD5"

    # ------------------------------------------------------------ fence / unfence on the guest
    set_fence fence True FENCED
    check "FENCED: table is error: '$gout'" grep -q -E '^0 [0-9]+ error *$' <<<"$gout"
    gcheck "FENCED: a write through $path fails" "! write_at /mnt/work/w3.bin $path $w3_off"
    gcheck "FENCED: a read of $path fails" "! dd if=$path of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null"
    set_fence unfence False LOCAL
    check "UNFENCED: table linear over /dev/$loop again: '$gout'" grep -q -E "^0 [0-9]+ linear 7:${loop#loop} 0 *\$" <<<"$gout"
    gcheck "UNFENCED: W2 ($w2_len bytes at $w2_off) written and read back" \
        "write_at /mnt/work/w2.bin $path $w2_off && [ \"\$(range_md5 $path $w2_off $w2_len)\" = $W2_MD5 ]"
    gcheck "content = source + W1 + W2 (W3, tried while fenced, absent)" "[ \"\$(dev_md5 $path)\" = $EXP2_MD5 ]"

    # ------------------------------------------------------------ DELETE
    code=$(api_code DELETE "$G_API/v1/volumes/$vol/device")
    expect "DELETE device: 204" "$code" 204
    code=$(api_code GET "$G_API/v1/volumes/$vol/device")
    expect "GET device after DELETE: 404" "$code" 404
    gcheck "no dlsm- device left, $path gone" "! dmsetup ls | grep -q '^dlsm-' && [ ! -e $path ]"
    gcheck "/dev/$nbd and /dev/$loop free" "nbd_free $nbd && loop_free $loop"
    if [ "$mode" = dm_clone ]; then
        gcheck "no loop device left attached (dm-clone's metadata loop too)" \
            "for f in /sys/block/loop*/loop/backing_file; do [ ! -s \$f ] || { cat \$f; exit 1; }; done; true"
    fi

    # ------------------------------------------------------------ the host reads the guest's volume
    got=$(nbdcopy "nbd://127.0.0.1:$nbd_port/$vol" - 2>"$work/nbdcopy.err" | md5sum | cut -d' ' -f1) || true
    expect "the guest's $vol over the forwarded NBD port = source + W1 + W2 $(cat "$work/nbdcopy.err")" "$got" "$EXP2_MD5"
    check "the source's file is still the source" [ "$(md5 "$work/a/volumes/$vol.img")" = "$SRC_MD5" ]
    if grep -q -E 'NoClassDefFoundError|ClassNotFoundException|UnsatisfiedLinkError' "$share/guest-blockd.log"; then
        bad "the guest's blockd log names a missing class or library: $(grep -m1 -E 'NoClassDef|ClassNotFound|UnsatisfiedLink' "$share/guest-blockd.log")"
    fi
    grep -E 'run: (DM_DISABLE_UDEV=1 )?(dmsetup [a-z]+ dlsm|nbd-client|losetup)' "$share/guest-blockd.log" |
        sed 's/.*run: /  guest blockd ran: /' || true

    t_flow=$(date +%s)
    touch "$share/stop"
    for _ in $(seq 300); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.1; done
    qemu_pid=
    timings+=("$mode: QEMU start to blockd READY $((t_ready - t_boot)) s (JVM start to READY in the guest $(awk "BEGIN{print ${ready_at#ready=} - ${ready_boot#boot=}}") s), REST flow $((t_flow - t_ready)) s, mode total $(($(date +%s) - t_mode)) s")
}

n=0
for m in $MODES; do
    n=$((n + 1))
    run_mode "$m" "v$n"
done
timings+=("guest build $((t_built - t_start)) s, total $(($(date +%s) - t_start)) s")
summary
[ "$failed" = 0 ]
