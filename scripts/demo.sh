#!/usr/bin/env bash
# DLSM's main job: a two-node live storage migration on this machine, driven through the
# control plane (dlsm-rest-backend) and its command line (scripts/dlsm).
#
# The backend and two blockd nodes start on loopback with embedded defaults; the nodes register
# themselves with the backend. `dlsm volume create` puts a volume with data and holes on node A;
# a "VM" writes to it; `dlsm migrate demo --to node-b` moves it the DLSM way while showing its
# progress: B first proxies to A, then the VM leaves A (A fences itself when its last writer is
# gone), the backend switches, B activates and the VM goes on at once on B while the blocks
# follow in the background. At the end B's volume is checked byte for byte against what the VM
# expects, and the CLI's report gives wire bytes, on-demand vs background and times.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/deps.sh
. "$root/scripts/deps.sh"

SIZE_MIB=${SIZE_MIB:-512}
DATA_MIB=${DATA_MIB:-256}
BANDWIDTH=${BANDWIDTH:-0}

ensure_build_deps
ensure_nbd_peers
blockd_jar=$root/dlsm-blockd/target/dlsm-blockd.jar
backend_jar=$root/dlsm-rest-backend/target/dlsm-rest-backend.jar
if [ ! -f "$blockd_jar" ] || [ ! -f "$backend_jar" ]; then
    echo "building DLSM (first run only)..."
    build_jars "$root"
fi

work=$(mktemp -d /tmp/dlsm-demo.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

dlsm() { "$root/scripts/dlsm" "$@"; }
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {"d": d}))' "$1"; }

# Starts a daemon in the background and waits for its READY line. Arguments: NAME COMMAND...
start_daemon() {
    local name=$1
    shift
    "$@" >"$work/$name.out" 2>"$work/$name.log" &
    pids+=($!)
    for _ in $(seq 300); do
        grep -q '^READY' "$work/$name.out" 2>/dev/null && return 0
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "$name did not start; its log:" >&2
    cat "$work/$name.log" >&2
    exit 1
}
field() { sed -n "s/.*$2=\([^ ]*\).*/\1/p" "$work/$1.out"; }

echo "== starting the backend and nodes A and B (blockd registers itself with the backend)"
start_daemon backend java -jar "$backend_jar" --listen 127.0.0.1:0 --state-dir "$work/backend"
DLSM_BACKEND=http://$(field backend api)
# The backend made its API token and the nodes' registration token in its state dir (mode
# 0600); the CLI reads the first from there, blockd presents the second at its first registration.
DLSM_STATE_DIR=$work/backend
export DLSM_BACKEND DLSM_STATE_DIR
auth=(-H @"$(bearer_header_file "$DLSM_STATE_DIR/api-token" "$work/backend-auth.header")")
for n in a b; do
    start_daemon "node-$n" java -jar "$blockd_jar" --data-dir "$work/node-$n" \
        --nbd-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 \
        --backend-url "$DLSM_BACKEND" --node-name "node-$n" \
        --registration-token-file "$DLSM_STATE_DIR/registration-token"
done
for _ in $(seq 100); do
    up=$(dlsm node list --json | json 'sum(n["state"] == "UP" for n in d)')
    [ "$up" = 2 ] && break
    sleep 0.3
done
[ "$up" = 2 ] || { echo "the nodes did not register with the backend" >&2; dlsm node list >&2; exit 1; }
dlsm node list | sed 's/^/   /'
nbd_of() { dlsm node list --json | json "[n['nbdHost'] + ':' + str(n['nbdPort']) for n in d if n['name'] == '$1'][0]"; }
A_NBD=$(nbd_of node-a)
B_NBD=$(nbd_of node-b)

echo "== dlsm volume create: 'demo' of $SIZE_MIB MiB on node A, filled with $DATA_MIB MiB of data and holes"
dlsm volume create demo --size "${SIZE_MIB}M" --node node-a | sed 's/^/   /'
expected=$work/expected.img
python3 - "$expected" "$SIZE_MIB" "$DATA_MIB" <<'PY'
import os, random, sys
path, size_mib, data_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(1)
with open(path, "wb") as f:
    f.truncate(size_mib << 20)
    # Data in 1 MiB extents spread over the volume; the rest stays a hole.
    for chunk in sorted(rnd.sample(range(size_mib), min(data_mib, size_mib))):
        f.seek(chunk << 20)
        f.write(os.urandom(1 << 20))
PY
nbdcopy "$expected" "nbd://$A_NBD/demo"

# The "VM": writes checksummed 64 KiB records at seeded offsets until STOP-FILE appears (or
# COUNT records), flushes and disconnects. The same records go into the expected image, so
# the final content is known exactly.
writer() { # NBD-ADDRESS FIRST-RECORD COUNT STOP-FILE
    /usr/bin/python3 - "$1" "$2" "$3" "$4" "$expected" "$SIZE_MIB" <<'PY'
import hashlib, os, random, sys, time, nbd
addr, first, count, stop, expected, size_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
h = nbd.NBD(); h.connect_uri("nbd://%s/demo" % addr)
rnd = random.Random(first)
with open(expected, "r+b") as model:
    for i in range(first, first + count):
        if os.path.exists(stop):
            break
        off = rnd.randrange((size_mib << 20) // 65536) * 65536 + rnd.randrange(0, 4096)
        rec = hashlib.sha256(b"record %d" % i).digest() * 2048
        h.pwrite(rec, off)
        model.seek(off); model.write(rec)
        time.sleep(0.005)
    h.flush()
h.shutdown()
PY
}

# Lines printed while the progress bar is drawn: on a terminal, clear the bar's row first.
say() {
    if [ -t 1 ]; then printf '\r\033[K   %s\n' "$*"; else printf '   %s\n' "$*"; fi
}
now() { date +%s.%N; }

# The hypervisor's part, in the background while `dlsm migrate` shows the progress: once the
# proxy sink on B exists, the VM leaves A, and as soon as the backend has switched (B active)
# it goes on writing on B. The phase is polled with curl, not the CLI, because a JVM start per
# poll would add half a second to the measured switch-over.
migration_of_demo() {
    curl -sS -f "${auth[@]}" "$DLSM_BACKEND/v1/volumes/demo" | json 'd.get("migrationId") or ""'
}
hypervisor() {
    writer "$A_NBD" 0 100000 "$work/leave-a" &
    local writer_a=$! id="" phase
    for _ in $(seq 600); do
        id=$(migration_of_demo)
        [ -n "$id" ] && [ "$(curl -sS -f "${auth[@]}" "$DLSM_BACKEND/v1/migrations/$id" | json '(d["progress"] or {}).get("t0") is not None')" = True ] && break
        sleep 0.05
    done
    [ -n "$id" ] || { say "no migration appeared"; kill "$writer_a"; return 1; }
    say "proxy sink ready on B (nothing copied yet); the VM keeps running on A for a second"
    sleep 1
    touch "$work/leave-a"
    wait "$writer_a"
    now >"$work/t-left-a"
    say "the VM left A (flushed, disconnected); A fences itself, the backend switches"
    for _ in $(seq 1000); do
        phase=$(curl -sS -f "${auth[@]}" "$DLSM_BACKEND/v1/migrations/$id" | json 'd["phase"]')
        [ "$phase" != PREPARED ] && break
        sleep 0.01
    done
    now >"$work/t-b-active"
    case $phase in ABORTED|FAILED) say "migration is $phase"; return 1 ;; esac
    say "B is $phase: the VM goes on on B at once while the blocks follow"
    writer "$B_NBD" 1000000 400 "$work/never"
    say "the VM on B wrote its 400 records"
}

echo "== the VM runs on node A; dlsm migrate demo --to node-b"
hypervisor &
hypervisor_pid=$!
pids+=("$hypervisor_pid")
migrate_args=(migrate demo --to node-b)
[ "$BANDWIDTH" != 0 ] && migrate_args+=(--bandwidth "$BANDWIDTH")
# A migration that never ends (the VM never leaves A) must not hang the main job forever.
timeout --foreground "${MIGRATE_TIMEOUT:-600}" "$root/scripts/dlsm" "${migrate_args[@]}"
wait "$hypervisor_pid"

echo "== dlsm volume list: the volume lives on node B"
dlsm volume list | sed 's/^/   /'

echo "== verify: node B's volume against the expected image"
got=$work/got.img
nbdcopy "nbd://$B_NBD/demo" "$got"
want_sum=$(sha256sum <"$expected" | cut -d' ' -f1)
got_sum=$(sha256sum <"$got" | cut -d' ' -f1)
python3 -c 'import sys; print("   switch-over: VM left A -> B active %6.0f ms" % ((float(sys.argv[2]) - float(sys.argv[1])) * 1000))' \
    "$(cat "$work/t-left-a")" "$(cat "$work/t-b-active")"
if [ "$want_sum" = "$got_sum" ]; then
    echo "RESULT: OK   sha256 $got_sum matches: every byte on node B is what the VM wrote or what node A held"
else
    echo "RESULT: MISMATCH expected $want_sum got $got_sum" >&2
    exit 1
fi
