#!/usr/bin/env bash
# Hydration benchmark of DLSM's migration sink (blockd), printed as one table.
#
#   1. loopback hydration throughput vs nbdcopy from qemu-nbd over the same data
#   2. hydration over two network namespaces joined by a veth shaped with tc tbf to 1 Gbit/s
#   3. first-touch 4 KiB read latency (p50/p99) through the sink while it hydrates (throttled)
#   4. wire bytes / allocated bytes while a writer rewrites 20 % of the volume through the sink
#
# Targets are reported as PASS/MISS; performance is never asserted: the script exits 0 unless
# something broke (a daemon did not start, a migration did not complete, data mismatched).
#
# Env knobs:
#   SIZE      volume size in bytes, multiple of 64 KiB (default 1 GiB)
#   JAR       dlsm-blockd.jar (default: dlsm-blockd/target/dlsm-blockd.jar of this checkout)
#   THROTTLE  copier bandwidth (bytes/s) while rows 3 and 4 run (default 50000000)
#   READS     number of first-touch reads in row 3 (default 2000)
#   SEED      seed of the random offsets and rewritten regions (default 42)
#   ROWS      which rows to run, e.g. "1 3" (default "1 2 3 4")
#   ROW2_MTUS veth MTUs row 2 runs with, once each (default "1500 9000")
#   WARMUP    1 (default): one unmeasured migration first, so rows 1 and 3 see a warm JIT
#   WARM_READS unmeasured first-touch reads of row 3's warm-up migration (default 8000)
#   JAVA_OPTS extra JVM options for every blockd (e.g. -Xlog:gc)
#   BLOCKD_ARGS extra blockd options for every blockd (e.g. --io-threads 4)
#   KEEP_WORK=1 keeps the scratch directory (logs, images)
#
# Needs root (row 2 creates network namespaces). Uses only 127.0.0.1 and 198.18.0.0/15
# addresses inside namespaces it creates; every process it starts is stopped by PID on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=scripts/deps.sh
. "$ROOT/scripts/deps.sh"
SIZE=${SIZE:-1073741824}
JAR=${JAR:-$ROOT/dlsm-blockd/target/dlsm-blockd.jar}
THROTTLE=${THROTTLE:-50000000}
READS=${READS:-2000}
SEED=${SEED:-42}
ROWS=${ROWS:-1 2 3 4}
# Row 2 once per MTU: Ethernet's 1500, whose headers cap TCP at 0.956 of the link, and the
# jumbo frames storage and migration networks between compute nodes are usually given.
ROW2_MTUS=${ROW2_MTUS:-1500 9000}
# blockd is a long-running daemon; a fresh JVM spends the first second compiling. WARMUP=1
# migrates one volume between the same two daemons before the measured one (row 1), so the
# row compares steady states; WARMUP=0 measures a cold start instead.
WARMUP=${WARMUP:-1}
WARM_READS=${WARM_READS:-8000}
REGION=65536
REWRITE_FRACTION=0.2
LINK_BPS=125000000 # 1 Gbit/s in bytes/s
# tbf's bucket must hold at least what arrives per timer tick, rate/HZ (tc-tbf(8)); a smaller
# one drops the tokens of a late tick and caps the link below its rate: 500 KB at 1 Gbit/s
# with HZ=250 (256 KiB was used until 2026-12-02). The bias it allows is the bucket once per
# transfer: 0.05 % of row 2's 1 GiB.
KERNEL_HZ=$(sed -n 's/^CONFIG_HZ=//p' "/boot/config-$(uname -r)" 2>/dev/null || true) # no config: assume the slowest tick
KERNEL_HZ=${KERNEL_HZ:-100}
TBF_BURST=$(( (LINK_BPS + KERNEL_HZ - 1) / KERNEL_HZ ))
[ "$TBF_BURST" -ge 262144 ] || TBF_BURST=262144
PY=/usr/bin/python3 # the system interpreter: it has python3-libnbd (pyenv's does not)
HELPER=$HERE/hydration_helper.py
STEP_TIMEOUT=${STEP_TIMEOUT:-300} # seconds any single wait may take

PIDS=()
NETNS=()
WORK=""
ROWS_OUT=()
# Set by start_blockd (VAR_nbd, VAR_api, VAR_pid) and start_qemu_nbd.
A_nbd="" A_api="" A_pid="" B_nbd="" B_api="" B_pid="" NA_nbd="" NA_api="" NA_pid="" NB_api="" NB_pid=""
QEMU_NBD_PID="" ACTIVATED_AT=""

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

cleanup() {
    local rc=$? pid i
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for ns in "${NETNS[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ ${KEEP_WORK:-0} == 1 || $rc -ne 0 ]]; then
            log "scratch directory kept: $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- prerequisites
ensure_tools() {
    local missing=()
    command -v qemu-nbd >/dev/null || missing+=(qemu-utils)
    command -v nbdcopy >/dev/null || missing+=(libnbd-bin)
    command -v tc >/dev/null || missing+=(iproute2)
    command -v curl >/dev/null || missing+=(curl)
    "$PY" -c 'import nbd' 2>/dev/null || missing+=(python3-libnbd)
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        timeout 600 apt-get install -y "${missing[@]}" >&2
    fi
    command -v java >/dev/null || die "java is not installed"
    [[ -f $JAR ]] || die "no blockd jar at $JAR (build: mvn -B -o -q -pl dlsm-blockd -am package -DskipTests)"
    [[ $(id -u) == 0 ]] || die "row 2 needs root (network namespaces)"
    ((SIZE % REGION == 0)) || die "SIZE must be a multiple of $REGION"
}

py() { "$PY" "$HELPER" "$@"; }

# Run a command in a namespace ("" = the current one).
in_ns() {
    local ns=$1
    shift
    if [[ -n $ns ]]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

now() { date +%s.%N; }
# cpu_secs PID: user+system CPU seconds the process has used so far.
cpu_secs() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
calc() { awk "BEGIN { printf \"%s\", $1 }"; }

# ---------------------------------------------------------------- blockd and its API
# The bearer-token header file of each blockd API address.
declare -A AUTH
# start_blockd VAR NS NBD_ADDR API_ADDR: starts a blockd, sets VAR_nbd and VAR_api.
start_blockd() {
    local var=$1 ns=$2 nbd=$3 api=$4 dir="$WORK/$1" line="" i pid
    mkdir -p "$dir"
    # shellcheck disable=SC2206 # JAVA_OPTS is a list of words on purpose
    local cmd=(java ${JAVA_OPTS:-} -jar "$JAR" --data-dir "$dir" --nbd-listen "$nbd" --api-listen "$api" ${BLOCKD_ARGS:-})
    [[ -n $ns ]] && cmd=(ip netns exec "$ns" "${cmd[@]}")
    # A simple command in the background: $! is the daemon's own PID (ip netns exec execs it).
    "${cmd[@]}" >"$dir.out" 2>"$dir.log" &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 600; i++)); do
        line=$(grep -m1 '^READY ' "$dir.out" 2>/dev/null || true)
        [[ -n $line ]] && break
        kill -0 "$pid" 2>/dev/null || die "blockd $var exited; see $dir.log"
        sleep 0.1
    done
    [[ -n $line ]] || die "blockd $var did not print READY within 60 s"
    [[ $line =~ nbd=([^ ]+)\ api=([^ ]+) ]] || die "unexpected READY line: $line"
    # Its API requires the token it made (none with --insecure-no-auth in BLOCKD_ARGS).
    AUTH[${BASH_REMATCH[2]}]=/dev/null
    [[ -f $dir/api-token ]] && AUTH[${BASH_REMATCH[2]}]=$(bearer_header_file "$dir/api-token" "$dir.auth")
    printf -v "${var}_nbd" '%s' "${BASH_REMATCH[1]}"
    printf -v "${var}_api" '%s' "${BASH_REMATCH[2]}"
    printf -v "${var}_pid" '%s' "$pid"
    log "blockd $var up (pid $pid, ${BASH_REMATCH[1]} / ${BASH_REMATCH[2]})"
}

# api NS METHOD HOST:PORT PATH [JSON]: prints the response body; fails on HTTP errors.
api() {
    local ns=$1 method=$2 addr=$3 path=$4 body=${5:-}
    local args=(-sS --fail-with-body -m 60 -X "$method" -H @"${AUTH[$addr]}" -H 'Content-Type: application/json')
    [[ -n $body ]] && args+=(-d "$body")
    in_ns "$ns" curl "${args[@]}" "http://$addr$path" || die "$method $path failed: $body"
}

field() { py field "$@"; }

# fill_volume NS API NBD NAME: creates volume NAME of SIZE and writes the random data into it.
fill_volume() {
    local ns=$1 apiaddr=$2 nbdaddr=$3 name=$4
    api "$ns" POST "$apiaddr" /v1/volumes "{\"name\":\"$name\",\"sizeBytes\":$SIZE}" >/dev/null
    in_ns "$ns" timeout "$STEP_TIMEOUT" nbdcopy --flush "$WORK/random.img" "nbd://$nbdaddr/$name"
    # Let writeback of the setup data finish so it does not disturb the measurement.
    timeout "$STEP_TIMEOUT" sync
}

# migrate NS_SRC API_SRC NBD_SRC NS_DST API_DST NAME BANDWIDTH: open the migration export,
# create the sink, fence the source, activate. Sets ACTIVATED_AT (epoch seconds).
migrate() {
    local nss=$1 apis=$2 nbds=$3 nsd=$4 apid=$5 name=$6 bw=$7 exp
    exp=$(api "$nss" POST "$apis" "/v1/volumes/$name/migration-export" | field migrationExport)
    [[ -n $exp ]] || die "no migration export for $name"
    api "$nsd" POST "$apid" /v1/sinks "{\"name\":\"$name\",\"source\":{\"host\":\"${nbds%:*}\",\"port\":${nbds##*:},\"export\":\"$exp\"},\"regionSize\":$REGION,\"autoCommit\":true,\"bandwidthBytesPerSecond\":$bw}" >/dev/null
    api "$nss" POST "$apis" "/v1/volumes/$name/fence" >/dev/null
    ACTIVATED_AT=$(now)
    api "$nsd" POST "$apid" "/v1/sinks/$name/activate" '{}' >/dev/null
}

# wait_sink NS API NAME STATES: waits (bounded) and prints the sink JSON.
wait_sink() {
    in_ns "$1" "$PY" "$HELPER" wait "http://$2/v1/sinks/$3" "$4" "$STEP_TIMEOUT" "${AUTH[$2]}" ||
        die "sink $3 did not reach $4 within ${STEP_TIMEOUT}s"
}

# start_qemu_nbd NS ADDR PORT EXPORT FILE: read-only qemu-nbd, waits until it answers.
start_qemu_nbd() {
    local ns=$1 addr=$2 port=$3 export=$4 file=$5 i pid
    local cmd=(qemu-nbd -f raw -r -t -e 16 -x "$export" -b "$addr" -p "$port" "$file")
    [[ -n $ns ]] && cmd=(ip netns exec "$ns" "${cmd[@]}")
    "${cmd[@]}" >"$WORK/qemu-nbd-$port.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 100; i++)); do
        in_ns "$ns" nbdinfo --size "nbd://$addr:$port/$export" >/dev/null 2>&1 && { QEMU_NBD_PID=$pid; return 0; }
        kill -0 "$pid" 2>/dev/null || die "qemu-nbd exited; see $WORK/qemu-nbd-$port.log"
        sleep 0.1
    done
    die "qemu-nbd did not answer within 10 s"
}

stop_pid() {
    local pid=$1 i
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# nbdcopy_secs NS URI DEST: seconds for nbdcopy (flushing the destination at the end).
# NBDCOPY_CPU: CPU seconds (user + system) the last nbdcopy used.
NBDCOPY_CPU=""
nbdcopy_secs() {
    local ns=$1 uri=$2 dest=$3 t0 TIMEFORMAT='%U %S'
    rm -f "$dest"
    t0=$(now)
    { time in_ns "$ns" timeout "$STEP_TIMEOUT" nbdcopy --flush "$uri" "$dest" 2>"$WORK/nbdcopy.err"; } 2>"$WORK/nbdcopy.cpu"
    calc "$(now) - $t0"
    NBDCOPY_CPU=$(awk 'END { printf "%.2f", $1 + $2 }' "$WORK/nbdcopy.cpu")
    cmp -s "$dest" "$WORK/random.img" || die "nbdcopy's copy differs from the source data"
    rm -f "$dest"
}

mbps() { calc "sprintf(\"%.1f\", $SIZE / $1 / 1e6)"; }
row() { ROWS_OUT+=("$(printf '%s\t%s\t%s\t%s\t%s' "$@")"); }
verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo MISS; fi; }

# ---------------------------------------------------------------- loopback pair (rows 1, 3, 4)
loopback_up() {
    [[ -n $A_nbd ]] && return 0
    start_blockd A "" 127.0.0.1:0 127.0.0.1:0
    start_blockd B "" 127.0.0.1:0 127.0.0.1:0
}

row1() {
    log "row 1: loopback hydration vs nbdcopy ($SIZE bytes)"
    loopback_up
    if [ "$WARMUP" = 1 ]; then
        log "row 1: warm-up migration (WARMUP=1)"
        fill_volume "" "$A_api" "$A_nbd" warm
        migrate "" "$A_api" "$A_nbd" "" "$B_api" warm 0
        wait_sink "" "$B_api" warm COMMITTED >/dev/null
    fi
    fill_volume "" "$A_api" "$A_nbd" v1
    local hyd wall final t12 src=$WORK/A/volumes/v1.img port qsecs dm nc ratio ca cb qa cpu_dlsm cpu_nbdcopy
    ca=$(cpu_secs "$A_pid")
    cb=$(cpu_secs "$B_pid")
    migrate "" "$A_api" "$A_nbd" "" "$B_api" v1 0
    hyd=$(wait_sink "" "$B_api" v1 HYDRATED,COMMITTED)
    wall=$(calc "$(now) - $ACTIVATED_AT")
    ca=$(calc "$(cpu_secs "$A_pid") - $ca")
    cb=$(calc "$(cpu_secs "$B_pid") - $cb")
    log "row 1: CPU seconds during hydration: source blockd $ca, sink blockd $cb"
    final=$(wait_sink "" "$B_api" v1 COMMITTED)
    t12=$(py t12 <<<"$final")
    log "v1: t1->t2 ${t12}s, activate->HYDRATED (polled) ${wall}s; $(field wireBytesReceived bytesCopiedInBackground <<<"$hyd" | tr '\n' ' ')"
    cmp -s "$WORK/B/volumes/v1.img" "$WORK/random.img" || die "row 1: hydrated volume differs from the source"

    port=$(py freeport)
    start_qemu_nbd "" 127.0.0.1 "$port" v1 "$src"
    qa=$(cpu_secs "$QEMU_NBD_PID")
    nbdcopy_secs "" "nbd://127.0.0.1:$port/v1" "$WORK/nbdcopy-dest.img" >"$WORK/nbdcopy.secs"
    qsecs=$(cat "$WORK/nbdcopy.secs")
    qa=$(calc "$(cpu_secs "$QEMU_NBD_PID") - $qa")
    stop_pid "$QEMU_NBD_PID"
    log "row 1: CPU seconds of the nbdcopy run: qemu-nbd $qa, nbdcopy $NBDCOPY_CPU"
    dm=$(mbps "$t12")
    nc=$(mbps "$qsecs")
    ratio=$(calc "sprintf(\"%.2f\", $dm / $nc)")
    # CPU per GiB moved, both ends: what a copy costs the node's guests, steadier than speed
    # on a shared machine.
    cpu_dlsm=$(calc "sprintf(\"%.2f\", ($ca + $cb) * 1073741824 / $SIZE)")
    cpu_nbdcopy=$(calc "sprintf(\"%.2f\", ($qa + $NBDCOPY_CPU) * 1073741824 / $SIZE)")
    row 1 "hydration vs nbdcopy, loopback" \
        "DLSM ${dm} MB/s (t1->t2 $(calc "sprintf(\"%.2f\", $t12)") s, wall $(calc "sprintf(\"%.2f\", $wall)") s, CPU ${cpu_dlsm} s/GiB); nbdcopy ${nc} MB/s ($(calc "sprintf(\"%.2f\", $qsecs)") s, CPU ${cpu_nbdcopy} s/GiB with qemu-nbd); ratio ${ratio}x" \
        ">= 1.0x" "$(verdict "$ratio >= 1.0")"
}

# row2 MTU: one run of row 2 with that MTU on the veth.
row2() {
    local mtu=$1
    log "row 2: hydration over a 1 Gbit/s tbf-shaped veth between two namespaces, MTU $mtu"
    local nsa="dlsmbench-a$mtu-$$" nsb="dlsmbench-b$mtu-$$" va="vdla$mtu$$" vb="vdlb$mtu$$" vol="v2m$mtu"
    ip netns add "$nsa"
    NETNS+=("$nsa")
    ip netns add "$nsb"
    NETNS+=("$nsb")
    ip link add "$va" type veth peer name "$vb"
    ip link set "$va" netns "$nsa"
    ip link set "$vb" netns "$nsb"
    ip -n "$nsa" addr add 198.18.0.1/24 dev "$va"
    ip -n "$nsb" addr add 198.18.0.2/24 dev "$vb"
    ip -n "$nsa" link set lo up
    ip -n "$nsb" link set lo up
    ip -n "$nsa" link set "$va" mtu "$mtu" up
    ip -n "$nsb" link set "$vb" mtu "$mtu" up
    # A sends the data: shape A's egress.
    tc -n "$nsa" qdisc replace dev "$va" root tbf rate 1gbit burst "$TBF_BURST" latency 50ms

    start_blockd NA "$nsa" 198.18.0.1:0 127.0.0.1:0
    start_blockd NB "$nsb" 198.18.0.2:0 127.0.0.1:0
    fill_volume "$nsa" "$NA_api" "$NA_nbd" "$vol"
    migrate "$nsa" "$NA_api" "$NA_nbd" "$nsb" "$NB_api" "$vol" 0
    local final t12 qsecs dm nc fd fn wire ceiling
    wait_sink "$nsb" "$NB_api" "$vol" HYDRATED,COMMITTED >/dev/null
    final=$(wait_sink "$nsb" "$NB_api" "$vol" COMMITTED)
    t12=$(py t12 <<<"$final")
    wire=$(field wireBytesReceived <<<"$final")
    cmp -s "$WORK/NB/volumes/$vol.img" "$WORK/random.img" || die "row 2: hydrated volume differs from the source"
    stop_pid "$NA_pid"
    stop_pid "$NB_pid"

    start_qemu_nbd "$nsa" 198.18.0.1 10809 "$vol" "$WORK/NA/volumes/$vol.img"
    qsecs=$(nbdcopy_secs "$nsb" "nbd://198.18.0.1:10809/$vol" "$WORK/nbdcopy-shaped.img")
    stop_pid "$QEMU_NBD_PID"
    log "tbf: $(tc -n "$nsa" -s qdisc show dev "$va" | tr '\n' ' ')"

    dm=$(mbps "$t12")
    nc=$(mbps "$qsecs")
    fd=$(calc "sprintf(\"%.2f\", $dm * 1e6 / $LINK_BPS)")
    fn=$(calc "sprintf(\"%.2f\", $nc * 1e6 / $LINK_BPS)")
    # What TCP can carry at this MTU: tbf counts each frame with its Ethernet header (14
    # bytes); IP and TCP with timestamps take 52 of the MTU.
    ceiling=$(calc "sprintf(\"%.3f\", ($mtu - 52) / ($mtu + 14))")
    row 2 "hydration over netns veth, tbf 1 Gbit/s (bucket $TBF_BURST B, HZ $KERNEL_HZ), MTU $mtu" \
        "DLSM ${dm} MB/s = ${fd} of link (t1->t2 $(calc "sprintf(\"%.2f\", $t12)") s, wire $((wire / 1000000)) MB); nbdcopy ${nc} MB/s = ${fn} of link; TCP payload ceiling at this MTU ${ceiling}" \
        ">= 0.95 of 125 MB/s" "$(verdict "$fd >= 0.95")"
}

# first_touch NAME N SEED: migrates a fresh volume NAME with the copier throttled, reads N
# first-touch 4 KiB offsets through the sink and then from the source, lifts the throttle and
# waits for COMMITTED. Sets FT_SINK, FT_SINK_PRESENT (the same reads again, the blocks now
# present) and FT_SOURCE ("n p50 p99 max p99-without-first-10%" in
# us) and FT_ONDEMAND (regions fetched on demand).
FT_SINK="" FT_SINK_PRESENT="" FT_SOURCE="" FT_ONDEMAND="" FT_BLOCKED=""
# blocked PID: how often the process's threads have blocked so far (voluntary context
# switches): a thread hand-off is one block and one wake-up, so per read it counts hand-offs
# (plus whatever the copier does meanwhile).
blocked() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ { s += $2 } END { print s + 0 }'; }
first_touch() {
    local name=$1 n=$2 seed=$3 st total present first
    fill_volume "" "$A_api" "$A_nbd" "$name"
    migrate "" "$A_api" "$A_nbd" "" "$B_api" "$name" "$THROTTLE"
    st=$(api "" GET "$B_api" "/v1/sinks/$name")
    total=$(field regionsTotal <<<"$st")
    present=$(field regionsPresent <<<"$st")
    # The copier walks regions in order: read only regions it cannot reach for >= 10 s.
    first=$((present + THROTTLE * 10 / REGION + 1))
    ((first + n <= total)) || first=$((total - n))
    ((first > present)) || die "row 3: volume too small for $n absent regions; lower THROTTLE or raise SIZE"
    py offsets "$SIZE" "$REGION" "$n" "$seed" "$first" >"$WORK/offsets-$name"
    local ca cb
    ca=$(blocked "$A_pid") cb=$(blocked "$B_pid")
    FT_SINK=$(py reads "nbd://$B_nbd/$name" "$WORK/offsets-$name" "$WORK/latency-sink-$name.ns")
    FT_BLOCKED="$(calc "sprintf(\"%.2f\", ($(blocked "$A_pid") - $ca) / $n)") $(calc "sprintf(\"%.2f\", ($(blocked "$B_pid") - $cb) / $n)")"
    FT_ONDEMAND=$(($(api "" GET "$B_api" "/v1/sinks/$name" | field bytesFetchedOnDemand) / REGION))
    # The same blocks again, now present: what a guest pays for data that has arrived.
    FT_SINK_PRESENT=$(py reads "nbd://$B_nbd/$name" "$WORK/offsets-$name" "$WORK/latency-sink-present-$name.ns")
    FT_SOURCE=$(py reads "nbd://$A_nbd/$name" "$WORK/offsets-$name" "$WORK/latency-source-$name.ns")
    api "" PUT "$B_api" "/v1/sinks/$name/bandwidth" '{"bytesPerSecond":0}' >/dev/null
    wait_sink "" "$B_api" "$name" COMMITTED >/dev/null
    cmp -s "$WORK/B/volumes/$name.img" "$WORK/random.img" || die "row 3: hydrated volume $name differs from the source"
}

row3() {
    log "row 3: first-touch 4 KiB reads during throttled hydration ($READS reads, copier at $THROTTLE B/s)"
    loopback_up
    local cold=""
    if [ "$WARMUP" = 1 ]; then
        # A fresh JVM compiles the on-demand path (sink and source) during its first few
        # thousand fetches, and the compiler threads compete for the 2 cores: p99 ~4 ms then,
        # ~0.7 ms once compiled. A node's blockd runs for months, so the row measures a warm
        # daemon; the cold-JVM figure is printed beside it.
        log "row 3: warm-up migration with $WARM_READS unmeasured first-touch reads (WARMUP=1)"
        first_touch w3 "$WARM_READS" "$((SEED + 1))"
        cold=$FT_SINK
    fi
    first_touch v3 "$READS" "$SEED"
    log "row 3: sink [n p50 p99 max p99-after-first-10% us] $FT_SINK; source $FT_SOURCE; on-demand regions $FT_ONDEMAND"
    log "row 3: the same reads again through the sink, blocks present: $FT_SINK_PRESENT"
    log "row 3: thread blocks per sink read: source blockd ${FT_BLOCKED% *}, sink blockd ${FT_BLOCKED#* }"
    local sp50 sp99 sw99 bp50 bp99 cp99=""
    read -r _ sp50 sp99 _ sw99 <<<"$FT_SINK"
    read -r _ bp50 bp99 _ _ <<<"$FT_SOURCE"
    local pp50 pp99
    read -r _ pp50 pp99 _ _ <<<"$FT_SINK_PRESENT"
    if [[ -n $cold ]]; then
        read -r _ _ cp99 _ _ <<<"$cold"
        cp99="; cold JVM (warm-up reads) p99 $(calc "sprintf(\"%.3f\", $cp99 / 1000)") ms"
    fi
    row 3 "first-touch 4 KiB read via sink, loopback" \
        "p50 $(calc "sprintf(\"%.3f\", $sp50 / 1000)") ms, p99 $(calc "sprintf(\"%.3f\", $sp99 / 1000)") ms (p99 without the first 10 %: $(calc "sprintf(\"%.3f\", $sw99 / 1000)") ms; $FT_ONDEMAND/$READS fetched on demand); source direct p50 $(calc "sprintf(\"%.3f\", $bp50 / 1000)") ms, p99 $(calc "sprintf(\"%.3f\", $bp99 / 1000)") ms; again via sink, present: p50 $(calc "sprintf(\"%.3f\", $pp50 / 1000)") ms, p99 $(calc "sprintf(\"%.3f\", $pp99 / 1000)") ms$cp99" \
        "p99 <= 2 ms" "$(verdict "$sp99 <= 2000")"
}

row4() {
    log "row 4: wire bytes with a writer rewriting 20 % of the volume during the copy"
    loopback_up
    fill_volume "" "$A_api" "$A_nbd" v4
    migrate "" "$A_api" "$A_nbd" "" "$B_api" v4 "$THROTTLE"
    local w final alloc wire never ratio bad
    w=$(py writer "nbd://$B_nbd/v4" "$SIZE" "$REGION" "$REWRITE_FRACTION" "$SEED") || die "row 4: writer failed"
    log "row 4: writer [regions seconds] $w"
    api "" PUT "$B_api" /v1/sinks/v4/bandwidth '{"bytesPerSecond":0}' >/dev/null
    final=$(wait_sink "" "$B_api" v4 COMMITTED)
    alloc=$(api "" GET "$A_api" /v1/volumes/v4 | field allocatedBytes)
    wire=$(field wireBytesReceived <<<"$final")
    never=$(field bytesOverwrittenNeverFetched <<<"$final")
    log "row 4: $(field bytesFetchedOnDemand bytesCopiedInBackground bytesSkippedAsHoles bytesOverwrittenNeverFetched wireBytesReceived <<<"$final" | tr '\n' ' ')"
    bad=$(py verify "$WORK/B/volumes/v4.img" "$WORK/random.img" "$SIZE" "$REGION" "$REWRITE_FRACTION" "$SEED") ||
        die "row 4: $bad regions of the committed volume hold wrong data"
    ratio=$(calc "sprintf(\"%.3f\", $wire / $alloc)")
    row 4 "wire/allocated, 20 % rewritten during copy" \
        "${ratio} (wire $((wire / 1000000)) MB / allocated $((alloc / 1000000)) MB; overwritten never fetched $((never / 1000000)) MB)" \
        "< 1.0" "$(verdict "$ratio < 1.0")"
}

print_table() {
    local r
    printf '\nDLSM hydration benchmark  (SIZE=%s, region %s, %s, %s cores)\n' "$SIZE" "$REGION" "$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)"
    printf '| # | measurement | result | target | verdict |\n|---|---|---|---|---|\n'
    for r in "${ROWS_OUT[@]}"; do
        IFS=$'\t' read -r a b c d e <<<"$r"
        printf '| %s | %s | %s | %s | %s |\n' "$a" "$b" "$c" "$d" "$e"
    done
}

main() {
    ensure_tools
    WORK=$(mktemp -d /tmp/hydration-bench.XXXXXX)
    log "scratch $WORK; generating $SIZE bytes of random data"
    head -c "$SIZE" /dev/urandom >"$WORK/random.img"
    local r
    for r in $ROWS; do
        case $r in
        1) row1 ;;
        2) for mtu in $ROW2_MTUS; do row2 "$mtu"; done ;;
        3) row3 ;;
        4) row4 ;;
        *) die "unknown row $r" ;;
        esac
    done
    print_table
}

main "$@"
