#!/usr/bin/env bash
# Builds dm-clone.ko for a Debian kernel out of tree (Debian does not enable CONFIG_DM_CLONE):
# the target's two files and drivers/md's headers from linux-source-6.1, built against
# linux-headers-<kver> with Kbuild. ~10 s of compile, ~10 s to unpack the source; cached.
#
#   tests/kernel/build-dm-clone.sh KVER CACHE_DIR     prints the path of the .ko
set -euo pipefail
kver=$1                      # e.g. 6.1.0-56-amd64
cache=$2
ko=$cache/dm-clone-$kver.ko
if [ -s "$ko" ]; then echo "$ko"; exit 0; fi
log() { echo "build-dm-clone: $*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# The source package of exactly the kernel's version: a module must match its vermagic.
version=$(apt-cache show "linux-image-$kver" 2>/dev/null | sed -n 's/^Version: //p' | head -1)
[ -n "$version" ] || { as_root apt-get update -q >/dev/null; version=$(apt-cache show "linux-image-$kver" | sed -n 's/^Version: //p' | head -1); }
[ -n "$version" ] || { log "no version for linux-image-$kver"; exit 1; }
series=${kver%%-*}; series=${series%.*}    # 6.1.0 -> 6.1
if [ ! -d "/usr/src/linux-headers-$kver" ]; then
    log "installing linux-headers-$kver"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
        "linux-headers-$kver" make gcc >/dev/null
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/dm-clone.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "fetching linux-source-$series=$version"
(cd "$work" && apt-get download -q "linux-source-$series=$version" >/dev/null 2>&1)
dpkg-deb --fsys-tarfile "$work"/linux-source-*.deb |
    tar -xO "./usr/src/linux-source-$series.tar.xz" |
    tar -xJ -C "$work" "linux-source-$series/drivers/md"
md=$work/linux-source-$series/drivers/md
mkdir "$work/m"
cp "$md"/dm-clone-target.c "$md"/dm-clone-metadata.c "$md"/*.h "$work/m/"
cp -r "$md/persistent-data" "$work/m/"
cat >"$work/m/Kbuild" <<'KB'
obj-m := dm-clone.o
dm-clone-y := dm-clone-target.o dm-clone-metadata.o
ccflags-y := -I$(src)
KB
log "compiling against /usr/src/linux-headers-$kver"
make -s -C "/usr/src/linux-headers-$kver" M="$work/m" modules >&2
cp "$work/m/dm-clone.ko" "$ko.tmp"
mv "$ko.tmp" "$ko"
echo "$ko"
