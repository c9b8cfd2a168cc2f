#!/usr/bin/env bash
# Prints the QEMU system emulator the VM labs run, by MODE:
#
#   tests/vm/qemu-binary.sh [auto|system|backports|PATH]
#
#   system     qemu-system-x86_64 from PATH (Debian 12: 7.2; installed with apt when missing)
#   backports  stock QEMU from Debian's bookworm-backports (10.0 as of 2026), fetched once into
#              the guest cache; the system's own QEMU stays installed and in use elsewhere
#   auto       (default) the system's when it is 9.0 or newer, else the backports one
#   PATH       that binary
#
# Why a second QEMU: under TCG, QEMU before 9.0 can lose a guest's stores to RAM during live
# migration (upstream commit 03bfc2188f, "physmem: Fix migration dirty bitmap coherency with
# TCG memory access"): the migrated guest then oopses or reads wrong data from RAM, with its
# disk intact (docs/bench/vm-migration.md). KVM guests do not take that path, and this host's
# /dev/kvm (a nested, paravirtual one) cannot boot ordinary guest kernels, so the labs run TCG.
#
# The packages come from Debian's own archive through apt, which checks the archive's signed
# Release file and every package's hash. They are unpacked (dpkg -x) under the cache, not
# installed; the binary runs from there with the firmware unpacked next to it. Their library
# dependencies are all in bookworm itself and are installed with apt when missing.
#
# Environment: GUEST_CACHE (default build/guest), SUITE (default bookworm-backports).
set -euo pipefail
mode=${1:-auto}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/deps.sh
. "$root/scripts/deps.sh"

case $mode in
    system) ensure_packages qemu-system-x86_64:qemu-system-x86; command -v qemu-system-x86_64; exit 0 ;;
    auto)
        ensure_packages qemu-system-x86_64:qemu-system-x86
        major=$(qemu-system-x86_64 --version | head -1 | sed -n 's/^QEMU emulator version \([0-9]*\)\..*/\1/p')
        if [ "${major:-0}" -ge 9 ]; then command -v qemu-system-x86_64; exit 0; fi
        if ! grep -q '^VERSION_CODENAME=bookworm$' /etc/os-release 2>/dev/null; then
            echo "qemu-binary: warning: QEMU $major under TCG can lose guest RAM stores in live migration; bookworm-backports is for Debian 12 only, using the system's" >&2
            command -v qemu-system-x86_64; exit 0
        fi ;;
    backports) ;;
    /*) [ -x "$mode" ] || { echo "qemu-binary: $mode is not an executable" >&2; exit 2; }
        echo "$mode"; exit 0 ;;
    *) echo "qemu-binary: MODE must be auto, system, backports or an absolute path" >&2; exit 2 ;;
esac

cache=${GUEST_CACHE:-$root/build/guest}
suite=${SUITE:-bookworm-backports}
dir=$cache/qemu-$suite
wrapper=$dir/qemu-system-x86_64

if [ -x "$wrapper" ] && "$wrapper" --version >/dev/null 2>&1; then
    echo "$wrapper"
    exit 0
fi

apt_dir=$dir/apt
rm -rf "$dir"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dir/debs" "$dir/root"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
    >"$apt_dir/sources.list"
# A private apt state: the system's sources, lists and caches are not touched.
apt_opts=(-q -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/none"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1
          -o APT::Sandbox::User=root)
echo "qemu-binary: fetching QEMU from Debian $suite" >&2
apt-get "${apt_opts[@]}" update >&2
(cd "$dir/debs" && apt-get "${apt_opts[@]}" download qemu-system-x86 qemu-system-common \
    qemu-system-data seabios >&2)
for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir/root"; done

# Runtime libraries: the binaries' Depends, less the packages unpacked here.
needed=()
for deb in "$dir"/debs/qemu-system-x86_*.deb "$dir"/debs/qemu-system-common_*.deb; do
    while read -r pkg; do
        [ -n "$pkg" ] || continue
        case $pkg in qemu-system-*|seabios|ipxe-qemu) continue ;; esac
        dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || needed+=("$pkg")
    done < <(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/(.*//; s/|.*//; s/[[:space:]]//g')
done
[ ${#needed[@]} -eq 0 ] || apt_install "${needed[@]}"

# exec keeps the PID: the labs kill QEMU by the PID they started.
cat >"$wrapper" <<'EOF'
#!/bin/sh
d=$(dirname "$(readlink -f "$0")")/root
exec "$d/usr/bin/qemu-system-x86_64" -L "$d/usr/share/qemu" -L "$d/usr/share/seabios" "$@"
EOF
chmod +x "$wrapper"
"$wrapper" --version >&2
echo "$wrapper"
