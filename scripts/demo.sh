#!/usr/bin/env bash
# DLSM's main job: a two-node live storage migration on this machine.
#
# Two blockd nodes start on loopback with embedded defaults. Node A gets a volume with data
# and holes; a "VM" writes to it; the volume is migrated to node B the DLSM way: B first
# proxies to A, then the writer moves to B (A fences itself when its last writer leaves), B
# activates and the writer goes on at once while the blocks follow in the background. A
# progress bar shows the hydration; at the end B's volume is checked byte for byte against
# what the writer expects, and a report gives wire bytes, on-demand vs background and times.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/deps.sh
. "$root/scripts/deps.sh"

SIZE_MIB=${SIZE_MIB:-512}
DATA_MIB=${DATA_MIB:-256}
BANDWIDTH=${BANDWIDTH:-0}

ensure_build_deps
ensure_nbd_peers
jar=$root/dlsm-blockd/target/dlsm-blockd.jar
if [ ! -f "$jar" ]; then
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
api() { # METHOD URL [JSON]
    curl -sS -f -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "$2"
}
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {"d": d}))' "$1"; }

echo "== starting node A and node B (blockd, embedded defaults, loopback)"
start_node a
start_node b
A_API=http://$(field a api); A_NBD=$(field a nbd)
B_API=http://$(field b api); B_NBD=$(field b nbd)
echo "   node A: nbd $A_NBD   node B: nbd $B_NBD"

echo "== node A: volume 'demo' of $SIZE_MIB MiB with $DATA_MIB MiB of data and holes"
api POST "$A_API/v1/volumes" "{\"name\":\"demo\",\"sizeBytes\":$((SIZE_MIB << 20))}" >/dev/null
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

echo "== the VM runs on node A"
writer "$A_NBD" 0 100000 "$work/leave-a" &
writer_pid=$!
pids+=("$writer_pid")

echo "== prepare: migration export on A, proxy sink on B (nothing is copied yet)"
mexp=$(api POST "$A_API/v1/volumes/demo/migration-export" | json 'd["migrationExport"]')
api POST "$B_API/v1/sinks" "{\"name\":\"demo\",\"source\":{\"host\":\"127.0.0.1\",\"port\":${A_NBD##*:},\"export\":\"$mexp\"},\"bandwidthBytesPerSecond\":$BANDWIDTH}" >/dev/null
echo "   sink on B: $(api GET "$B_API/v1/sinks/demo" | json 'd["state"]')"
sleep 1

echo "== switch: the VM leaves A (A fences itself when its last writer is gone), the sink on B activates"
touch "$work/leave-a"
wait "$writer_pid"
t_switch0=$(date +%s.%N)
fenced=False
for _ in $(seq 200); do
    fenced=$(api GET "$A_API/v1/volumes/demo" | json 'd["fenced"]')
    [ "$fenced" = True ] && break
    sleep 0.01
done
[ "$fenced" = True ] || { echo "node A did not fence itself" >&2; exit 1; }
api POST "$B_API/v1/sinks/demo/activate" '{}' >/dev/null
t_switch1=$(date +%s.%N)

echo "== the VM runs on B at once, while the blocks follow"
writer "$B_NBD" 1000000 400 "$work/never" &
writer_pid=$!
pids+=("$writer_pid")

bar() {
    api GET "$B_API/v1/sinks/demo" | python3 -c '
import json, sys
d = json.load(sys.stdin)
width = 40
done = int(d["progress"] * width)
eta = d["etaSeconds"]
mib = 1 << 20
sys.stdout.write("\r   [%s%s] %5.1f%%  %7.1f MB/s  ETA %5s  on-demand %6.1f MiB  background %6.1f MiB  %s   " % (
    "#" * done, "-" * (width - done), 100 * d["progress"], d["rateBytesPerSecond"] / 1e6,
    "-" if eta is None else "%.1fs" % eta, d["bytesFetchedOnDemand"] / mib,
    d["bytesCopiedInBackground"] / mib, d["state"]))
sys.stdout.flush()
print(d["state"], file=sys.stderr)' 2>"$work/state"
}
for _ in $(seq 3000); do
    bar
    state=$(cat "$work/state")
    [ "$state" = COMMITTED ] && break
    case $state in ABORTED|DEGRADED) echo; echo "migration is $state" >&2; exit 1 ;; esac
    sleep 0.2
done
echo
wait "$writer_pid"

echo "== verify: node B's volume against the expected image"
got=$work/got.img
nbdcopy "nbd://$B_NBD/demo" "$got"
want_sum=$(sha256sum <"$expected" | cut -d' ' -f1)
got_sum=$(sha256sum <"$got" | cut -d' ' -f1)

status=$(api GET "$B_API/v1/sinks/demo")
src_alloc=$(api GET "$A_API/v1/volumes/demo" | json 'd["allocatedBytes"]')
python3 - "$status" "$src_alloc" "$t_switch0" "$t_switch1" <<'PY'
import json, sys
from datetime import datetime
d = json.loads(sys.argv[1]); alloc = int(sys.argv[2])
ts = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
mib = 1 << 20
print("   wire bytes received      %8.1f MiB = %.3f x allocated (%.1f MiB)" % (
    d["wireBytesReceived"] / mib, d["wireBytesReceived"] / alloc, alloc / mib))
print("   fetched on demand        %8.1f MiB" % (d["bytesFetchedOnDemand"] / mib))
print("   copied in background     %8.1f MiB" % (d["bytesCopiedInBackground"] / mib))
print("   skipped as holes         %8.1f MiB" % (d["bytesSkippedAsHoles"] / mib))
print("   overwritten, never sent  %8.1f MiB" % (d["bytesOverwrittenNeverFetched"] / mib))
print("   switch-over: VM left A -> B active %6.0f ms" % ((float(sys.argv[4]) - float(sys.argv[3])) * 1000))
print("   t0 -> t1 (proxy phase)   %8.2f s" % (ts(d["t1"]) - ts(d["t0"])))
print("   t1 -> t2 (hydration)     %8.2f s" % (ts(d["t2"]) - ts(d["t1"])))
PY
if [ "$want_sum" = "$got_sum" ]; then
    echo "RESULT: OK   sha256 $got_sum matches: every byte on node B is what the VM wrote or what node A held"
else
    echo "RESULT: MISMATCH expected $want_sum got $got_sum" >&2
    exit 1
fi
