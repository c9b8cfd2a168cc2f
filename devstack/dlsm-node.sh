#!/usr/bin/env bash
# Runs one dlsm-blockd and keeps it registered with the DLSM backend
# (POST /v1/nodes, then a heartbeat every 5 s) until it exits or this script
# is stopped. blockd does not register itself yet; this wrapper does it so a
# devstack service (or a test) is one process to start and one PID to kill.
#
# usage: dlsm-node.sh JAR NODE_NAME DATA_DIR NBD_HOST NBD_PORT API_PORT BACKEND_URL [TOKEN_FILE]
set -euo pipefail
jar=$1 node=$2 data=$3 nbd_host=$4 nbd_port=$5 api_port=$6 backend=$7
token_file=${8:-}

mkdir -p "$data"
fifo=$(mktemp -u)
mkfifo "$fifo"
token_args=()
auth=()
if [ -n "$token_file" ] && [ -s "$token_file" ]; then
    token_args=(--token-file "$token_file")
    auth=(-H "Authorization: Bearer $(cat "$token_file")")
fi
# shellcheck disable=SC2086 # JAVA_OPTS holds several words on purpose.
java ${DLSM_JAVA_OPTS:-} -jar "$jar" --data-dir "$data" \
    --nbd-listen "$nbd_host:$nbd_port" --api-listen "127.0.0.1:$api_port" \
    "${token_args[@]}" >"$fifo" &
blockd=$!
drain="" nap=""
cleanup() {
    local p
    for p in "$nap" "$blockd" "$drain"; do
        if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi
    done
    wait "$blockd" 2>/dev/null || true
    rm -f "$fifo"
}
trap cleanup EXIT
trap 'exit 0' TERM INT

# blockd prints "READY nbd=HOST:PORT api=HOST:PORT" once both listeners are up.
ready=""
while IFS= read -r line; do
    echo "$line"
    case $line in READY*) ready=$line; break ;; esac
done <"$fifo"
[ -n "$ready" ] || { echo "blockd exited before READY" >&2; exit 1; }
# Keep draining blockd's stdout so it never blocks on a full pipe.
cat "$fifo" &
drain=$!

body=$(printf '{"name":"%s","apiUrl":"http://127.0.0.1:%s","nbdHost":"%s","nbdPort":%s,"capabilities":{"nbd":true}}' \
    "$node" "$api_port" "$nbd_host" "$nbd_port")
until curl -fsS -o /dev/null "${auth[@]}" -H 'Content-Type: application/json' \
        -X POST -d "$body" "$backend/v1/nodes"; do
    kill -0 "$blockd" 2>/dev/null || exit 1
    sleep 2
done
echo "registered node $node with $backend"
while kill -0 "$blockd" 2>/dev/null; do
    # A 404 means the backend lost us (fresh state): register again.
    code=$(curl -sS -o /dev/null -w '%{http_code}' "${auth[@]}" -X POST \
        "$backend/v1/nodes/$node/heartbeat" || true)
    if [ "$code" = 404 ]; then
        curl -fsS -o /dev/null "${auth[@]}" -H 'Content-Type: application/json' \
            -X POST -d "$body" "$backend/v1/nodes" || true
    fi
    sleep 5 &
    nap=$!
    wait "$nap" || true
    nap=""

done
wait "$blockd"
