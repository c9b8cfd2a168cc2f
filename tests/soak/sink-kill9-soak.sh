#!/usr/bin/env bash
# Soak of the sink's crash consistency: runs SinkKill9Test over and over, each run with
# ROUNDS kill -9/restart rounds of the destination blockd and a fresh seed, until TOTAL
# rounds are done or MAX_SECONDS have passed. Stops at the first failure and prints the
# seed to replay it with: mvn -o -pl tests test -Dtest=SinkKill9Test -Ddlsm.test.seed=SEED
#
#   tests/soak/sink-kill9-soak.sh [TOTAL_ROUNDS=5000] [ROUNDS_PER_RUN=100] [MAX_SECONDS=21600]
set -euo pipefail
TOTAL=${1:-5000}
PER_RUN=${2:-100}
MAX_SECONDS=${3:-21600}
cd "$(dirname "$0")/../.."
mvn -B -o -q -pl dlsm-blockd -am package -DskipTests
logdir=$(mktemp -d /tmp/sink-kill9-soak.XXXXXX)
done_rounds=0
run=0
start=$SECONDS
while (( done_rounds < TOTAL && SECONDS - start < MAX_SECONDS )); do
  run=$((run + 1))
  log="$logdir/run-$run.log"
  if ! mvn -B -o -pl tests -am test -Dtest=SinkKill9Test -Dsurefire.failIfNoSpecifiedTests=false \
       -Ddlsm.kill9.rounds="$PER_RUN" >"$log" 2>&1; then
    echo "run $run FAILED after $done_rounds rounds; log: $log"
    grep -m1 -o 'seed=[0-9]*' "$log" || true
    exit 1
  fi
  done_rounds=$((done_rounds + PER_RUN))
  echo "run $run ok ($(grep -m1 -o 'seed=[0-9]*' "$log")); $done_rounds rounds in $((SECONDS - start)) s"
  rm -f "$log"
done
echo "soak passed: $done_rounds kill -9 rounds in $run runs, $((SECONDS - start)) s"
