#!/usr/bin/env bash
# tls-bench.sh - what NBD over TLS costs blockd, against blockd in the clear and qemu-nbd with TLS.
#
# One blockd started with --tls offer serves the same volume to plain and to TLS clients (same
# process, same warm JIT), and qemu-nbd with tls-creds-x509 serves the very same file; the
# client is libnbd's nbdcopy reading the whole volume to null:, one connection:
#
#   read 1 MiB   nbdcopy --connections=1 --requests=8  --request-size=1048576
#   read 4 KiB   nbdcopy --connections=1 --requests=16 --request-size=4096
#
# Rounds are interleaved (the order of the three servers rotates each round) after WARMUP
# unmeasured rounds. Then hydration: a pair of blockd nodes in the clear and a pair with TLS
# required on both, each round a fresh sink on B copies A's volume (force-activated, no commit)
# and the time from activate to HYDRATED is taken, the two pairs alternating.
#
# Printed: MB/s per server and workload (min/median/max) and the ratios blockd-TLS/blockd-clear
# and blockd-TLS/qemu-nbd-TLS per round (min/median/max). Certificates are made with openssl.
# Performance never fails the script; it exits non-zero only if something broke.
#
# Env: SIZE (MiB read per run, default 512), HSIZE (MiB hydrated per round, default 256),
#      ROUNDS (default 5), WARMUP (default 2), JAR (blockd jar), JAVA (blockd's java, default the
#      one on PATH: its AES-GCM is what TLS costs), JAVA_OPTS (blockd's JVM options),
#      KEEP_WORK=1 (keep scratch).
# Uses 127.0.0.1 only; every process it starts is stopped by PID on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SIZE=${SIZE:-512}
HSIZE=${HSIZE:-256}
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-2}
JAR=${JAR:-$ROOT/dlsm-blockd/target/dlsm-blockd.jar}
JAVA=${JAVA:-java}
PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/dlsm-tls-bench.XXXXXX)
RESULTS=$WORK/results.tsv
PIDS=()

log() { printf '[tls-bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ ${KEEP_WORK:-0} == 1 || $rc -ne 0 ]]; then log "scratch kept: $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in openssl nbdcopy qemu-nbd curl java; do
    command -v "$tool" >/dev/null || die "$tool is not installed (scripts/deps.sh installs the stack)"
done
[[ -f $JAR ]] || die "no blockd jar at $JAR (mvn -B -o -q -pl dlsm-blockd -am package -DskipTests)"
# A private copy: a rebuild of the checkout while the daemons run must not pull classes from under them.
cp "$JAR" "$WORK/blockd.jar"
JAR=$WORK/blockd.jar

# ---------------------------------------------------------------- certificates
PKI=$WORK/pki
mkdir -p "$PKI"
make_ca() {
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -keyout "$PKI/ca-key.pem" -out "$PKI/ca-cert.pem" -subj "/O=DLSM bench/CN=bench CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
# make_leaf NAME: NAME-cert.pem / NAME-key.pem for 127.0.0.1, usable as server and client.
make_leaf() {
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1\n' \
        >"$PKI/$1.ext"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$PKI/$1-key.pem" \
        -out "$PKI/$1.csr" -subj "/O=DLSM bench/CN=$1" 2>/dev/null
    openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca-cert.pem" -CAkey "$PKI/ca-key.pem" -CAcreateserial \
        -days 2 -out "$PKI/$1-cert.pem" -extfile "$PKI/$1.ext" 2>/dev/null
}
# gnutls_dir DIR ENDPOINT NAME: the layout QEMU's tls-creds-x509 and libnbd read.
gnutls_dir() {
    mkdir -p "$1"
    cp "$PKI/ca-cert.pem" "$1/ca-cert.pem"
    cp "$PKI/$3-cert.pem" "$1/$2-cert.pem"
    cp "$PKI/$3-key.pem" "$1/$2-key.pem"
}
make_ca
for n in node-a node-b client qemu; do make_leaf "$n"; done
gnutls_dir "$WORK/client-creds" client client
gnutls_dir "$WORK/qemu-creds" server qemu
tls_args() { echo "--tls-cert $PKI/$1-cert.pem --tls-key $PKI/$1-key.pem --tls-ca $PKI/ca-cert.pem"; }

# ---------------------------------------------------------------- daemons
# start_blockd VAR ARGS...: sets VAR_nbd (port) and VAR_api (host:port).
start_blockd() {
    local var=$1 dir=$WORK/$1 line="" i pid
    shift
    mkdir -p "$dir"
    # shellcheck disable=SC2086 # JAVA_OPTS is a list of words on purpose
    "$JAVA" ${JAVA_OPTS:-} -jar "$JAR" --data-dir "$dir" --nbd-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 "$@" \
        >"$dir.out" 2>"$dir.log" &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 1800; i++)); do
        line=$(grep -m1 '^READY ' "$dir.out" 2>/dev/null || true)
        [[ -n $line ]] && break
        kill -0 "$pid" 2>/dev/null || die "blockd $var exited; see $dir.log"
        sleep 0.1
    done
    [[ -n $line ]] || die "blockd $var did not print READY within 180 s"
    printf -v "${var}_nbd" '%s' "$(sed -E 's/.*nbd=[^ ]*:([0-9]+).*/\1/' <<<"$line")"
    printf -v "${var}_api" '%s' "$(sed -E 's/.*api=([^ ]+).*/\1/' <<<"$line")"
}
api() { # api HOSTPORT METHOD PATH [JSON]
    curl -sS --fail-with-body -X "$2" -H 'Content-Type: application/json' ${4:+-d "$4"} "http://$1$3"
}
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

now() { echo "$EPOCHREALTIME"; }
mbps() { "$PY" -c "print('%.1f' % ($1 * 1048576 / ($3 - $2) / 1e6))"; }

# ---------------------------------------------------------------- serving
log "blockd (TLS offered) and qemu-nbd (TLS) on the same ${SIZE} MiB file"
# shellcheck disable=SC2046 # tls_args is a list of words on purpose
start_blockd S $(tls_args node-a) --tls offer
api "$S_api" POST /v1/volumes "{\"name\":\"bench\",\"sizeBytes\":$((SIZE << 20))}" >/dev/null
head -c $((SIZE << 20)) /dev/urandom >"$WORK/fill.raw"
nbdcopy "$WORK/fill.raw" "nbd://127.0.0.1:$S_nbd/bench"
rm -f "$WORK/fill.raw"
QPORT=$(free_port)
qemu-nbd --object "tls-creds-x509,id=tls0,endpoint=server,dir=$WORK/qemu-creds,verify-peer=on" --tls-creds tls0 \
    -f raw -r -x bench -b 127.0.0.1 -p "$QPORT" --persistent --shared=8 "$WORK/S/volumes/bench.img" \
    >"$WORK/qemu-nbd.log" 2>&1 &
PIDS+=("$!")
for ((i = 0; i < 600; i++)); do
    nbdinfo "nbds://127.0.0.1:$QPORT/bench?tls-certificates=$WORK/client-creds" >/dev/null 2>&1 && break
    sleep 0.1
done

uri() {
    case $1 in
        blockd-clear) echo "nbd://127.0.0.1:$S_nbd/bench" ;;
        blockd-tls) echo "nbds://127.0.0.1:$S_nbd/bench?tls-certificates=$WORK/client-creds" ;;
        qemu-tls) echo "nbds://127.0.0.1:$QPORT/bench?tls-certificates=$WORK/client-creds" ;;
    esac
}
read_run() { # read_run SERVER WORKLOAD -> MB/s
    local req=8 size=1048576 t0 t1
    [[ $2 == read4k ]] && req=16 size=4096
    t0=$(now)
    timeout 600 nbdcopy --connections=1 --requests=$req --request-size=$size "$(uri "$1")" null: ||
        die "nbdcopy from $1 failed"
    t1=$(now)
    mbps "$SIZE" "$t0" "$t1"
}
SERVERS=(blockd-clear blockd-tls qemu-tls)
for ((r = 1 - WARMUP; r <= ROUNDS; r++)); do
    for wl in read1m read4k; do
        for ((k = 0; k < 3; k++)); do
            s=${SERVERS[$(((k + r + WARMUP) % 3))]}
            v=$(read_run "$s" "$wl")
            if ((r >= 1)); then
                printf '%s\t%s\t%s\t%s\n' "$wl" "$s" "$r" "$v" >>"$RESULTS"
                log "round $r $wl $s: $v MB/s"
            fi
        done
    done
done

# ---------------------------------------------------------------- hydration
log "hydration: two blockd pairs, in the clear and with TLS required, ${HSIZE} MiB each round"
start_blockd CA
start_blockd CB
# shellcheck disable=SC2046
start_blockd TA $(tls_args node-a) --tls-allowed-subject "CN=node-b,O=DLSM bench"
# shellcheck disable=SC2046
start_blockd TB $(tls_args node-b)
head -c $((HSIZE << 20)) /dev/urandom >"$WORK/h.raw"
for pair in C T; do
    a=${pair}A_api
    api "${!a}" POST /v1/volumes "{\"name\":\"h\",\"sizeBytes\":$((HSIZE << 20))}" >/dev/null
done
nbdcopy "$WORK/h.raw" "nbd://127.0.0.1:$CA_nbd/h"
# The TLS source takes only TLS clients with an allowed subject: fill it with node-b's identity.
gnutls_dir "$WORK/node-b-creds" client node-b
nbdcopy "$WORK/h.raw" "nbds://127.0.0.1:$TA_nbd/h?tls-certificates=$WORK/node-b-creds"
rm -f "$WORK/h.raw"
CALIAS=$(api "$CA_api" POST /v1/volumes/h/migration-export | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["migrationExport"])')
TALIAS=$(api "$TA_api" POST /v1/volumes/h/migration-export | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["migrationExport"])')
hydrate() { # hydrate PAIR ROUND -> MB/s
    local pair=$1 name="h$2" b a port alias t0 t1 state i
    b=${pair}B_api a=${pair}A_nbd
    port=${!a}
    alias=$([[ $pair == C ]] && echo "$CALIAS" || echo "$TALIAS")
    api "${!b}" POST /v1/sinks "{\"name\":\"$name\",\"autoCommit\":false,\"source\":{\"host\":\"127.0.0.1\",\"port\":$port,\"export\":\"$alias\"}}" >/dev/null
    t0=$(now)
    api "${!b}" POST "/v1/sinks/$name/activate" '{"force":true}' >/dev/null
    for ((i = 0; i < 60000; i++)); do
        state=$(api "${!b}" GET "/v1/sinks/$name" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["state"])')
        [[ $state == HYDRATED ]] && break
        [[ $state == ACTIVE ]] || die "sink $name on pair $pair is $state"
        sleep 0.02
    done
    t1=$(now)
    api "${!b}" POST "/v1/sinks/$name/abort" >/dev/null
    # The aborted sink leaves its files behind; the next round reuses the name. rm -f ignores none found.
    rm -f "$WORK/${pair}B/sinks/$name".*
    mbps "$HSIZE" "$t0" "$t1"
}
for ((r = 1 - WARMUP; r <= ROUNDS; r++)); do
    for pair in $( ((r % 2)) && echo "C T" || echo "T C"); do
        v=$(hydrate "$pair" "$((r + WARMUP))")
        label=$([[ $pair == C ]] && echo blockd-clear || echo blockd-tls)
        if ((r >= 1)); then
            printf 'hydrate\t%s\t%s\t%s\n' "$label" "$r" "$v" >>"$RESULTS"
            log "round $r hydrate $label: $v MB/s"
        fi
    done
done

# ---------------------------------------------------------------- report
"$PY" - "$RESULTS" <<'PYEOF'
import collections, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
v = collections.defaultdict(dict)
for wl, server, rnd, mb in rows:
    v[(wl, server)][int(rnd)] = float(mb)
def mmm(xs):
    return "%.2f / %.2f / %.2f" % (min(xs), statistics.median(xs), max(xs))
def mmm1(xs):
    return "%.0f / %.0f / %.0f" % (min(xs), statistics.median(xs), max(xs))
print("NBD over TLS: blockd with TLS vs blockd in the clear vs qemu-nbd with TLS (127.0.0.1, nbdcopy, 1 connection)")
print("%-10s %-14s %-22s" % ("workload", "server", "MB/s min / med / max"))
for wl in ("read1m", "read4k", "hydrate"):
    for s in ("blockd-clear", "blockd-tls", "qemu-tls"):
        if (wl, s) in v:
            print("%-10s %-14s %s" % (wl, s, mmm1(list(v[(wl, s)].values()))))
print()
print("%-10s %-34s %s" % ("workload", "ratio (per round)", "min / median / max"))
for wl in ("read1m", "read4k", "hydrate"):
    for num, den in (("blockd-tls", "blockd-clear"), ("blockd-tls", "qemu-tls")):
        a, b = v.get((wl, num)), v.get((wl, den))
        if a and b:
            ratios = [a[r] / b[r] for r in a if r in b]
            print("%-10s %-34s %s" % (wl, num + " / " + den, mmm(ratios)))
PYEOF
