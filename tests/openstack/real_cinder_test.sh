#!/usr/bin/env bash
# Real Cinder services (api with noauth, scheduler, volume; SQLite; a private
# RabbitMQ) with the DLSM shim as volume_driver, against the real Java backend
# and two real blockd nodes. Everything listens on 127.0.0.1; every process
# started here is killed by its PID (process group) on exit.
# Checks: pools = nodes, create, extend, attachment (connection info), snapshot,
# volume from snapshot and clone (content over NBD), admin migrate to the other
# node, delete.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3
work=$(mktemp -d /tmp/dlsm-real-cinder.XXXXXX)
pids=()
cleanup() {
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
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$work"/log/*.log; do echo "--- $f"; tail -20 "$f"; done >&2; exit 1; }

need=()
"$py" -c 'import cinder' 2>/dev/null || need+=(python3-cinder)
command -v cinder >/dev/null || need+=(python3-cinderclient)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
if ((${#need[@]})); then
    apt-get install -y "${need[@]}" || { apt-get update && apt-get install -y "${need[@]}"; }
fi
backend_jar=$root/dlsm-rest-backend/target/dlsm-rest-backend.jar
blockd_jar=$root/dlsm-blockd/target/dlsm-blockd.jar
if [ ! -f "$backend_jar" ] || [ ! -f "$blockd_jar" ]; then
    (cd "$root" && mvn -B -ntp -q -DskipTests package)
fi

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() {  # start NAME CMD...: own process group, log under $work/log
    setsid "${@:2}" >"$work/log/$1.log" 2>&1 &
    pids+=($!)
}
wait_for() {  # wait_for SECONDS DESCRIPTION CMD...
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || fail "timeout waiting for $what"
        sleep 1
    done
}
mkdir -p "$work/log"
token=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
printf '%s' "$token" >"$work/token"
chmod 600 "$work/token"

# -- DLSM: backend and two blockd nodes --------------------------------------
bport=$(free_port)
burl=http://127.0.0.1:$bport
# The API token is the one Cinder gets (as devstack does it); the registration token, which the
# nodes present at their first registration, is the one the backend makes in its state dir.
start backend java -jar "$backend_jar" --listen "127.0.0.1:$bport" --state-dir "$work/backend" \
    --token-file "$work/token"
api() { curl -fsS -H "Authorization: Bearer $token" "$@"; }
wait_for 60 "backend health" api "$burl/v1/health"
for n in nodeA nodeB; do
    # Each blockd makes its own API token and hands it to the backend when it registers.
    start "blockd-$n" java -jar "$blockd_jar" --data-dir "$work/$n" --nbd-listen 127.0.0.1:0 \
        --api-listen 127.0.0.1:0 --backend-url "$burl" \
        --node-name "$n" --registration-token-file "$work/backend/registration-token"
done
nodes_up() { [ "$(api "$burl/v1/nodes" | "$py" -c 'import json,sys; print(sum(n["state"]=="UP" for n in json.load(sys.stdin)))')" = 2 ]; }
wait_for 60 "two UP nodes" nodes_up

# -- RabbitMQ ------------------------------------------------------------------
rport=$(free_port)
epmd_port=$(free_port)
mkdir -p "$work/rabbit/home"
start rabbitmq env HOME="$work/rabbit/home" RABBITMQ_NODE_PORT="$rport" \
    RABBITMQ_DIST_PORT="$(free_port)" ERL_EPMD_PORT="$epmd_port" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODENAME="dlsm$rport@localhost" \
    RABBITMQ_MNESIA_BASE="$work/rabbit/mnesia" RABBITMQ_LOG_BASE="$work/rabbit/log" \
    /usr/lib/rabbitmq/bin/rabbitmq-server
tcp_open() { "$py" -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),1)"; }
wait_for 90 "RabbitMQ" tcp_open "$rport"

# -- Cinder ------------------------------------------------------------------
cport=$(free_port)
cat >"$work/api-paste.ini" <<'INI'
[composite:osapi_volume]
use = call:cinder.api:root_app_factory
/: apiversions
/v3: openstack_volume_api_v3

[composite:openstack_volume_api_v3]
use = call:cinder.api.middleware.auth:pipeline_factory
noauth = request_id faultwrap sizelimit noauth apiv3
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
# The [dlsm] section is written by the devstack plugin's own function, as lib/cinder calls it,
# with a stand-in for devstack's iniset: what CI deploys is what this test runs.
iniset() { # FILE SECTION OPTION VALUE, like devstack's
    "$py" - "$@" <<'PY'
import configparser, sys
path, section, option, value = sys.argv[1:5]
c = configparser.RawConfigParser()
c.optionxform = str
c.read(path)
if not c.has_section(section):
    c.add_section(section)
c.set(section, option, value)
with open(path, 'w') as f:
    c.write(f)
PY
}
printf '%s' "$token" >"$work/token"
(
    # shellcheck source=/dev/null
    source "$root/devstack/plugin.sh" configure
    CINDER_CONF=$work/cinder.conf DLSM_BACKEND_URL=$burl DLSM_TOKEN_FILE=$work/token \
        DLSM_CONNECTION_MODE=nbd DLSM_FOLLOW_INSTANCE=live-migration configure_cinder_backend_dlsm dlsm
) || fail "devstack/plugin.sh configure_cinder_backend_dlsm"
iniset "$work/cinder.conf" dlsm dlsm_retry_backoff 0.2
grep -q '^volume_driver = dlsm_cinder.driver.DLSMDriver$' "$work/cinder.conf" ||
    fail "the plugin wrote no volume_driver for [dlsm]"
mkdir -p "$work/cinder" "$work/locks" "$work/coordination"
for svc in api scheduler volume manage; do
    cat >"$work/cinder-$svc" <<PYS
import sys
sys.path.insert(0, "$root/cinder-driver-shim")
from cinder.cmd import $svc
sys.argv[0] = "cinder-$svc"
sys.exit($svc.main())
PYS
done
"$py" "$work/cinder-manage" --config-file "$work/cinder.conf" db sync >"$work/log/db-sync.log" 2>&1 ||
    fail "cinder-manage db sync"
for svc in api scheduler volume; do
    start "c-$svc" "$py" "$work/cinder-$svc" --config-file "$work/cinder.conf"
done

export OS_AUTH_TYPE=noauth OS_USER_ID=admin OS_PROJECT_ID=admin
export CINDER_ENDPOINT=http://127.0.0.1:$cport/v3 OS_VOLUME_API_VERSION=3.64
wait_for 90 "cinder-api" cinder service-list
volume_up() { cinder service-list | grep -q 'cinder-volume.*ctl@dlsm.*enabled.*| up'; }
wait_for 90 "cinder-volume up" volume_up
cinder type-create dlsm >/dev/null 2>&1 || true
cinder type-key dlsm set volume_backend_name=dlsm
pools() { cinder get-pools | grep -c 'ctl@dlsm#node'; }
has_two_pools() { [ "$(pools)" = 2 ]; }
wait_for 90 "two pools in the scheduler" has_two_pools
echo "ok: pools = nodes"

field() { cinder show "$1" | awk -F'|' -v k="$2" '$2 ~ "^ *"k" *$" {gsub(/ /,"",$3); print $3}'; }
status_is() { [ "$(field "$1" "$2")" = "$3" ]; }
vol=$(cinder create --name real1 1 | awk -F'|' '$2 ~ /^ *id *$/ {gsub(/ /,"",$3); print $3}')
wait_for 60 "volume available" status_is "$vol" status available
bvol() { api "$burl/v1/volumes/$vol" | "$py" -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
[ "$(bvol sizeBytes)" = $((1024 ** 3)) ] || fail "backend size after create"
src=$(bvol node)
echo "ok: create (backend volume $vol on $src)"

cinder extend "$vol" 2
size_is() { [ "$(bvol sizeBytes)" = $((2 * 1024 ** 3)) ]; }
wait_for 60 "extend" size_is
wait_for 30 "available after extend" status_is "$vol" status available
echo "ok: extend"

conn=$(cinder attachment-create --connect True --host "$src" --initiator iqn.x --ip 127.0.0.1 \
    --platform x86_64 --ostype linux --multipath False --mountpoint /dev/vdb "$vol")
echo "$conn" | grep -q "driver_volume_type.*nbd" || fail "attachment connection info: $conn"
att=$(echo "$conn" | awk -F'|' '$2 ~ /^ *id *$/ {gsub(/ /,"",$3); print $3}')
echo "ok: attachment with nbd connection info"
cinder attachment-delete "$att"
wait_for 30 "available after detach" status_is "$vol" status available

# -- snapshots and clones, content checked over NBD -----------------------------
# Backend volume names are Cinder volume ids; blockd exports each under that name.
nbd_of() {  # nbd_of VOLUME_ID: nbd:// URI of its export on its node
    local node
    node=$(api "$burl/v1/volumes/$1" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["node"])')
    api "$burl/v1/nodes/$node" | "$py" -c 'import json,sys; n=json.load(sys.stdin); print("nbd://%s:%s/" % (n["nbdHost"], n["nbdPort"]))' | tr -d '\n'
    echo "$1"
}
qio() {  # qio VOLUME_ID COMMAND: qemu-io on the volume's export; fails on a pattern mismatch
    local out
    out=$(qemu-io -f raw -c "$2" "$(nbd_of "$1")" 2>&1) || fail "qemu-io '$2' on $1: $out"
    case "$out" in *"verification failed"*|*"error"*) fail "qemu-io '$2' on $1: $out" ;; esac
}
id_of() { awk -F'|' '$2 ~ /^ *id *$/ {gsub(/ /,"",$3); print $3}'; }
qio "$vol" 'write -P 0x5a 1M 64k'
snap=$(cinder snapshot-create --name real1-snap "$vol" | id_of)
snap_ok() { cinder snapshot-show "$snap" | grep -q '| *status *| *available'; }
wait_for 60 "snapshot available" snap_ok
qio "$vol" 'write -P 0xa5 1M 64k'
echo "ok: snapshot-create"
fromsnap=$(cinder create --snapshot-id "$snap" --name real1-fromsnap 3 | id_of)
wait_for 90 "volume from snapshot available" status_is "$fromsnap" status available
qio "$fromsnap" 'read -P 0x5a 1M 64k'
qio "$fromsnap" 'read -P 0 3221159936 64k'
echo "ok: create --snapshot-id (snapshot content, grown to 3 GiB)"
clone=$(cinder create --source-volid "$vol" --name real1-clone 2 | id_of)
wait_for 90 "clone available" status_is "$clone" status available
qio "$clone" 'read -P 0xa5 1M 64k'
echo "ok: create --source-volid (current content)"
cinder delete "$fromsnap" "$clone"
gone_id() { ! api "$burl/v1/volumes/$1" >/dev/null 2>&1; }
wait_for 60 "volume from snapshot deleted" gone_id "$fromsnap"
wait_for 60 "clone deleted" gone_id "$clone"
# A volume with snapshots cannot migrate: its snapshots stay on its node.
cinder snapshot-delete "$snap"
snap_gone() { ! cinder snapshot-show "$snap" >/dev/null 2>&1; }
wait_for 60 "snapshot deleted" snap_gone
echo "ok: snapshot-delete"

dst=nodeA; [ "$src" = nodeA ] && dst=nodeB
cinder migrate "$vol" "ctl@dlsm#$dst"
wait_for 60 "migration success" status_is "$vol" migration_status success
[ "$(field "$vol" os-vol-host-attr:host)" = "ctl@dlsm#$dst" ] || fail "volume.host after migrate"
[ "$(bvol node)" = "$dst" ] || fail "backend node after migrate"
echo "ok: migrate $src -> $dst"

committed() { [ "$(bvol state)" = AVAILABLE ]; }
wait_for 60 "migration committed" committed
cinder delete "$vol"
gone() { ! api "$burl/v1/volumes/$vol"; }
wait_for 60 "backend volume deleted" gone
echo "ok: delete"
echo "real Cinder services test passed"
