#!/usr/bin/env bash
# shellcheck shell=bash
# devstack plugin of DLSM: builds the Java daemons, installs the Cinder driver
# shim, runs dlsm-backend (controller) and dlsm-blockd (every node) as
# devstack services, and configures the "dlsm" Cinder backend.
#
# devstack calls: plugin.sh stack {pre-install|install|post-config|extra|test-config},
# plugin.sh unstack, plugin.sh clean. Functions and variables such as
# run_process, iniset, install_package, pip_install, is_service_enabled, DEST,
# DATA_DIR, CINDER_CONF and STACK_USER come from devstack itself.

DLSM_PLUGIN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DLSM_REPO_DIR=$(dirname "$DLSM_PLUGIN_DIR")

function install_dlsm_prereqs {
    # JDK 17 is what Debian 12 and Ubuntu 22.04/24.04 ship in their archives.
    install_package openjdk-17-jdk-headless maven curl
    # nbd-client and the kernel modules are for the kernel data path; the
    # default user-space (NBD) path works without them, so none is fatal.
    install_package nbd-client || true
    local mod
    for mod in nbd dm_mod dm_clone; do
        if modinfo "$mod" >/dev/null 2>&1; then
            sudo modprobe "$mod" || echo "dlsm: could not load $mod"
        fi
    done
}

function install_dlsm {
    # A deployment build of the jars: the tests run in the project's own CI, not in devstack.
    (cd "$DLSM_REPO_DIR" && mvn -B -ntp -q -DskipTests package)
    pip_install "$DLSM_REPO_DIR/cinder-driver-shim"
}

function dlsm_token_setup {
    # One token for Cinder -> backend and backend -> blockd, created once on
    # the controller; subnodes get it through the job (or local.conf).
    if [ ! -s "$DLSM_TOKEN_FILE" ]; then
        sudo install -d -m 0755 "$(dirname "$DLSM_TOKEN_FILE")"
        if [ -n "${DLSM_TOKEN:-}" ]; then
            printf '%s' "$DLSM_TOKEN" | sudo tee "$DLSM_TOKEN_FILE" >/dev/null
        else
            head -c 24 /dev/urandom | base64 | tr -d '/+=' | sudo tee "$DLSM_TOKEN_FILE" >/dev/null
        fi
        sudo chown "$STACK_USER" "$DLSM_TOKEN_FILE"
        sudo chmod 0600 "$DLSM_TOKEN_FILE"
    fi
}

# Called by devstack's lib/cinder for every "dlsm:NAME" in CINDER_ENABLED_BACKENDS.
function configure_cinder_backend_dlsm {
    local be_name=$1
    iniset "$CINDER_CONF" "$be_name" volume_backend_name "$be_name"
    iniset "$CINDER_CONF" "$be_name" volume_driver dlsm_cinder.driver.DLSMDriver
    iniset "$CINDER_CONF" "$be_name" dlsm_backend_url "$DLSM_BACKEND_URL"
    if [ -s "$DLSM_TOKEN_FILE" ]; then
        iniset "$CINDER_CONF" "$be_name" dlsm_token "$(cat "$DLSM_TOKEN_FILE")"
    fi
    iniset "$CINDER_CONF" "$be_name" dlsm_connection_mode "$DLSM_CONNECTION_MODE"
    iniset "$CINDER_CONF" "$be_name" dlsm_follow_instance "$DLSM_FOLLOW_INSTANCE"
}

# Nova must send its service token to Cinder: Cinder (21.3.1 and later, bug #2004555) deletes
# an attachment connected to an instance only for a service request, and without it the
# source's attachment survives a live migration, so the DLSM driver never hears the source's
# terminate_connection, which is what switches the volume to the destination.
function configure_nova_service_token_for_dlsm {
    local conf
    for conf in "$NOVA_CONF" ${NOVA_CPU_CONF:+"$NOVA_CPU_CONF"}; do
        [ -f "$conf" ] || continue
        iniset "$conf" service_user send_service_user_token True
        iniset "$conf" service_user auth_type password
        iniset "$conf" service_user auth_url "$KEYSTONE_SERVICE_URI"
        iniset "$conf" service_user username nova
        iniset "$conf" service_user password "$SERVICE_PASSWORD"
        iniset "$conf" service_user user_domain_name "$SERVICE_DOMAIN_NAME"
        iniset "$conf" service_user project_name "$SERVICE_PROJECT_NAME"
        iniset "$conf" service_user project_domain_name "$SERVICE_DOMAIN_NAME"
    done
}

function configure_dlsm_backends {
    local be
    for be in ${CINDER_ENABLED_BACKENDS//,/ }; do
        if [[ ${be%%:*} == dlsm ]]; then
            configure_cinder_backend_dlsm "${be##*:}"
        fi
    done
}

function start_dlsm {
    local jar_dir="$DLSM_REPO_DIR"
    if is_service_enabled dlsm-backend; then
        mkdir -p "$DLSM_STATE_DIR/backend"
        run_process dlsm-backend "$DLSM_JAVA $DLSM_JAVA_OPTS -jar $jar_dir/dlsm-rest-backend/target/dlsm-rest-backend.jar --listen $DLSM_BACKEND_HOST:$DLSM_BACKEND_PORT --state-dir $DLSM_STATE_DIR/backend --token-file $DLSM_TOKEN_FILE --node-token-file $DLSM_TOKEN_FILE"
        if ! timeout 60 sh -c "until curl -fsS -H 'Authorization: Bearer $(cat "$DLSM_TOKEN_FILE")' $DLSM_BACKEND_URL/v1/health >/dev/null; do sleep 1; done"; then
            die $LINENO "dlsm-backend did not answer on $DLSM_BACKEND_URL"
        fi
    fi
    if is_service_enabled dlsm-blockd; then
        # blockd registers itself with the backend and heartbeats every 5 s.
        mkdir -p "$DLSM_STATE_DIR/blockd"
        local user=""
        if [[ "$DLSM_KERNEL_PATH" != off ]]; then
            # dmsetup, losetup and nbd-client need root; the kernel path is what
            # "local" connections (the ones Nova attaches) are built from.
            user=root
        fi
        run_process dlsm-blockd "$DLSM_JAVA $DLSM_JAVA_OPTS -jar $jar_dir/dlsm-blockd/target/dlsm-blockd.jar --data-dir $DLSM_STATE_DIR/blockd --nbd-listen $DLSM_NBD_HOST:$DLSM_NBD_PORT --api-listen $HOST_IP:$DLSM_BLOCKD_API_PORT --token-file $DLSM_TOKEN_FILE --backend-url $DLSM_BACKEND_URL --node-name $DLSM_NODE_NAME --backend-token-file $DLSM_TOKEN_FILE --kernel-path $DLSM_KERNEL_PATH" "" "$user"
    fi
}

function stop_dlsm {
    stop_process dlsm-blockd
    stop_process dlsm-backend
}

function clean_dlsm {
    # Volumes live under the state dir: devstack's clean removes everything.
    sudo rm -rf "$DLSM_STATE_DIR"
    # clean may run on a host where the shim was never installed: absent is the goal anyway.
    pip uninstall -y dlsm-cinder >/dev/null 2>&1 || true
}

if [[ "$1" == "stack" ]]; then
    case "$2" in
        pre-install)
            echo_summary "DLSM: installing prerequisites"
            install_dlsm_prereqs
            ;;
        install)
            echo_summary "DLSM: building the daemons and installing the Cinder driver"
            install_dlsm
            ;;
        post-config)
            echo_summary "DLSM: token, Cinder backend, dlsm-backend and dlsm-blockd"
            dlsm_token_setup
            # lib/cinder calls configure_cinder_backend_dlsm itself when it
            # writes cinder.conf; doing it here too adds the token it made.
            if is_service_enabled cinder; then
                configure_dlsm_backends
            fi
            if is_service_enabled nova; then
                configure_nova_service_token_for_dlsm
            fi
            # Started here, not in "extra": stack.sh starts cinder-volume
            # between the two, and the driver's setup checks the backend.
            start_dlsm
            ;;
        extra)
            :
            ;;
        test-config)
            :
            ;;
    esac
fi

if [[ "$1" == "unstack" ]]; then
    stop_dlsm
fi

if [[ "$1" == "clean" ]]; then
    clean_dlsm
fi
