#!/usr/bin/env bash
# Runs every test of DLSM: unit tests, real-peer tests against the packaged daemons
# (qemu-img, qemu-io, qemu-nbd, nbdkit, nbdinfo, nbdcopy, nbdsh). Installs what it needs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/deps.sh
. "$root/scripts/deps.sh"

ensure_build_deps
ensure_nbd_peers
ensure_etcd

cd "$root"
mvn -B -ntp verify "$@"

# A real QEMU guest (TCG) live-migrated between two QEMU processes with its disk on DLSM:
# prepare, memory migration, fence, activate, hydration, commit; the guest verifies its records.
"$root/tests/vm/vm-migration-short.sh"

# A full disk under blockd pauses a QEMU guest (werror=enospc) instead of failing its I/O;
# resumed after space is freed, it loses nothing (tests/vm/vm-enospc.sh mounts a small tmpfs).
"$root/tests/vm/vm-enospc.sh"

# The kernel path (device-mapper + nbd) in a Debian guest under QEMU TCG: this host has neither.
"$root/tests/kernel/kernel-path-test.sh"

# The same kernel path driven by blockd itself: the blockd JVM (a jlink runtime) runs inside the
# guest with --kernel-path linear_over_nbd; this host drives it over REST (device, activation,
# cut-over at COMMITTED, fence/unfence, delete) and checks each step in the guest's kernel.
"$root/tests/kernel/blockd-in-guest-test.sh"

# Cinder driver shim: stestr under Debian's python3-cinder, shellcheck, YAML; then real
# cinder-api/scheduler/volume with RabbitMQ against the real backend and two blockd nodes.
DLSM_REAL_CINDER=${DLSM_REAL_CINDER:-1} "$root/cinder-driver-shim/run-tests.sh"
