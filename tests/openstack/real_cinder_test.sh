#!/usr/bin/env bash
# Real Cinder services (api with noauth, scheduler, volume; SQLite; a private
# RabbitMQ) with the DLSM shim as volume_driver, against the real Java backend
# and two real blockd nodes. Everything listens on 127.0.0.1; every process
# started here is killed by its PID (process group) on exit.
# Checks: pools = nodes, create, extend, attachment (connection info), snapshot,
# volume from snapshot and clone (content over NBD), admin migrate to the other
# node, delete.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
lab_init dlsm-real-cinder
lab_packages python3-cinder python3-cinderclient rabbitmq-server
lab_build_jars
lab_token

# -- DLSM: backend and two blockd nodes --------------------------------------
start_dlsm_backend
for n in nodeA nodeB; do start_blockd "$n"; done
wait_for 60 "two UP nodes" nodes_up 2

start_rabbitmq
write_cinder_conf ""
start_cinder 2
echo "ok: pools = nodes"

vol=$(cinder create --name real1 1 | awk -F'|' '$2 ~ /^ *id *$/ {gsub(/ /,"",$3); print $3}')
wait_for 60 "volume available" status_is "$vol" status available
bvol() { dlsm_api "$burl/v1/volumes/$vol" | "$py" -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
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
    node=$(dlsm_api "$burl/v1/volumes/$1" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["node"])')
    dlsm_api "$burl/v1/nodes/$node" | "$py" -c 'import json,sys; n=json.load(sys.stdin); print("nbd://%s:%s/" % (n["nbdHost"], n["nbdPort"]))' | tr -d '\n'
    echo "$1"
}
qio() {  # qio VOLUME_ID COMMAND: qemu-io on the volume's export; fails on a pattern mismatch
    local out
    out=$(qemu-io -f raw -c "$2" "$(nbd_of "$1")" 2>&1) || fail "qemu-io '$2' on $1: $out"
    case "$out" in *"verification failed"*|*"error"*) fail "qemu-io '$2' on $1: $out" ;; esac
}
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
gone_id() { ! dlsm_api "$burl/v1/volumes/$1" >/dev/null 2>&1; }
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
gone() { ! dlsm_api "$burl/v1/volumes/$vol"; }
wait_for 60 "backend volume deleted" gone
echo "ok: delete"
echo "real Cinder services test passed"
