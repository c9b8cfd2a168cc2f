#!/usr/bin/env bash
# Runs every test of DLSM: unit tests, real-peer tests against the packaged daemons
# (qemu-img, qemu-io, qemu-nbd, nbdkit, nbdinfo, nbdcopy, nbdsh). Installs what it needs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/deps.sh
. "$root/scripts/deps.sh"

ensure_build_deps
ensure_nbd_peers

cd "$root"
mvn -B -ntp verify "$@"

# Cinder driver shim: stestr under Debian's python3-cinder, shellcheck, YAML.
"$root/cinder-driver-shim/run-tests.sh"
