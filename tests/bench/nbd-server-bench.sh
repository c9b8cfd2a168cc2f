#!/usr/bin/env bash
# nbd-server-bench.sh - compare DLSM blockd against qemu-nbd on the same file.
#
# Both servers serve THE SAME sparse file (blockd's volume file
# DATA_DIR/volumes/bench.img), one server at a time, alternating per round
# (A B, B A, A B, ... so neither always runs first on a warm/cold system).
# The load generator is fio's `nbd` ioengine (libnbd, one connection per
# job), identical settings for both servers:
#
#   seqread   rw=read      bs=1M  iodepth=$SEQ_IODEPTH
#   seqwrite  rw=write     bs=1M  iodepth=$SEQ_IODEPTH
#   randread  rw=randread  bs=4k  iodepth=16
#
# each time_based for $RUNTIME seconds after a $RAMP second ramp (the ramp is
# not measured; it gives the JVM's JIT a fair chance, and costs qemu-nbd
# nothing). The medians over $ROUNDS rounds are printed as one table with
# blockd/qemu-nbd ratios and targets (>= 1.0x sequential, >= 0.9x random).
#
# Performance never fails the script: exit 0 unless something broke.
#
# qemu-nbd is run the way a user would serve a raw file:
#   qemu-nbd -f raw -x bench -b 127.0.0.1 -p PORT --persistent \
#            --cache=writeback --aio=threads FILE
# --cache=writeback (qemu's default) because blockd also uses buffered I/O
# and only fdatasyncs on FLUSH/FUA; comparing against O_DIRECT would be unfair
# in either direction.
#
# The file is filled once with non-zero data before any measurement so reads
# are not served from holes. With this machine's RAM the file sits in the page
# cache, so the numbers measure server + protocol overhead, not the disk.
# Each server is stopped and the file synced before the other one starts, so
# one server's dirty pages are not written back during the other's run.
#
# Environment:
#   SIZE            file/volume size in bytes, or with suffix K/M/G (default 1G)
#   ROUNDS          rounds per server (default 3)
#   RUNTIME         measured seconds per workload (default 5)
#   RAMP            unmeasured warm-up seconds per workload (default 2)
#   SEQ_IODEPTH     requests in flight for the 1 MiB sequential tests (default 8)
#   DLSM_BLOCKD_JAR blockd jar (default dlsm-blockd/target/dlsm-blockd.jar under
#                   the repo root; built with mvn if missing)
#   BLOCKD_JAVA_OPTS extra JVM options for blockd (default none: what a user runs)
#   SERVER_A        blockd (default) | qemu-nbd | nbdkit - the server compared
#                   against qemu-nbd; the others exist to validate this script
#   KEEP_WORKDIR=1  keep the temporary work dir (logs, fio JSON) for inspection
#
# Usage: tests/bench/nbd-server-bench.sh      (as root it installs missing tools)

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source=scripts/deps.sh
. "$REPO_ROOT/scripts/deps.sh"
REPORT="$SCRIPT_DIR/nbd_bench_report.py"
# Debian's python with stdlib only; a pyenv python3 on PATH is not relied on.
PY=/usr/bin/python3

SIZE=${SIZE:-1G}
ROUNDS=${ROUNDS:-3}
RUNTIME=${RUNTIME:-5}
RAMP=${RAMP:-2}
SEQ_IODEPTH=${SEQ_IODEPTH:-8}
RAND_IODEPTH=16
SERVER_A=${SERVER_A:-blockd}
SERVER_B=qemu-nbd
EXPORT=bench
DLSM_BLOCKD_JAR=${DLSM_BLOCKD_JAR:-$REPO_ROOT/dlsm-blockd/target/dlsm-blockd.jar}
BLOCKD_JAVA_OPTS=${BLOCKD_JAVA_OPTS:-}

WORK_DIR=""
DATA_DIR=""
IMG=""
RESULTS=""
SIZE_BYTES=0
CLK_TCK=$(getconf CLK_TCK)

# PIDs of every background process we start; killed on exit whatever happens.
PIDS=()
# The currently running server (one at a time).
SRV_PID=""
SRV_PORT=""
API_PORT=""

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup --

kill_pid() {
    # Polite TERM, bounded wait, then KILL: a hung server must not hang us.
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

forget_pid() {
    # Drop a reaped PID from the list so the exit trap can never signal an
    # unrelated process that later reuses the number.
    local pid=$1 i
    for i in "${!PIDS[@]}"; do
        [[ ${PIDS[i]} == "$pid" ]] && unset 'PIDS[i]'
    done
    return 0
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill_pid "$pid"
    done
    if [[ -n $WORK_DIR && -d $WORK_DIR ]]; then
        if [[ ${KEEP_WORKDIR:-0} == 1 || $rc -ne 0 ]]; then
            log "work dir kept: $WORK_DIR"
        else
            rm -rf "$WORK_DIR"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ tools --

apt_install() {
    # Install Debian packages; refresh the package lists only if needed.
    [[ $(id -u) -eq 0 ]] || die "missing $*; install it (apt-get install -y $*) or run as root"
    command -v apt-get >/dev/null || die "missing $* and no apt-get"
    log "installing $*"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
    fi
}

need_cmd() {
    # need_cmd COMMAND DEBIAN_PACKAGE
    command -v "$1" >/dev/null 2>&1 || apt_install "$2"
    command -v "$1" >/dev/null 2>&1 || die "$1 still missing after installing $2"
}

ensure_tools() {
    need_cmd fio fio
    need_cmd qemu-nbd qemu-utils
    need_cmd nbdinfo libnbd-bin
    need_cmd curl curl
    [[ -x $PY ]] || apt_install python3
    # fio's nbd engine is what makes the comparison neutral; refuse to
    # silently measure something else.
    fio --enghelp 2>/dev/null | grep -qw nbd ||
        die "this fio has no nbd ioengine (Debian's fio >= 3.16 has it)"
    case $SERVER_A in
        blockd) need_cmd java default-jre-headless ;;
        nbdkit) need_cmd nbdkit nbdkit ;;
        qemu-nbd) ;;
        *) die "SERVER_A must be blockd, qemu-nbd or nbdkit" ;;
    esac
}

ensure_jar() {
    [[ $SERVER_A == blockd ]] || return 0
    [[ -f $DLSM_BLOCKD_JAR ]] && return 0
    need_cmd mvn maven
    log "building blockd jar (missing: $DLSM_BLOCKD_JAR)"
    # Offline first (fast, works with a warm ~/.m2); online as a fallback.
    (cd "$REPO_ROOT" && { mvn -B -o -q -Dstyle.color=never -pl dlsm-blockd -am package -DskipTests ||
        mvn -B -q -Dstyle.color=never -pl dlsm-blockd -am package -DskipTests; }) >&2
    [[ -f $DLSM_BLOCKD_JAR ]] || die "build did not produce $DLSM_BLOCKD_JAR"
}

# ---------------------------------------------------------------- servers --

free_port() {
    # Ask the kernel for a free loopback port. Racy in theory, fine here.
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_export() {
    # Bounded wait until the NBD export answers a real handshake with the
    # expected size, while checking the server is still alive.
    local i size=""
    for ((i = 0; i < 300; i++)); do
        kill -0 "$SRV_PID" 2>/dev/null || die "server exited early, see $WORK_DIR/*.log"
        if size=$(nbdinfo --size "nbd://127.0.0.1:$SRV_PORT/$EXPORT" 2>/dev/null); then
            [[ $size == "$SIZE_BYTES" ]] || die "export size $size != $SIZE_BYTES"
            return 0
        fi
        sleep 0.1
    done
    die "export nbd://127.0.0.1:$SRV_PORT/$EXPORT not ready after 30 s"
}

start_blockd() {
    local out="$WORK_DIR/blockd.$1.log" i line=""
    : >"$out" # exists before the first grep, whoever wins the fork race
    # shellcheck disable=SC2086  # BLOCKD_JAVA_OPTS is a list of JVM options
    java $BLOCKD_JAVA_OPTS -jar "$DLSM_BLOCKD_JAR" --data-dir "$DATA_DIR" \
        --nbd-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 >"$out" 2>&1 &
    SRV_PID=$!
    PIDS+=("$SRV_PID")
    # blockd prints "READY nbd=127.0.0.1:P api=127.0.0.1:Q" once listening.
    for ((i = 0; i < 600; i++)); do
        line=$(grep -m1 '^READY ' "$out" || true)
        [[ -n $line ]] && break
        kill -0 "$SRV_PID" 2>/dev/null || die "blockd exited early, see $out"
        sleep 0.1
    done
    [[ -n $line ]] || die "blockd not READY after 60 s, see $out"
    [[ $line =~ nbd=127\.0\.0\.1:([0-9]+)\ api=127\.0\.0\.1:([0-9]+) ]] ||
        die "unexpected READY line: $line"
    SRV_PORT=${BASH_REMATCH[1]}
    API_PORT=${BASH_REMATCH[2]}
    ensure_volume
}

ensure_volume() {
    # The first start creates the volume (and its file). A restarted blockd
    # is expected to find it again in the data dir; if it does not, we create
    # it once more - only while the file does not exist yet, so a restart can
    # never make us silently benchmark a fresh empty file.
    local api="http://127.0.0.1:$API_PORT/v1/volumes" auth
    # blockd's API requires the token it made in its data dir at first start.
    auth=$(bearer_header_file "$DATA_DIR/api-token" "$WORK_DIR/blockd.auth")
    if curl -sf -H @"$auth" "$api/$EXPORT" >/dev/null 2>&1; then
        return 0
    fi
    [[ ! -e $IMG ]] || die "blockd did not re-open existing volume $IMG after restart"
    curl -sf -H @"$auth" -X POST -H 'Content-Type: application/json' \
        -d "{\"name\":\"$EXPORT\",\"sizeBytes\":$SIZE_BYTES}" "$api" >/dev/null ||
        die "creating volume $EXPORT via $api failed"
    [[ -f $IMG ]] || die "blockd created no file at $IMG"
}

start_qemu_nbd() {
    SRV_PORT=$(free_port)
    qemu-nbd -f raw -x "$EXPORT" -b 127.0.0.1 -p "$SRV_PORT" --persistent \
        --cache=writeback --aio=threads "$IMG" >"$WORK_DIR/qemu-nbd.$1.log" 2>&1 &
    SRV_PID=$!
    PIDS+=("$SRV_PID")
}

start_nbdkit() {
    # Stand-in for blockd while validating the script (nbdkit file plugin).
    SRV_PORT=$(free_port)
    nbdkit -f -i 127.0.0.1 -p "$SRV_PORT" -e "$EXPORT" file "$IMG" \
        >"$WORK_DIR/nbdkit.$1.log" 2>&1 &
    SRV_PID=$!
    PIDS+=("$SRV_PID")
}

start_server() {
    # start_server NAME TAG - exactly one server runs at a time.
    [[ -z $SRV_PID ]] || die "a server is already running"
    local t0=$EPOCHREALTIME
    case $1 in
        blockd) start_blockd "$2" ;;
        qemu-nbd) start_qemu_nbd "$2" ;;
        nbdkit) start_nbdkit "$2" ;;
    esac
    wait_export
    log "$(printf '%-9s %s: export ready %.2f s after start' "$1" "$2" \
        "$("$PY" -c "print($EPOCHREALTIME - $t0)")")"
}

stop_server() {
    [[ -n $SRV_PID ]] || return 0
    kill_pid "$SRV_PID"
    forget_pid "$SRV_PID"
    SRV_PID=""
    # Push this server's dirty pages to disk now, not during the other's run.
    sync "$IMG"
}

# ------------------------------------------------------------------- load --

server_cpu_ticks() {
    # utime+stime of the server process (all its threads), in clock ticks.
    # Parsed after the last ')' because the command name may contain spaces.
    local stat rest
    stat=$(<"/proc/$SRV_PID/stat")
    rest=${stat##*) }
    read -r -a f <<<"$rest"
    echo $((f[11] + f[12]))
}

run_fio() {
    # run_fio OUT_JSON fio-args... ; bounded by timeout so a stuck server
    # cannot stall the run, and tracked by PID for the exit trap.
    local out=$1 limit=$((RAMP + RUNTIME + 120))
    shift
    timeout --kill-after=5 "$limit" fio --output-format=json --output="$out" \
        --ioengine=nbd --uri="nbd://127.0.0.1:$SRV_PORT/$EXPORT" \
        --numjobs=1 --size="$SIZE_BYTES" "$@" >"$out.stderr" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait "$pid" || die "fio failed ($*), see $out.stderr"
    forget_pid "$pid"
}

fill_image() {
    # Write non-zero data over the whole volume once, through the server, and
    # flush, so read tests read data rather than holes.
    log "filling $SIZE_BYTES bytes through $SERVER_A"
    run_fio "$WORK_DIR/fill.json" --name=fill --rw=write --bs=1M \
        --iodepth="$SEQ_IODEPTH" --end_fsync=1
    local bw iops
    read -r bw iops < <("$PY" "$REPORT" parse "$WORK_DIR/fill.json" write)
    log "fill (allocating writes + flush): $("$PY" -c "print(round($bw/1e6, 1))") MB/s"
}

measure() {
    # measure ROLE(A|B) SERVER ROUND WORKLOAD
    local role=$1 server=$2 round=$3 wl=$4 out dir args
    out="$WORK_DIR/fio.$role-$server.$wl.r$round.json"
    case $wl in
        seqread) dir="read"; args=(--rw=read --bs=1M --iodepth="$SEQ_IODEPTH") ;;
        seqwrite) dir="write"; args=(--rw=write --bs=1M --iodepth="$SEQ_IODEPTH") ;;
        # norandommap: a pure random stream; the map only adds client CPU.
        randread) dir="read"; args=(--rw=randread --bs=4k --iodepth="$RAND_IODEPTH" --norandommap) ;;
    esac
    # Server CPU use over the whole fio run (ramp included) shows how much
    # of the 2 shared cores each server needs for its throughput.
    local t0 c0 t1 c1 cpu
    t0=$EPOCHREALTIME c0=$(server_cpu_ticks)
    run_fio "$out" --name="$wl" "${args[@]}" \
        --time_based --runtime="$RUNTIME" --ramp_time="$RAMP"
    t1=$EPOCHREALTIME c1=$(server_cpu_ticks)
    cpu=$("$PY" -c "print(round(100 * ($c1 - $c0) / $CLK_TCK / ($t1 - $t0), 1))")
    local bw iops
    read -r bw iops < <("$PY" "$REPORT" parse "$out" "$dir")
    [[ -n $bw && -n $iops ]] || die "could not parse $out"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$role" "$wl" "$round" "$bw" "$iops" "$cpu" >>"$RESULTS"
    log "$(printf '%-9s r%s %-9s %9.1f MB/s %9.0f IOPS  server CPU %5.1f%%' "$server" "$round" "$wl" \
        "$("$PY" -c "print($bw/1e6)")" "$iops" "$cpu")"
}

bench_server() {
    # Reads first, write last: the write leaves dirty pages that would
    # otherwise be flushed during this server's own read tests.
    # bench_server ROLE(A|B) SERVER ROUND
    local role=$1 server=$2 round=$3 wl
    start_server "$server" "$role$round"
    for wl in seqread randread seqwrite; do
        measure "$role" "$server" "$round" "$wl"
    done
    stop_server
}

# ------------------------------------------------------------------- main --

parse_size() {
    local s=$1
    [[ $s =~ ^[0-9]+[KMG]?$ ]] || die "SIZE must be bytes or N[KMG]: $s"
    case $s in
        *K) echo $((${s%K} * 1024)) ;;
        *M) echo $((${s%M} * 1024 * 1024)) ;;
        *G) echo $((${s%G} * 1024 * 1024 * 1024)) ;;
        *) echo "$s" ;;
    esac
}

main() {
    SIZE_BYTES=$(parse_size "$SIZE")
    ((SIZE_BYTES >= 16 * 1024 * 1024 && SIZE_BYTES % 4096 == 0)) ||
        die "SIZE must be >= 16M and a multiple of 4096"
    [[ $ROUNDS =~ ^[1-9][0-9]*$ && $RUNTIME =~ ^[1-9][0-9]*$ && $RAMP =~ ^[0-9]+$ &&
        $SEQ_IODEPTH =~ ^[1-9][0-9]*$ ]] || die "ROUNDS/RUNTIME/SEQ_IODEPTH must be positive integers"

    ensure_tools
    ensure_jar

    WORK_DIR=$(mktemp -d /tmp/nbd-bench.XXXXXX)
    DATA_DIR="$WORK_DIR/data"
    IMG="$DATA_DIR/volumes/$EXPORT.img"
    RESULTS="$WORK_DIR/results.tsv"
    mkdir -p "$DATA_DIR"
    : >"$RESULTS"

    # Other work on the machine makes every number noisy; say so up front.
    local load_start
    load_start=$(cut -d' ' -f1-3 /proc/loadavg)
    log "servers: $SERVER_A vs $SERVER_B; size=$SIZE_BYTES rounds=$ROUNDS" \
        "runtime=${RUNTIME}s ramp=${RAMP}s seq_iodepth=$SEQ_IODEPTH rand_iodepth=$RAND_IODEPTH"
    if [[ $SERVER_A != blockd ]]; then
        # Stand-ins need the sparse file blockd would otherwise create.
        mkdir -p "$(dirname "$IMG")"
        truncate -s "$SIZE_BYTES" "$IMG"
    fi
    start_server "$SERVER_A" fill
    fill_image
    stop_server

    local round
    for ((round = 1; round <= ROUNDS; round++)); do
        # Alternate who goes first to cancel out ordering effects.
        if ((round % 2)); then
            bench_server A "$SERVER_A" "$round"
            bench_server B "$SERVER_B" "$round"
        else
            bench_server B "$SERVER_B" "$round"
            bench_server A "$SERVER_A" "$round"
        fi
    done

    echo
    echo "NBD server benchmark: $SERVER_A vs $SERVER_B, same file, 127.0.0.1, fio nbd engine (1 connection)"
    echo "size=$SIZE_BYTES rounds=$ROUNDS runtime=${RUNTIME}s ramp=${RAMP}s" \
        "seq: bs=1M iodepth=$SEQ_IODEPTH; rand: bs=4k iodepth=$RAND_IODEPTH; $(nproc) CPUs"
    echo "load average before: $load_start, after: $(cut -d' ' -f1-3 /proc/loadavg)"
    if "$PY" -c "import sys; sys.exit(0 if max(float(x) for x in '$load_start $(cut -d' ' -f1 /proc/loadavg)'.split()) > 1.0 else 1)"; then
        echo "NOTE: the machine was busy with other work; expect wide round-to-round spread"
    fi
    echo
    "$PY" "$REPORT" table "$RESULTS" "$SERVER_A" "$SERVER_B"
}

main "$@"
