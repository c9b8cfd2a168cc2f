# shellcheck shell=bash
# Sourced by the top-level scripts: installs what DLSM needs on a fresh Debian/Ubuntu machine.

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo "$@"
    fi
}

# Installs the Debian packages whose commands are missing. Arguments: "command:package" pairs.
ensure_packages() {
    local missing=() pair cmd pkg
    for pair in "$@"; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -e "$cmd" ]; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    apt_install "${missing[@]}"
}

# Installs Debian packages by name, refreshing the package lists once if the first try fails.
apt_install() {
    echo "installing: $*" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null \
        || { as_root apt-get update -q >/dev/null && \
             as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}

# The JDK and Maven build the daemons; the NBD tools are the real peers the tests use.
ensure_build_deps() {
    ensure_packages java:openjdk-17-jdk-headless javac:openjdk-17-jdk-headless mvn:maven curl:curl
}

ensure_nbd_peers() {
    ensure_packages qemu-img:qemu-utils qemu-io:qemu-utils qemu-nbd:qemu-utils \
        nbdinfo:libnbd-bin nbdcopy:libnbd-bin nbdkit:nbdkit \
        /usr/lib/python3/dist-packages/nbd.py:python3-libnbd \
        openssl:openssl /usr/sbin/nbd-client:nbd-client
}

# A real etcd (Debian's etcd-server, the v3 API) for the tests of the shared state store;
# the tests start their own members on loopback, never the packaged system service.
ensure_etcd() {
    ensure_packages /usr/bin/etcd:etcd-server
}

# Builds the jars once; later runs reuse them unless sources changed.
build_jars() {
    local root=$1
    (cd "$root" && mvn -B -q -DskipTests package)
}

# The daemons' APIs require a bearer token (blockd: DATA_DIR/api-token, the backend:
# STATE_DIR/api-token, both made at first start, mode 0600). Writes the header line for the
# token in TOKEN-FILE to OUT (mode 0600) and prints OUT; `curl -H @OUT` then sends it without
# the token appearing on a command line, which other local users can read in /proc.
# Arguments: TOKEN-FILE OUT
bearer_header_file() {
    local token
    token=$(tr -d '[:space:]' <"$1")
    (umask 077 && printf 'Authorization: Bearer %s\n' "$token" >"$2")
    printf '%s\n' "$2"
}
