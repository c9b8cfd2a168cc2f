#!/usr/bin/env bash
# Real Nova (Zed) live migrations of an instance booted from a DLSM volume:
# nova-api, conductor, scheduler and two nova-compute (node-a, node-b), placement,
# neutron-server on PostgreSQL, RabbitMQ, real Cinder with the DLSM driver, the
# DLSM backend and two blockd nodes named like the computes. Everything on
# 127.0.0.1; every process started here is killed by its PID (process group).
#
# Stand-ins, where this machine cannot run the real thing:
# * the virt driver is Nova's own FakeLiveMigrateDriver (no hypervisor), in
#   tests/openstack/lab/lab_virt.py: it records Nova's driver calls and waits
#   for Nova's force-complete/abort instead of a 5 s timer;
# * the guest is tests/openstack/lab/guest_standin.py: real NBD I/O (FUA writes,
#   a journal of acknowledged records) on the exports Cinder's connection info
#   names, moved between them where a hypervisor would move the guest;
# * there is no Keystone (everything is noauth): the one step of Keystone's
#   auth_token middleware Cinder needs from Nova, turning Nova's service token
#   (X-Service-Token) into service roles, is tests/openstack/lab/
#   service_token_standin.py in cinder-api's pipeline.
#
# Scenarios, each ending with the guest's journal verified byte for byte on the
# node Nova says the instance runs on, Nova's driver call order checked and
# Cinder's record (host pool, provider_location) checked:
#   1 pre-check refused, 2 abort while PREPARED, 3 abort after the switch,
#   4 completed, 5 completed back, 6 `openstack volume migrate` back after a live
#   migration. Prints per-scenario timings and the services' memory.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
lab=$lab_root/tests/openstack/lab
t_start=$SECONDS
lab_init dlsm-real-nova
lab_packages python3-nova python3-placement python3-neutron python3-psycopg2 postgresql-15 \
    rabbitmq-server python3-cinder python3-cinderclient python3-openstackclient python3-libnbd
lab_build_jars
lab_token
export DLSM_LAB_DIR=$work/lab
mkdir -p "$DLSM_LAB_DIR"
: >"$DLSM_LAB_DIR/virt-calls.log"

# -- DLSM ----------------------------------------------------------------------------
start_dlsm_backend
for n in node-a node-b; do start_blockd "$n"; done
wait_for 90 "two UP nodes" nodes_up 2

start_rabbitmq
start_postgres

# -- Cinder, with the service-token stand-in in front of noauth ------------------------
head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$work/service-token"
service_token=$(cat "$work/service-token")
cat >"$work/cinder-paste-extra.ini" <<INI
[filter:servicetoken]
paste.filter_factory = service_token_standin:ServiceTokenStandIn.factory
secret_file = $work/service-token
INI
write_cinder_conf servicetoken
start_cinder 2
cinder_api() {  # cinder_api METHOD PATH: Cinder's REST API as admin (noauth)
    curl -sS --fail-with-body -X "$1" -H "X-Auth-Token: admin:admin" -H "OpenStack-API-Version: volume 3.64" \
        -H "Content-Type: application/json" "http://127.0.0.1:$cport/v3$2" "${@:3}"
}
echo "ok: Cinder with two pools (node-a, node-b)"

# -- placement -------------------------------------------------------------------------
pport=$(free_port)
mkdir -p "$work/placement"
cat >"$work/placement/placement.conf" <<INI
[DEFAULT]
debug = false
[api]
auth_strategy = noauth2
[placement_database]
connection = sqlite:///$work/placement.sqlite
INI
py_entry placement-manage placement.cmd.manage
"$py" "$work/bin/placement-manage" --config-file "$work/placement/placement.conf" db sync \
    >"$work/log/placement-db.log" 2>&1 || fail "placement-manage db sync"
start placement env OS_PLACEMENT_CONFIG_DIR="$work/placement" "$py" "$lab/wsgi_serve.py" \
    placement.wsgi:init_application "$pport"
wait_for 60 "placement" curl -fsS "http://127.0.0.1:$pport/"

# -- neutron-server: ML2 without mechanism drivers, no agents, on PostgreSQL ----------------
qport=$(free_port)
runuser -u postgres -- "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" neutron
mkdir -p "$work/neutron"
cp /usr/lib/python3/dist-packages/neutron/tests/etc/api-paste.ini "$work/neutron/api-paste.ini"
cat >"$work/neutron/neutron.conf" <<INI
[DEFAULT]
core_plugin = ml2
service_plugins = router
auth_strategy = noauth
bind_host = 127.0.0.1
bind_port = $qport
api_workers = 1
rpc_workers = 0
transport_url = rabbit://guest:guest@127.0.0.1:$rport/
api_paste_config = $work/neutron/api-paste.ini
state_path = $work/neutron
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
[database]
connection = postgresql+psycopg2://postgres@127.0.0.1:$pg_port/neutron
[oslo_concurrency]
lock_path = $work/neutron/locks
[ml2]
type_drivers = flat
tenant_network_types =
mechanism_drivers =
extension_drivers =
INI
py_entry neutron-db-manage neutron.db.migration.cli
py_entry neutron-server neutron.cmd.eventlet.server
"$py" "$work/bin/neutron-db-manage" --config-file "$work/neutron/neutron.conf" upgrade heads \
    >"$work/log/neutron-db.log" 2>&1 || fail "neutron-db-manage upgrade heads"
start neutron "$py" "$work/bin/neutron-server" --config-file "$work/neutron/neutron.conf"
neutron_api() { curl -fsS -H "X-Auth-Token: admin:admin" "http://127.0.0.1:$qport$1"; }
wait_for 120 "neutron-server" neutron_api /v2.0/networks
# A fresh worker's first port listing can fail on a lazily loaded relation; warm it up.
neutron_api /v2.0/ports >/dev/null 2>&1 || true
wait_for 30 "neutron ports API" neutron_api /v2.0/ports

# -- Nova ------------------------------------------------------------------------------
nport=$(free_port)
mkdir -p "$work/nova/locks"
cat >"$work/nova/api-paste.ini" <<'INI'
[composite:osapi_compute]
use = call:nova.api.openstack.urlmap:urlmap_factory
/: oscomputeversions
/v2.1: openstack_compute_api_v21

[composite:openstack_compute_api_v21]
use = call:nova.api.auth:pipeline_factory_v21
noauth2 = compute_req_id faultwrap sizelimit noauth2 osapi_compute_app_v21
keystone = compute_req_id faultwrap sizelimit osapi_compute_app_v21

[filter:compute_req_id]
paste.filter_factory = nova.api.compute_req_id:ComputeReqIdMiddleware.factory
[filter:faultwrap]
paste.filter_factory = nova.api.openstack:FaultWrapper.factory
[filter:noauth2]
paste.filter_factory = nova.api.openstack.auth:NoAuthMiddleware.factory
[filter:sizelimit]
paste.filter_factory = oslo_middleware:RequestBodySizeLimiter.factory
[app:osapi_compute_app_v21]
paste.app_factory = nova.api.openstack.compute:APIRouterV21.factory
[pipeline:oscomputeversions]
pipeline = faultwrap oscomputeversionapp
[app:oscomputeversionapp]
paste.app_factory = nova.api.openstack.compute.versions:Versions.factory
INI
# Between the services: keystoneauth's admin_token plugin with a fixed noauth token; Nova's
# service user sends the stand-in's secret as its service token.
cat >"$work/nova/nova.conf" <<INI
[DEFAULT]
transport_url = rabbit://guest:guest@127.0.0.1:$rport/
state_path = $work/nova
debug = true
compute_driver = lab_virt.RecordingLiveMigrateDriver
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1
osapi_compute_listen_port = $nport
osapi_compute_workers = 1
my_ip = 127.0.0.1
heal_instance_info_cache_interval = 0
vif_plugging_timeout = 0
vif_plugging_is_fatal = false
[api]
auth_strategy = noauth2
[wsgi]
api_paste_config = $work/nova/api-paste.ini
[api_database]
connection = sqlite:///$work/nova_api.sqlite
[database]
connection = sqlite:///$work/nova_cell1.sqlite
[oslo_concurrency]
lock_path = $work/nova/locks
[scheduler]
discover_hosts_in_cells_interval = -1
[placement]
auth_type = admin_token
endpoint = http://127.0.0.1:$pport
token = admin:admin
[neutron]
auth_type = admin_token
endpoint = http://127.0.0.1:$qport
token = admin:admin
endpoint_override = http://127.0.0.1:$qport
[cinder]
auth_type = admin_token
endpoint = http://127.0.0.1:$cport/v3
token = admin:admin
endpoint_template = http://127.0.0.1:$cport/v3
[service_user]
send_service_user_token = true
auth_type = admin_token
endpoint = http://127.0.0.1:$cport/v3
token = $service_token
[glance]
api_servers = http://127.0.0.1:9
[os_vif_ovs]
ovsdb_connection = tcp:127.0.0.1:9
INI
for h in node-a node-b; do
    mkdir -p "$work/nova/$h"
    printf '[DEFAULT]\nhost = %s\ninstances_path = %s\n' "$h" "$work/nova/$h/instances" >"$work/nova/$h.conf"
done
for svc in api conductor scheduler manage; do py_entry "nova-$svc" "nova.cmd.$svc"; done
# Nova loads compute_driver from the nova.virt package only: the lab's driver is put there.
cat >"$work/bin/nova-compute" <<PYS
import sys
sys.path[:0] = ["$lab"]
from nova.cmd import compute  # first: it monkey-patches for eventlet
import lab_virt
sys.modules["nova.virt.lab_virt"] = lab_virt
sys.argv[0] = "nova-compute"
sys.exit(compute.main())
PYS
nova_manage() { "$py" "$work/bin/nova-manage" --config-file "$work/nova/nova.conf" "$@"; }
{
    nova_manage api_db sync &&
        nova_manage cell_v2 map_cell0 --database_connection "sqlite:///$work/nova_cell0.sqlite" &&
        nova_manage cell_v2 create_cell --name cell1 &&
        nova_manage db sync
} >"$work/log/nova-db.log" 2>&1 || fail "nova-manage db setup"
for svc in api conductor scheduler; do
    start "n-$svc" "$py" "$work/bin/nova-$svc" --config-file "$work/nova/nova.conf"
done
for h in node-a node-b; do
    start "n-cpu-$h" "$py" "$work/bin/nova-compute" --config-file "$work/nova/nova.conf" \
        --config-file "$work/nova/$h.conf"
done
nova_api() {  # nova_api METHOD PATH [JSON]: Nova's API as admin (noauth2), microversion 2.93
    local body=()
    [ $# -lt 3 ] || body=(-d "$3")
    curl -sS --fail-with-body -X "$1" -H "X-Auth-Token: admin:admin" -H "X-OpenStack-Nova-API-Version: 2.93" \
        -H "Content-Type: application/json" "http://127.0.0.1:$nport/v2.1$2" "${body[@]}"
}
jq_py() { "$py" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
computes_up() {
    [ "$(nova_api GET /os-services | jq_py 'sum(s["binary"]=="nova-compute" and s["state"]=="up" for s in d["services"])')" = 2 ]
}
wait_for 180 "two nova-compute services up" computes_up
hypervisors() {
    nova_manage cell_v2 discover_hosts >/dev/null 2>&1
    [ "$(nova_api GET /os-hypervisors | jq_py 'len(d["hypervisors"])')" = 2 ]
}
wait_for 120 "two hypervisors discovered" hypervisors
# The scheduler asks placement: both computes must have reported their inventory first.
candidates() {
    [ "$(curl -fsS -H "X-Auth-Token: admin:admin" -H "OpenStack-API-Version: placement 1.10" \
        "http://127.0.0.1:$pport/allocation_candidates?resources=VCPU:1,MEMORY_MB:64" |
        jq_py 'len(d["provider_summaries"])')" = 2 ]
}
wait_for 180 "both computes' inventory in placement" candidates
nova_api POST /flavors '{"flavor": {"name": "lab", "ram": 64, "vcpus": 1, "disk": 0, "id": "lab"}}' >/dev/null
echo "ok: Nova up (api, conductor, scheduler, computes node-a and node-b), lab start $((SECONDS - t_start)) s"

# -- boot from a DLSM volume -------------------------------------------------------------
vol=$(cinder create --name vm1-root 1 | id_of)
wait_for 60 "volume available" status_is "$vol" status available
cinder set-bootable "$vol" true
pool_of() { field "$vol" os-vol-host-attr:host | sed 's/.*#//'; }
src=$(pool_of)
dst=node-a; [ "$src" = node-a ] && dst=node-b
boot=$(nova_api POST /servers "{\"server\": {\"name\": \"vm1\", \"flavorRef\": \"lab\", \"networks\": \"none\",
    \"availability_zone\": \"nova:$src\", \"block_device_mapping_v2\": [{\"boot_index\": 0, \"uuid\": \"$vol\",
    \"source_type\": \"volume\", \"destination_type\": \"volume\", \"delete_on_termination\": false}]}}") ||
    fail "boot: $boot"
sid=$(echo "$boot" | jq_py 'd["server"]["id"]')
server() { nova_api GET "/servers/$sid" | jq_py "d['server'].get('$1')"; }
active_on() { [ "$(server status)" = ACTIVE ] && [ "$(server OS-EXT-SRV-ATTR:host)" = "$1" ]; }
wait_for 180 "server ACTIVE on $src" active_on "$src"
echo "ok: booted from volume $vol on $src"

# -- the guest ---------------------------------------------------------------------------
journal=$work/guest.journal
start guest "$py" "$lab/guest_standin.py" serve "$work/guest.sock" "$journal"
wait_for 30 "guest stand-in" test -S "$work/guest.sock"
guest() { "$py" "$lab/guest_standin.py" ctl "$work/guest.sock" "$@" || fail "guest: $*"; }
# conn_of HOST: "HOST PORT EXPORT" from the connection info Cinder gave HOST's attachment (its
# database: the attachments API does not show the attached host).
cinder_db() { "$py" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2], sys.argv[3:]).fetchone()[0])" \
    "$work/cinder.sqlite" "$@"; }
conn_of() {
    cinder_db "select connection_info from volume_attachment where volume_id=? and attached_host=? and deleted=0
        and attach_status in ('attached', 'attaching') and connection_info is not null order by created_at desc" \
        "$vol" "$1" | jq_py '"%s %s %s" % (d["host"], d["port"], d["export"])'
}
guest_to() {  # guest_to HOST: the guest's disk is the export Cinder's connection info for HOST names
    local c
    c=$(conn_of "$1") || fail "no connection info for $1"
    # shellcheck disable=SC2086
    guest attach $c >/dev/null
}
guest_to "$src"
guest write 50 >/dev/null
echo "ok: the guest writes on $src"

# The stand-in refuses what Keystone's middleware would: a forged X-Service-Roles without the
# service token does not make a request a service request, so Cinder does not let a client
# delete the attachment the instance uses.
att_of() {
    cinder_db "select id from volume_attachment where volume_id=? and attached_host=? and deleted=0" "$vol" "$1"
}
src_att=$(att_of "$src")
if cinder_api DELETE "/attachments/$src_att" -H "X-Service-Roles: service" >"$work/forged.out" 2>&1; then
    fail "a forged X-Service-Roles deleted the instance's attachment"
fi
cinder_api GET "/attachments/$src_att" >/dev/null || fail "the attachment is gone after a refused delete"
echo "ok: a forged service role cannot delete the instance's attachment"

# -- helpers of the scenarios --------------------------------------------------------------
calls_mark=0
mark_calls() { calls_mark=$(wc -l <"$DLSM_LAB_DIR/virt-calls.log"); }
calls_since_mark() {
    tail -n +"$((calls_mark + 1))" "$DLSM_LAB_DIR/virt-calls.log" | jq_lines
}
jq_lines() { "$py" -c "import json,sys; print(' '.join('%s@%s' % (d['call'], d['host']) for d in map(json.loads, sys.stdin)))"; }
# expect_calls SCENARIO CALL@HOST...: Nova's driver calls since the mark, in this order. Waits
# for them (the last ones are casts that may land after the state the test waited for).
expect_calls() {
    local deadline=$((SECONDS + 120)) got want="${*:2}"
    while got=$(calls_since_mark) && [ "$got" != "$want" ]; do
        [ $SECONDS -lt $deadline ] || fail "$1: Nova's driver calls were '$got', expected '$want'"
        sleep 1
    done
}
nova_migration() {  # nova_migration FIELD: of the instance's latest migration
    nova_api GET "/os-migrations?instance_uuid=$sid&migration_type=live-migration" |
        jq_py "sorted(d['migrations'], key=lambda m: m['id'])[-1].get('$1') if d['migrations'] else None"
}
migration_status_is() { [ "$(nova_migration status)" = "$1" ]; }
dlsm_migration() {  # dlsm_migration FIELD: of the volume's latest DLSM migration
    dlsm_api "$burl/v1/migrations" |
        jq_py "[m for m in d if m['volume'] == '$vol'][-1].get('$1') if [m for m in d if m['volume'] == '$vol'] else None"
}
dlsm_migrations() { dlsm_api "$burl/v1/migrations" | jq_py "len([m for m in d if m['volume'] == '$vol'])"; }
dlsm_phase_is() { [ "$(dlsm_migration phase)" = "$1" ]; }
record_is() {  # record_is NODE: Cinder's record of the volume names NODE's pool
    [ "$(cinder_db "select host || ' ' || provider_location from volumes where id=?" "$vol")" = "ctl@dlsm#$1 $1" ]
}
node_nbd() { dlsm_api "$burl/v1/nodes/$1" | jq_py 'd["nbdHost"] + " " + str(d["nbdPort"])'; }
verify_on() {  # verify_on SCENARIO NODE: every acknowledged record, byte for byte, on NODE
    local out
    # shellcheck disable=SC2046
    out=$("$py" "$lab/guest_standin.py" verify "$journal" $(node_nbd "$2") "$vol") ||
        fail "$1: journal verification on $2: $out"
    echo "  journal on $2: $out"
}
end_of_scenario() {  # end_of_scenario NAME NODE: where Nova runs it, the data and the record are NODE
    active_on "$2" || fail "$1: the instance is not ACTIVE on $2"
    [ "$(dlsm_api "$burl/v1/volumes/$vol" | jq_py 'd["node"]')" = "$2" ] || fail "$1: the backend's node is not $2"
    wait_for 60 "$1: Cinder's record names $2" record_is "$2"
    verify_on "$1" "$2"
}
timings=()
live_migrate() {  # live_migrate HOST: os-migrateLive; sets $t_api (seconds since epoch, float)
    t_api=$(date +%s.%N)
    nova_api POST "/servers/$sid/action" "{\"os-migrateLive\": {\"host\": \"$1\", \"block_migration\": false}}" \
        >/dev/null
}
since_api() { "$py" -c "import time; print('%.1f' % (time.time() - $t_api))"; }
wait_running() {
    wait_for 180 "live migration running" migration_status_is running
    t_running=$(since_api)
}

# -- 1. pre-check refused -------------------------------------------------------------------
mark_calls
touch "$DLSM_LAB_DIR/refuse-precheck"
live_migrate "$dst"
wait_for 120 "migration refused" migration_status_is error
rm -f "$DLSM_LAB_DIR/refuse-precheck"
expect_calls "1 pre-check refused" "check_can_live_migrate_destination@$dst"
[ "$(dlsm_migrations)" = 0 ] || fail "1 pre-check refused: a DLSM migration was made"
guest write 20 >/dev/null
end_of_scenario "1 pre-check refused" "$src"
echo "ok: 1 pre-check refused"

# -- 2. abort while PREPARED ------------------------------------------------------------------
mark_calls
live_migrate "$dst"
wait_running
wait_for 60 "DLSM migration PREPARED" dlsm_phase_is PREPARED
[ "$(dlsm_migration switchMode)" = manual ] || fail "2: the live migration's DLSM migration is not manual"
guest write 20 >/dev/null
mig=$(nova_migration id)
nova_api DELETE "/servers/$sid/migrations/$mig" >/dev/null
wait_for 120 "migration cancelled" migration_status_is cancelled
wait_for 120 "DLSM migration ABORTED" dlsm_phase_is ABORTED
wait_for 60 "the instance ACTIVE on $src" active_on "$src"
expect_calls "2 abort while PREPARED" "check_can_live_migrate_destination@$dst" \
    "check_can_live_migrate_source@$src" "pre_live_migration@$dst" "live_migration@$src" \
    "live_migration_abort@$src"
guest write 20 >/dev/null
end_of_scenario "2 abort while PREPARED" "$src"
timings+=("2 abort while PREPARED: API->running ${t_running} s")
echo "ok: 2 abort while PREPARED"

# -- 3. abort after the switch ---------------------------------------------------------------
# The case that lost disks: the switch came before Nova decided (the guest had dropped its
# source connection, as a paused guest or a post-copy memory migration does, and the old rule
# switched on that). Here an operator's switch stands for it; the guest runs on the
# destination meanwhile; then Nova aborts and keeps the instance on the source.
mark_calls
live_migrate "$dst"
wait_running
wait_for 60 "DLSM migration PREPARED" dlsm_phase_is PREPARED
guest detach >/dev/null
dlsm_api -X POST "$burl/v1/migrations/$(dlsm_migration id)/switch" >/dev/null
wait_for 60 "DLSM migration switched" dlsm_phase_is ACTIVE
guest_to "$dst"
guest write 30 >/dev/null
mig=$(nova_migration id)
nova_api DELETE "/servers/$sid/migrations/$mig" >/dev/null
wait_for 120 "migration cancelled" migration_status_is cancelled
wait_for 120 "DLSM migration ABORTED (copied back)" dlsm_phase_is ABORTED
wait_for 60 "the instance ACTIVE on $src" active_on "$src"
guest_to "$src"
guest write 20 >/dev/null
expect_calls "3 abort after the switch" "check_can_live_migrate_destination@$dst" \
    "check_can_live_migrate_source@$src" "pre_live_migration@$dst" "live_migration@$src" \
    "live_migration_abort@$src"
end_of_scenario "3 abort after the switch" "$src"
timings+=("3 abort after the switch: API->running ${t_running} s")
echo "ok: 3 abort after the switch"

# -- 4./5. completed, and completed back -------------------------------------------------------
complete_to() {  # complete_to SCENARIO FROM TO
    mark_calls
    live_migrate "$3"
    wait_running
    wait_for 60 "DLSM migration PREPARED" dlsm_phase_is PREPARED
    guest write 20 >/dev/null
    # The hypervisor's switch-over: the guest continues on the destination's export (through
    # its PROXY sink until Nova lets the source go), the source QEMU quits.
    guest_to "$3"
    guest write 20 >/dev/null
    mig=$(nova_migration id)
    nova_api POST "/servers/$sid/migrations/$mig/action" '{"force_complete": null}' >/dev/null
    wait_for 120 "migration completed" migration_status_is completed
    wait_for 60 "the instance ACTIVE on $3" active_on "$3"
    guest write 20 >/dev/null
    wait_for 180 "DLSM migration COMMITTED" dlsm_phase_is COMMITTED
    t_committed=$(since_api)
    expect_calls "$1" "check_can_live_migrate_destination@$3" "check_can_live_migrate_source@$2" \
        "pre_live_migration@$3" "live_migration@$2" "live_migration_force_complete@$2" \
        "post_live_migration@$2" "post_live_migration_at_destination@$3"
    guest write 20 >/dev/null
    end_of_scenario "$1" "$3"
    timings+=("$1: API->running ${t_running} s, API->COMMITTED ${t_committed} s")
    echo "ok: $1"
}
complete_to "4 completed" "$src" "$dst"
complete_to "5 completed back" "$dst" "$src"

# -- 6. openstack volume migrate back after a live migration -------------------------------------
complete_to "6a live migration before the volume migrate" "$src" "$dst"
nova_api DELETE "/servers/$sid" >/dev/null
gone() { ! nova_api GET "/servers/$sid" >/dev/null 2>&1; }
wait_for 120 "server deleted" gone
wait_for 60 "volume available" status_is "$vol" status available
guest detach >/dev/null
t_api=$(date +%s.%N)
openstack --os-auth-type noauth --os-user-id admin --os-project-id admin --os-endpoint "http://127.0.0.1:$cport/v3" --os-volume-api-version 3.64 \
    volume migrate --host "ctl@dlsm#$src" "$vol" >"$work/log/osc-migrate.log" 2>&1 ||
    fail "6: openstack volume migrate: $(cat "$work/log/osc-migrate.log")"
wait_for 120 "volume migrate success" status_is "$vol" migration_status success
wait_for 180 "DLSM migration COMMITTED" dlsm_phase_is COMMITTED
t_committed=$(since_api)
wait_for 60 "Cinder's record names $src" record_is "$src"
[ "$(dlsm_api "$burl/v1/volumes/$vol" | jq_py 'd["node"]')" = "$src" ] || fail "6: the backend's node is not $src"
verify_on "6 volume migrate back" "$src"
timings+=("6 volume migrate back: API->COMMITTED ${t_committed} s")
echo "ok: 6 openstack volume migrate back to $src after a live migration"

echo "== timings (lab start $((SECONDS - t_start)) s in all)"
printf '  %s\n' "${timings[@]}"
echo "== memory (RSS of each service's process group)"
lab_memory
echo "real Nova live-migration test passed"
