# shellcheck shell=bash
# Shared by the real-services tests (real_cinder_test.sh, real_nova_test.sh):
# a private work directory, processes each in its own process group and killed
# by PID on exit, waits for states (never for time), RabbitMQ, the DLSM backend
# and blockd nodes, and real Cinder services with the DLSM driver. Everything
# listens on 127.0.0.1 on ports picked free at start.
# Sourced; the caller sets `set -euo pipefail` and calls lab_init first.

lab_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../../scripts/deps.sh
. "$lab_root/scripts/deps.sh"
py=/usr/bin/python3
pids=()
pid_names=()
pg_bin=/usr/lib/postgresql/15/bin
pg_data=""

# lab_init PREFIX: the work directory ($work, logs in $work/log) and the exit trap.
lab_init() {
    work=$(mktemp -d "/tmp/$1.XXXXXX")
    mkdir -p "$work/log" "$work/bin"
    trap lab_cleanup EXIT
}

lab_cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
    sleep 1
    for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
    # RabbitMQ's epmd daemonizes out of the process group: find it by its private port.
    if [ -n "${epmd_port:-}" ]; then
        for p in $(ss -ltnpH "sport = :$epmd_port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
            kill "$p" 2>/dev/null || true
        done
    fi
    # PostgreSQL forks its server away from our process group: pg_ctl stops it by its own PID file.
    if [ -n "${pg_data:-}" ] && [ -f "$pg_data/postmaster.pid" ]; then
        runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}

fail() {
    echo "FAIL: $*" >&2
    for f in "$work"/log/*.log; do echo "--- $f"; tail -20 "$f"; done >&2
    if [ "${LAB_HOLD_ON_FAIL:-0}" = 1 ]; then
        # For a person debugging: the services stay up for an hour (the work dir is printed).
        echo "LAB_HOLD_ON_FAIL: holding the lab in $work for 3600 s" >&2
        sleep 3600
    fi
    exit 1
}

# lab_packages PACKAGE...: installs the Debian packages that are not installed yet.
lab_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] || apt_install --no-install-recommends "${missing[@]}"
}

# lab_build_jars: the daemons' jars, copied into the work dir so that a rebuild while the lab
# runs cannot change the classes under the running JVMs.
lab_build_jars() {
    local built_backend=$lab_root/dlsm-rest-backend/target/dlsm-rest-backend.jar
    local built_blockd=$lab_root/dlsm-blockd/target/dlsm-blockd.jar
    if [ ! -f "$built_backend" ] || [ ! -f "$built_blockd" ]; then
        (cd "$lab_root" && mvn -B -ntp -q -DskipTests package)
    fi
    mkdir -p "$work/jars"
    cp "$built_backend" "$built_blockd" "$work/jars/"
    backend_jar=$work/jars/dlsm-rest-backend.jar
    blockd_jar=$work/jars/dlsm-blockd.jar
}

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tcp_open() { "$py" -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),1)"; }

# start NAME CMD...: own process group, log in $work/log/NAME.log.
start() {
    setsid "${@:2}" >"$work/log/$1.log" 2>&1 &
    pids+=($!)
    pid_names+=("$1")
}

# wait_for SECONDS DESCRIPTION CMD...: polls CMD until it succeeds; fails the test at the deadline.
wait_for() {
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || fail "timeout waiting for $what"
        sleep 1
    done
}

# py_entry NAME MODULE: $work/bin/NAME runs MODULE.main() with the shim and the lab's Python
# modules importable (Debian's OpenStack packages ship no /usr/bin entry points).
py_entry() {
    cat >"$work/bin/$1" <<PYS
import sys
sys.path[:0] = ["$lab_root/cinder-driver-shim", "$lab_root/tests/openstack/lab"]
from $2 import main
sys.argv[0] = "$1"
sys.exit(main())
PYS
}

# iniset FILE SECTION OPTION VALUE, like devstack's.
iniset() {
    "$py" - "$@" <<'PY'
import configparser, sys
path, section, option, value = sys.argv[1:5]
c = configparser.RawConfigParser()
c.optionxform = str
c.read(path)
if section != 'DEFAULT' and not c.has_section(section):
    c.add_section(section)
c.set(section, option, value)
with open(path, 'w') as f:
    c.write(f)
PY
}

# -- DLSM: the backend, blockd nodes and their API --------------------------------

lab_token() {
    token=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    printf '%s' "$token" >"$work/token"
    chmod 600 "$work/token"
}

# dlsm_api CURL-ARGS... URL: one call to the backend's API, with its token.
dlsm_api() { curl -fsS -H "Authorization: Bearer $token" "$@"; }

# start_dlsm_backend: the control plane on a free port; sets $burl.
start_dlsm_backend() {
    local bport
    bport=$(free_port)
    burl=http://127.0.0.1:$bport
    # The API token is the one Cinder gets (as devstack does it); the registration token, which
    # the nodes present at their first registration, is the one the backend makes in its state dir.
    start backend java -Xmx256m -jar "$backend_jar" --listen "127.0.0.1:$bport" --state-dir "$work/backend" \
        --token-file "$work/token"
    wait_for 60 "backend health" dlsm_api "$burl/v1/health"
}

# start_blockd NAME: a blockd node registering itself with the backend as NAME. It makes its own
# API token and hands it to the backend when it registers.
start_blockd() {
    start "blockd-$1" java -Xmx256m -jar "$blockd_jar" --data-dir "$work/$1" --nbd-listen 127.0.0.1:0 \
        --api-listen 127.0.0.1:0 --backend-url "$burl" \
        --node-name "$1" --registration-token-file "$work/backend/registration-token"
}

nodes_up() { [ "$(dlsm_api "$burl/v1/nodes" | "$py" -c 'import json,sys; print(sum(n["state"]=="UP" for n in json.load(sys.stdin)))')" = "$1" ]; }

# -- RabbitMQ ------------------------------------------------------------------------

# start_rabbitmq: a private node; sets $rport (AMQP) and $epmd_port.
start_rabbitmq() {
    rport=$(free_port)
    epmd_port=$(free_port)
    mkdir -p "$work/rabbit/home"
    start rabbitmq env HOME="$work/rabbit/home" RABBITMQ_NODE_PORT="$rport" \
        RABBITMQ_DIST_PORT="$(free_port)" ERL_EPMD_PORT="$epmd_port" \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODENAME="dlsm$rport@localhost" \
        RABBITMQ_MNESIA_BASE="$work/rabbit/mnesia" RABBITMQ_LOG_BASE="$work/rabbit/log" \
        /usr/lib/rabbitmq/bin/rabbitmq-server
    wait_for 90 "RabbitMQ" tcp_open "$rport"
}

# -- PostgreSQL (Neutron's migrations need it: SQLite cannot ALTER constraints) ----------

# start_postgres: a private cluster owned by the postgres user, trust on loopback; sets $pg_port.
start_postgres() {
    pg_port=$(free_port)
    pg_data=$work/pg
    chmod o+x "$work"   # the server runs as postgres, under our private work directory
    install -d -o postgres -m 0700 "$pg_data" "$work/pgsock"
    install -o postgres -m 0644 /dev/null "$work/log/postgres.log"
    runuser -u postgres -- "$pg_bin/initdb" -D "$pg_data" --auth=trust -U postgres >"$work/log/initdb.log" 2>&1 ||
        fail "initdb"
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -l "$work/log/postgres.log" -w -t 120 \
        -o "-p $pg_port -k $work/pgsock -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null ||
        fail "PostgreSQL did not start"
}

# -- Cinder --------------------------------------------------------------------------

# write_cinder_conf [EXTRA-NOAUTH-FILTER]: $work/cinder.conf and its api-paste.ini, the [dlsm]
# section written by the devstack plugin's own function; sets $cport. EXTRA-NOAUTH-FILTER
# names a paste filter (defined by the caller in $work/cinder-paste-extra.ini) put in front of
# noauth.
write_cinder_conf() {
    local extra=${1:-}
    cport=$(free_port)
    cat >"$work/api-paste.ini" <<INI
[composite:osapi_volume]
use = call:cinder.api:root_app_factory
/: apiversions
/v3: openstack_volume_api_v3

[composite:openstack_volume_api_v3]
use = call:cinder.api.middleware.auth:pipeline_factory
noauth = request_id faultwrap sizelimit $extra noauth apiv3
keystone = request_id faultwrap sizelimit apiv3

[filter:request_id]
paste.filter_factory = oslo_middleware.request_id:RequestId.factory
[filter:faultwrap]
paste.filter_factory = cinder.api.middleware.fault:FaultWrapper.factory
[filter:sizelimit]
paste.filter_factory = oslo_middleware.sizelimit:RequestBodySizeLimiter.factory
[filter:noauth]
paste.filter_factory = cinder.api.middleware.auth:NoAuthMiddleware.factory
[app:apiv3]
paste.app_factory = cinder.api.v3.router:APIRouter.factory
[pipeline:apiversions]
pipeline = request_id faultwrap osvolumeversionapp
[app:osvolumeversionapp]
paste.app_factory = cinder.api.versions:Versions.factory
INI
    if [ -n "$extra" ]; then cat "$work/cinder-paste-extra.ini" >>"$work/api-paste.ini"; fi
    cat >"$work/cinder.conf" <<INI
[DEFAULT]
host = ctl
auth_strategy = noauth
transport_url = rabbit://guest:guest@127.0.0.1:$rport/
api_paste_config = $work/api-paste.ini
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = $cport
osapi_volume_workers = 1
state_path = $work/cinder
enabled_backends = dlsm
default_volume_type = dlsm
log_dir = $work/log
debug = true

[database]
connection = sqlite:///$work/cinder.sqlite

[oslo_concurrency]
lock_path = $work/locks

[coordination]
backend_url = file://$work/coordination

INI
    # The [dlsm] section is written by the devstack plugin's own function, as lib/cinder calls
    # it, with the iniset above for devstack's: what CI deploys is what the tests run.
    (
        # shellcheck source=/dev/null
        source "$lab_root/devstack/plugin.sh" configure
        CINDER_CONF=$work/cinder.conf DLSM_BACKEND_URL=$burl DLSM_TOKEN_FILE=$work/token \
            DLSM_CONNECTION_MODE=nbd DLSM_FOLLOW_INSTANCE=live-migration configure_cinder_backend_dlsm dlsm
    ) || fail "devstack/plugin.sh configure_cinder_backend_dlsm"
    iniset "$work/cinder.conf" dlsm dlsm_retry_backoff 0.2
    grep -q '^volume_driver = dlsm_cinder.driver.DLSMDriver$' "$work/cinder.conf" ||
        fail "the plugin wrote no volume_driver for [dlsm]"
}

# start_cinder: db sync, api + scheduler + volume; waits until the volume service is up and
# the scheduler sees NODES pools; exports the cinder client's noauth settings.
start_cinder() {
    local nodes=$1 svc
    mkdir -p "$work/cinder" "$work/locks" "$work/coordination"
    for svc in api scheduler volume manage; do py_entry "cinder-$svc" "cinder.cmd.$svc"; done
    "$py" "$work/bin/cinder-manage" --config-file "$work/cinder.conf" db sync >"$work/log/db-sync.log" 2>&1 ||
        fail "cinder-manage db sync"
    for svc in api scheduler volume; do
        start "c-$svc" "$py" "$work/bin/cinder-$svc" --config-file "$work/cinder.conf"
    done
    export OS_AUTH_TYPE=noauth OS_USER_ID=admin OS_PROJECT_ID=admin
    export CINDER_ENDPOINT=http://127.0.0.1:$cport/v3 OS_VOLUME_API_VERSION=3.64
    wait_for 90 "cinder-api" cinder service-list
    wait_for 90 "cinder-volume up" cinder_volume_up
    cinder type-create dlsm >/dev/null 2>&1 || true
    cinder type-key dlsm set volume_backend_name=dlsm
    wait_for 90 "$nodes pools in the scheduler" cinder_has_pools "$nodes"
}
cinder_volume_up() { cinder service-list | grep -q 'cinder-volume.*ctl@dlsm.*enabled.*| up'; }
cinder_has_pools() { [ "$(cinder get-pools | grep -c 'ctl@dlsm#')" = "$1" ]; }

# lab_memory: the RSS of every process group started here, and PostgreSQL's, in MiB.
lab_memory() {
    local i rss total=0
    for i in "${!pids[@]}"; do
        rss=$(ps -o rss= -g "${pids[$i]}" 2>/dev/null | awk '{s+=$1} END {print int(s/1024)}')
        total=$((total + ${rss:-0}))
        printf '  %-16s %6s MiB\n' "${pid_names[$i]}" "${rss:-0}"
    done
    if [ -n "$pg_data" ]; then
        rss=$(ps -o rss= -u postgres 2>/dev/null | awk '{s+=$1} END {print int(s/1024)}')
        total=$((total + ${rss:-0}))
        printf '  %-16s %6s MiB\n' postgres "${rss:-0}"
    fi
    printf '  %-16s %6s MiB\n' total "$total"
}

# field VOLUME FIELD: one field of `cinder show`.
field() { cinder show "$1" | awk -F'|' -v k="$2" '$2 ~ "^ *"k" *$" {gsub(/ /,"",$3); print $3}'; }
status_is() { [ "$(field "$1" "$2")" = "$3" ]; }
id_of() { awk -F'|' '$2 ~ /^ *id *$/ {gsub(/ /,"",$3); print $3}'; }
