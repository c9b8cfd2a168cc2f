#!/usr/bin/env bash
# Fuzz soak of blockd's NBD server: the fuzz test the test command runs briefly
# (BadInputAgainstBlockdTest, 3,000 frames), here with FRAMES malformed and mutated handshake
# and transmission frames over THREADS concurrent connections against one real blockd
# process. It checks that the daemon stays up, that a verification client's data stays right
# throughout, that open files and buffer memory return to their baseline afterwards, and that
# the log holds no stack trace; it prints the frame count, the time and the seed (replay with
# -Ddlsm.seed=SEED).
#
#   tests/soak/nbd-fuzz-soak.sh [FRAMES=1000000] [THREADS=8] [SEED=random]
set -euo pipefail
FRAMES=${1:-1000000}
THREADS=${2:-8}
SEED=${3:-$RANDOM$RANDOM}
cd "$(dirname "$0")/../.."
log=$(mktemp /tmp/nbd-fuzz-soak.XXXXXX.log)
start=$SECONDS
if ! mvn -B -o -pl tests -am verify -Dtest='BadInputAgainstBlockdTest#thousandsOfSeededMalformedFramesNeverTakeTheDaemonDown' \
     -Dsurefire.failIfNoSpecifiedTests=false -Ddlsm.fuzz.frames="$FRAMES" -Ddlsm.fuzz.threads="$THREADS" \
     -Ddlsm.seed="$SEED" >"$log" 2>&1; then
  echo "fuzz soak FAILED (seed $SEED); log: $log"
  grep -m3 -E 'fuzzed|AssertionError|Expecting' "$log" || true
  exit 1
fi
grep -m1 '^fuzzed ' "$log"
echo "fuzz soak passed in $((SECONDS - start)) s (build included); log: $log"
