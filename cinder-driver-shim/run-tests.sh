#!/usr/bin/env bash
# Runs the Cinder shim's tests under Debian's Python and Cinder (python3-cinder
# 21.3.1 "Zed"): stestr unit tests, then static checks of every shell file and
# YAML file the shim and the devstack plugin ship. Installs what is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
py=/usr/bin/python3

need=()
"$py" -c 'import cinder' 2>/dev/null || need+=(python3-cinder)
"$py" -c 'import os_brick' 2>/dev/null || need+=(python3-os-brick)
"$py" -c 'import stestr' 2>/dev/null || need+=(python3-stestr)
"$py" -c 'import ddt' 2>/dev/null || need+=(python3-ddt)
"$py" -c 'import requests_mock' 2>/dev/null || need+=(python3-requests-mock)
"$py" -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
command -v shellcheck >/dev/null || need+=(shellcheck)
command -v qemu-nbd >/dev/null || need+=(qemu-utils)
if ((${#need[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "installing: ${need[*]}"
    # apt-get update only when the package lists cannot serve the install.
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${need[@]}"; then
        $sudo apt-get update
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${need[@]}"
    fi
fi

echo "== stestr (dlsm_cinder)"
cd "$here"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# stestr exits 0 when it finds no test at all: count them ourselves.
set +e
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" "$py" -m stestr run --color 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
ran=$(sed -n 's/^Ran: \([0-9]*\) tests.*/\1/p' "$log" | tail -1)
if [ "$rc" -ne 0 ]; then
    echo "stestr failed (exit $rc)" >&2
    exit "$rc"
fi
if [ -z "$ran" ] || [ "$ran" -eq 0 ]; then
    echo "stestr ran no tests: treated as a failure" >&2
    exit 1
fi

echo "== static checks (shellcheck, bash -n, YAML)"
shell_files=()
while IFS= read -r -d '' f; do shell_files+=("$f"); done < <(
    find "$here" "$root/devstack" "$root/tests/openstack" -type f \
        \( -name '*.sh' -o -name settings -o -name override-defaults \) \
        -print0 2>/dev/null)
for f in "${shell_files[@]}"; do
    bash -n "$f"
done
# devstack files are sourced by devstack's bash: tell shellcheck the dialect.
shellcheck -s bash -x "${shell_files[@]}"
echo "shell files checked: ${#shell_files[@]}"

yaml_files=()
while IFS= read -r -d '' f; do yaml_files+=("$f"); done < <(
    find "$root/.zuul.yaml" "$root/devstack" -type f \
        \( -name '*.yaml' -o -name '*.yml' \) -print0 2>/dev/null)
"$py" - "${yaml_files[@]}" <<'PY'
import sys
import yaml
for path in sys.argv[1:]:
    with open(path) as f:
        doc = yaml.safe_load(f)
    if not doc:
        sys.exit('%s: empty YAML' % path)
    print('YAML ok:', path)
PY
if [ "${DLSM_REAL_CINDER:-0}" = 1 ]; then
    # Opt-in: real Cinder services + the Java backend + two blockd (~1 min).
    echo "== real Cinder services"
    "$root/tests/openstack/real_cinder_test.sh"
fi
if [ "${DLSM_REAL_NOVA:-0}" = 1 ]; then
    # Opt-in, not yet in the default test command: real Nova live migrations (8-10 min on two
    # loaded cores, above the budget), see docs/openstack.md.
    echo "== real Nova live migrations"
    "$root/tests/openstack/real_nova_test.sh"
fi
echo "== cinder-driver-shim: all checks passed ($ran tests)"
