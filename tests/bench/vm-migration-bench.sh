#!/usr/bin/env bash
# VM live migration with storage: DLSM vs QEMU drive-mirror (what libvirt --copy-storage-all
# does), background and write-blocking, for an idle guest and guests writing at 10, 30 and
# 50 MB/s, over one shaped link between two network namespaces ("two hosts").
#
#   tests/bench/vm-migration-bench.sh
#
# Each cell is one run of tests/vm/vm-migration-lab.sh (a real QEMU guest, TCG, with its data
# verified at the end: a run whose data is wrong fails the benchmark). Prints a table and
# writes OUT_DIR/vm-migration.md (table) and OUT_DIR/vm-migration.png (plot) plus the raw
# results (results.jsonl).
# Knobs: RATES ("0 10 30 50"), METHODS ("dlsm mirror-background mirror-write-blocking"),
# LINK_MBIT (200), DISK_MIB (256), SLOTS (128 MiB of records), MIRROR_LIMIT (90 s to become
# ready), MIGRATE_LIMIT (90 s for the memory migration), OUT_DIR (build/bench/vm-migration),
# REPEAT (1: runs of every cell, methods alternating; the main table shows the first, the
# table of the pause all of them), QEMU (auto, system, backports or a path: see
# tests/vm/qemu-binary.sh; the table names the QEMU that ran).
# The guest's workload loop is compiled (tests/vm/guest-writer.c): a TCG guest on 2 cores reaches
# 50 MB/s with it (the busybox loop, WORKLOAD=shell, about 11). The table reports the rate reached.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
RATES=${RATES:-0 10 30 50}
METHODS=${METHODS:-dlsm mirror-background mirror-write-blocking}
export LINK_MBIT=${LINK_MBIT:-200} DISK_MIB=${DISK_MIB:-256} SLOTS=${SLOTS:-128}
export MIRROR_LIMIT=${MIRROR_LIMIT:-90} MIGRATE_LIMIT=${MIGRATE_LIMIT:-90}
export BASELINE_S=${BASELINE_S:-6} POST_S=${POST_S:-3}
OUT_DIR=${OUT_DIR:-$root/build/bench/vm-migration}
mkdir -p "$OUT_DIR"
results=$OUT_DIR/results.jsonl
: >"$results"
if ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib >/dev/null ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib >/dev/null; }
fi
REPEAT=${REPEAT:-1}
failed=0
for rep in $(seq "$REPEAT"); do
    for rate in $RATES; do
        for method in $METHODS; do
            echo "== $method, guest writing $rate MB/s, link $LINK_MBIT Mbit/s, run $rep of $REPEAT"
            run=$OUT_DIR/run-$method-$rate-$rep
            rm -f "$run.json"
            if METHOD=$method RATE=$rate RESULT_FILE=$run.json "$root/tests/vm/vm-migration-lab.sh" \
                    >"$run.log" 2>&1; then
                grep -E 'while the guest was paused|vm-migration-lab:' "$run.log" | cut -c1-200
            else
                failed=$((failed + 1))
                echo "   FAILED: see $run.log"
                tail -n 5 "$run.log"
            fi
            [ ! -s "$run.json" ] || /usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); d["run"] = int(sys.argv[2]); print(json.dumps(d))' \
                "$run.json" "$rep" >>"$results"
        done
    done
done
/usr/bin/python3 "$here/vm_migration_report.py" "$results" "$OUT_DIR/vm-migration.md" "$OUT_DIR/vm-migration.png"
echo "table: $OUT_DIR/vm-migration.md, plot: $OUT_DIR/vm-migration.png"
[ $failed -eq 0 ] || { echo "vm-migration-bench: $failed runs failed" >&2; exit 1; }
