#!/usr/bin/env bash
# Builds a small Linux guest for QEMU (TCG) tests: Debian's kernel + a busybox initramfs.
#
#   tests/guest/build-guest.sh [options]
#
# Kernel: Debian's linux-image-<version>-amd64 package from the archive (`apt-get download` +
# `dpkg -x`, nothing is installed); the uncompressed vmlinux is extracted from the bzImage so
# QEMU boots it through the PVH entry (`-kernel vmlinux`), which is about twice as fast as the
# bzImage under TCG (no XZ decompression in the emulated CPU).
# Initramfs: busybox-static (every applet as a symlink), the chosen kernel modules with their
# dependencies in load order (resolved with depmod + modprobe --show-depends), optional host
# binaries with the libraries `ldd` names, optional extra files, and an init script.
#
# The guest's /init mounts /proc, /sys, /dev (devtmpfs), /tmp (tmpfs), loads the modules in
# order (from /etc/modules.load), then runs the embedded init script /etc/guest-init with
# /bin/sh (output on the console) and powers the guest off when it returns. Without an init
# script it starts a shell on the console.
#
# Options (each also as an environment variable, options win):
#   --cache DIR        GUEST_CACHE      cache dir (default: <repo>/build/guest, gitignored)
#   --kernel-pkg PKG   GUEST_KERNEL_PKG Debian package (default: what linux-image-amd64 depends
#                                       on, e.g. linux-image-6.1.0-56-amd64)
#   --modules "M..."   GUEST_MODULES    modules to load (default: "virtio_pci virtio_blk");
#                                       their dependencies are added and ordered automatically;
#                                       "NAME:P=V,P2=V2" passes parameters (e.g. nbd:nbds_max=4)
#   --binaries "B..."  GUEST_BINARIES   host binaries to include (name on PATH or a path), with
#                                       the libraries ldd lists; installed as /bin/NAME
#   --packages "P..."  GUEST_PACKAGES   Debian packages to install on the host first when
#                                       missing (e.g. "dmsetup nbd-client" for those binaries)
#   --files "S:D ..."  GUEST_FILES      extra host files: S copied to D inside the guest
#   --trees "S:D ..."  GUEST_TREES      extra host directories: S copied to D with the libraries
#                                       `ldd` lists for its ELF files (those outside S)
#   --jlink "M,M2"     GUEST_JLINK      a Java runtime made by the host JDK's jlink with only
#                                       these modules (e.g. from `jdeps --print-module-deps`),
#                                       cached, embedded as /opt/java with /bin/java; its CDS
#                                       archive for the JDK's classes is kept (startup under TCG)
#   --java-home-only                    with --jlink: only make the runtime, print its host path
#                                       (GUEST_JAVA_HOME=..., e.g. to dump an AppCDS archive
#                                       with the very runtime the guest gets) and stop
#   --init FILE        GUEST_INIT       the init script to embed as /etc/guest-init
#   --name NAME        GUEST_NAME       name of the initramfs (default: derived from a hash)
#   --print-env                         print only the KEY=VALUE lines (default prints both)
#
# Example (a guest for device-mapper + nbd tests):
#   eval "$(tests/guest/build-guest.sh --packages 'dmsetup nbd-client' \
#       --modules 'virtio_pci virtio_blk virtio_net nbd:nbds_max=4 dm-mod' --binaries 'dmsetup nbd-client' \
#       --init my-init.sh)"
#   qemu-system-x86_64 -accel tcg -m 256 -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" \
#       -append "console=ttyS0 panic=-1 quiet" -serial stdio -nodefaults -display none ...
#
# Output (last lines on stdout, to `eval`):
#   GUEST_KERNEL=/…/vmlinux-<ver>      boot with: qemu-system-x86_64 -kernel "$GUEST_KERNEL"
#   GUEST_INITRD=/…/initrd-<hash>.cpio.gz                         -initrd "$GUEST_INITRD"
#   GUEST_KVER=<ver>
#   GUEST_JAVA_HOME=/…/jre-<hash>       with --jlink: the runtime on the host (/opt/java inside)
#                                       (--java-home-only prints it and GUEST_KVER only)
# Recommended kernel command line: "console=ttyS0 panic=-1 quiet" (+ your own parameters; the
# init script can read /proc/cmdline).
#
# Idempotent and quick when cached: the kernel is downloaded and extracted once per version;
# an initramfs is rebuilt only when its inputs (modules, binaries, files, init, this script)
# change. Concurrent runs are serialized by a lock in the cache dir.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

cache=${GUEST_CACHE:-$root/build/guest}
kernel_pkg=${GUEST_KERNEL_PKG:-}
modules=${GUEST_MODULES:-virtio_pci virtio_blk}
binaries=${GUEST_BINARIES:-}
files=${GUEST_FILES:-}
trees=${GUEST_TREES:-}
jlink_modules=${GUEST_JLINK:-}
init_script=${GUEST_INIT:-}
packages=${GUEST_PACKAGES:-}
name=${GUEST_NAME:-}
print_env_only=0
java_home_only=0

while [ $# -gt 0 ]; do
    case $1 in
        --cache) cache=$2; shift 2 ;;
        --kernel-pkg) kernel_pkg=$2; shift 2 ;;
        --modules) modules=$2; shift 2 ;;
        --binaries) binaries=$2; shift 2 ;;
        --packages) packages=$2; shift 2 ;;
        --files) files=$2; shift 2 ;;
        --trees) trees=$2; shift 2 ;;
        --jlink) jlink_modules=$2; shift 2 ;;
        --init) init_script=$2; shift 2 ;;
        --name) name=$2; shift 2 ;;
        --print-env) print_env_only=1; shift ;;
        --java-home-only) java_home_only=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-guest: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

log() { echo "build-guest: $*" >&2; }
die() { echo "build-guest: ERROR: $*" >&2; exit 1; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() { # PACKAGE...
    log "installing $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null \
        || { as_root apt-get update -q >/dev/null &&
             as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}

# Host tools: QEMU for the guest, busybox-static for the initramfs, cpio/kmod to build it.
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
{ command -v modprobe || [ -x /sbin/modprobe ]; } >/dev/null && [ -x /sbin/depmod ] || need+=(kmod)
command -v apt-get >/dev/null || die "needs a Debian/Ubuntu host (apt-get)"
for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
busybox=/bin/busybox
PATH=$PATH:/sbin:/usr/sbin

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
exec 9>"$cache/.lock"
flock -w 900 9 || die "cache $cache is locked by another build for 15 minutes"

# ---------------------------------------------------------------- kernel
if [ -z "$kernel_pkg" ]; then
    # The package the linux-image-amd64 meta package points to: the archive's current kernel.
    kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
                 sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
    if [ -z "$kernel_pkg" ]; then
        as_root apt-get update -q >/dev/null || true
        kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
                     sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
    fi
    # Reuse a kernel already in the cache when the archive cannot tell (offline).
    if [ -z "$kernel_pkg" ]; then
        kernel_pkg=$(find "$cache/kernel" -maxdepth 1 -name 'linux-image-*' -printf '%f\n' 2>/dev/null |
                     sort -V | tail -1)
    fi
    [ -n "$kernel_pkg" ] || die "cannot find the Debian kernel package (apt-cache depends linux-image-amd64)"
fi
kdir=$cache/kernel/$kernel_pkg
if [ ! -f "$kdir/.done" ]; then
    log "downloading and extracting $kernel_pkg (once)"
    rm -rf "$kdir"
    mkdir -p "$kdir/deb" "$kdir/root"
    (cd "$kdir/deb" && apt-get download -q "$kernel_pkg" >/dev/null 2>&1) ||
        { as_root apt-get update -q >/dev/null; (cd "$kdir/deb" && apt-get download -q "$kernel_pkg" >/dev/null); } ||
        die "apt-get download $kernel_pkg failed"
    dpkg -x "$kdir"/deb/*.deb "$kdir/root"
    rm -rf "$kdir/deb"
    touch "$kdir/.done"
fi
kver=$(find "$kdir/root/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | head -1)
[ -n "$kver" ] || die "no /lib/modules/<version> in $kernel_pkg"
bzimage=$kdir/root/boot/vmlinuz-$kver
vmlinux=$kdir/vmlinux-$kver
if [ ! -s "$vmlinux" ]; then
    log "extracting vmlinux (PVH boot) from $(basename "$bzimage")"
    # Same idea as the kernel tree's scripts/extract-vmlinux: find the compressed payload by
    # its magic, decompress it, keep the result only if it is an ELF file.
    /usr/bin/python3 - "$bzimage" "$vmlinux.tmp" <<'PY'
import bz2, gzip, lzma, sys, zlib
data = open(sys.argv[1], "rb").read()
def unxz(b):
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(b)
def unlzma(b):
    return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(b)
def ungz(b):
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(b)
def unbz2(b):
    return bz2.BZ2Decompressor().decompress(b)
candidates = [(b"\xfd7zXZ\x00", unxz), (b"\x1f\x8b\x08", ungz), (b"\x5d\x00\x00\x00", unlzma),
              (b"BZh", unbz2)]
for magic, fn in candidates:
    pos = data.find(magic)
    while pos >= 0:
        try:
            out = fn(data[pos:])
        except Exception:
            out = b""
        if out[:4] == b"\x7fELF":
            open(sys.argv[2], "wb").write(out)
            sys.exit(0)
        pos = data.find(magic, pos + 1)
sys.exit("no ELF vmlinux found inside " + sys.argv[1])
PY
    mv "$vmlinux.tmp" "$vmlinux"
fi
# depmod once per kernel (the package ships no modules.dep: dpkg's postinst would make it).
if [ ! -f "$kdir/root/lib/modules/$kver/modules.dep" ]; then
    depmod -b "$kdir/root" "$kver"
fi

# ---------------------------------------------------------------- initramfs inputs
if [ -n "$init_script" ]; then
    [ -f "$init_script" ] || die "init script $init_script not found"
    init_script=$(cd "$(dirname "$init_script")" && pwd)/$(basename "$init_script")
fi
# Resolve binaries to absolute paths now: their content is part of the cache key.
bin_paths=()
for b in $binaries; do
    p=$b
    case $b in /*) ;; *) p=$(command -v "$b" || true) ;; esac
    if [ -z "$p" ] || [ ! -f "$p" ]; then die "binary $b not found (install its package first)"; fi
    bin_paths+=("$(readlink -f "$p")")
done
# A Java runtime with only the modules asked for, made once per JDK and module list. The
# compressed-oops-off CDS archive goes: guests run with small heaps.
if [ -n "$jlink_modules" ]; then
    command -v jlink >/dev/null || die "--jlink needs a JDK on the host (jlink not found)"
    jdk_home=$(dirname "$(dirname "$(readlink -f "$(command -v jlink)")")")
    jre_key=$( { echo "$jlink_modules"; cat "$jdk_home/release" 2>/dev/null; readlink -f "$jdk_home"; } |
               sha256sum | cut -c1-16)
    jre=$cache/jre-$jre_key
    if [ ! -x "$jre/bin/java" ]; then
        log "jlink: a Java runtime with $jlink_modules (once)"
        rm -rf "$jre" "$jre.tmp"
        jlink --add-modules "$jlink_modules" --strip-debug --no-header-files --no-man-pages \
            --compress=2 --generate-cds-archive --output "$jre.tmp" >/dev/null || die "jlink failed"
        rm -f "$jre.tmp/lib/server/classes_nocoops.jsa"
        mv "$jre.tmp" "$jre"
    fi
    trees="$trees $jre:/opt/java"
    if [ $java_home_only -eq 1 ]; then echo "GUEST_JAVA_HOME=$jre"; echo "GUEST_KVER=$kver"; exit 0; fi
elif [ $java_home_only -eq 1 ]; then
    die "--java-home-only needs --jlink"
fi
# Modules in load order, without duplicates.
# An entry "NAME:P1=V1,P2=V2" loads NAME with those parameters (e.g. "nbd:nbds_max=4").
mod_paths=()
declare -A mod_params=()
for spec in $modules; do
    m=${spec%%:*}
    lines=$(modprobe -d "$kdir/root" -S "$kver" --show-depends "$m" 2>&1) ||
        die "module $m: $lines"
    path=''
    while read -r kind path _; do
        [ "$kind" = insmod ] || continue   # "builtin NAME" needs nothing
        dup=0
        for q in "${mod_paths[@]}"; do [ "$q" = "$path" ] && dup=1; done
        [ $dup -eq 1 ] || mod_paths+=("$path")
    done <<<"$lines"
    # The last line is the module itself.
    last=$(grep '^insmod ' <<<"$lines" | tail -1 | cut -d' ' -f2)
    if [ "$spec" != "$m" ] && [ -n "$last" ]; then mod_params[$last]=${spec#*:}; fi
done

key=$( {
    echo "script $(sha256sum <"$0")"
    echo "kernel $kernel_pkg $kver"
    echo "busybox $(sha256sum <"$busybox")"
    for p in "${mod_paths[@]}"; do echo "mod $p ${mod_params[$p]:-}"; done
    for p in "${bin_paths[@]}"; do echo "bin $p $(sha256sum <"$p")"; done
    for f in $files; do echo "file $f $(sha256sum <"${f%%:*}")"; done
    for t in $trees; do
        echo "tree $t"
        (cd "${t%%:*}" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
    done
    [ -z "$init_script" ] || echo "init $(sha256sum <"$init_script")"
} | sha256sum | cut -c1-16)
[ -n "$name" ] || name=$key
initrd=$cache/initrd-$name.cpio.gz
stamp=$cache/initrd-$name.key

if [ -s "$initrd" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$key" ]; then
    log "cached: $(basename "$initrd")"
else
    log "building $(basename "$initrd") (${#mod_paths[@]} modules, ${#bin_paths[@]} binaries)"
    stage=$(mktemp -d "$cache/stage.XXXXXX")
    trap 'rm -rf "$stage"' EXIT
    mkdir -p "$stage"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,lib/modules,usr/bin,usr/sbin}
    cp "$busybox" "$stage/bin/busybox"
    for applet in $("$busybox" --list); do
        [ -e "$stage/bin/$applet" ] || ln -s busybox "$stage/bin/$applet"
    done
    # Modules, flattened into /lib/modules, loaded in this order by /init.
    : >"$stage/etc/modules.load"
    for p in "${mod_paths[@]}"; do
        case $p in
            *.ko) cp "$p" "$stage/lib/modules/" ;;
            *.ko.xz) xz -dc "$p" >"$stage/lib/modules/$(basename "$p" .xz)" ;;
            *.ko.zst) zstd -qdc "$p" >"$stage/lib/modules/$(basename "$p" .zst)" ;;
            *.ko.gz) gzip -dc "$p" >"$stage/lib/modules/$(basename "$p" .gz)" ;;
            *) die "unknown module format $p" ;;
        esac
        b=$(basename "$p"); b=${b%.xz}; b=${b%.zst}; b=${b%.gz}
        echo "$b ${mod_params[$p]:-}" | tr ',' ' ' >>"$stage/etc/modules.load"
    done
    # Host binaries and their libraries (same paths as on the host, so the loader finds them).
    copy_libs() { # ELF [DIR whose own libraries are already there]
        # ldd fails on a static binary: it then has no libraries to copy.
        { ldd "$1" 2>/dev/null || true; } | grep -o '/[^ ]*' | while read -r lib; do
            [ -e "$lib" ] || continue
            case $lib in "${2:-/nonexistent}"/*) continue ;; esac
            [ -e "$stage$lib" ] && continue
            mkdir -p "$stage$(dirname "$lib")"
            cp -L "$lib" "$stage$lib"
        done
    }
    for p in "${bin_paths[@]}"; do
        rm -f "$stage/bin/$(basename "$p")"
        cp "$p" "$stage/bin/$(basename "$p")"
        copy_libs "$p"
    done
    for t in $trees; do
        src=$(cd "${t%%:*}" && pwd); dst=$stage${t#*:}
        mkdir -p "$(dirname "$dst")"
        cp -a "$src" "$dst"
        find "$src" -type f | while read -r f; do
            if head -c 4 "$f" | grep -q 'ELF'; then copy_libs "$f" "$src"; fi
        done
    done
    if [ -n "$jlink_modules" ]; then
        rm -f "$stage/bin/java"
        ln -s /opt/java/bin/java "$stage/bin/java"
    fi
    for f in $files; do
        mkdir -p "$stage$(dirname "${f#*:}")"
        cp -L "${f%%:*}" "$stage${f#*:}"
    done
    [ -z "$init_script" ] || cp "$init_script" "$stage/etc/guest-init"
    cat >"$stage/init" <<'INIT'
#!/bin/sh
# Generated by tests/guest/build-guest.sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mdev -s
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
while read -r m params; do
    # shellcheck disable=SC2086 # parameters are separate words
    insmod "/lib/modules/$m" $params 2>/dev/null || echo "init: insmod $m failed" >/dev/console
done </etc/modules.load
if [ -f /etc/guest-init ]; then
    /bin/sh /etc/guest-init
    echo "init: guest-init exited with $?"
    sync
    poweroff -f
else
    exec setsid cttyhack /bin/sh
fi
INIT
    chmod +x "$stage/init"
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$initrd.tmp"
    mv "$initrd.tmp" "$initrd"
    echo "$key" >"$stamp"
    rm -rf "$stage"
    trap - EXIT
fi

if [ $print_env_only -eq 0 ]; then
    log "kernel $vmlinux"
    log "initrd $initrd"
fi
echo "GUEST_KERNEL=$vmlinux"
echo "GUEST_INITRD=$initrd"
echo "GUEST_KVER=$kver"
[ -z "$jlink_modules" ] || echo "GUEST_JAVA_HOME=$jre"
