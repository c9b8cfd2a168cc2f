#!/usr/bin/env bash
# CI's short VM migration test: a real QEMU guest (TCG) writing and verifying O_DIRECT
# records on a 64 MiB DLSM volume is live-migrated from blockd node A to node B on loopback
# (proxy sink, A fences itself when the guest leaves, activation, hydration, COMMITTED); the
# guest verifies every record, the host checks B's volume byte for byte and the consoles for
# I/O errors. Exits non-zero on any failure, or after TIME_LIMIT seconds (default 1200: a guard
# against a hang, not a speed check; the guest build and package installs run inside it, and
# every phase has its own state wait), whichever comes first.
# Which QEMU runs: tests/vm/qemu-binary.sh (auto: Debian's bookworm-backports 10.0 over a
# system QEMU older than 9.0). The full lab and its knobs: tests/vm/vm-migration-lab.sh; the
# benchmark: tests/bench/vm-migration-bench.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
limit=${TIME_LIMIT:-1200}
start=$(date +%s)
# timeout sends TERM to the lab, whose trap kills every process it started by PID.
METHOD=dlsm DISK_MIB=64 SLOTS=32 RATE=max CHECK=4 LINK_MBIT=0 BASELINE_S=3 POST_S=2 \
    COMMIT_LIMIT=120 MIGRATE_LIMIT=120 timeout --kill-after=20 "$limit" "$here/vm-migration-lab.sh"
rc=$?
echo "vm-migration-short: $(( $(date +%s) - start )) s"
if [ $rc -eq 0 ]; then
    echo "vm-migration: 1 passed, 0 failed"
else
    [ $rc -ne 124 ] || echo "vm-migration-short: timed out after $limit s" >&2
    echo "vm-migration: 0 passed, 1 failed"
    exit 1
fi
