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

# Makes FILE (mode 0600, owned by the stack user) from VALUE, or from 256
# random bits when VALUE is empty; an existing file is kept. Arguments: FILE VALUE
function dlsm_secret_file {
    local file=$1 value=$2
    if [ ! -s "$file" ]; then
        sudo install -d -m 0755 "$(dirname "$file")"
        if [ -z "$value" ]; then
            value=$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')
        fi
        (umask 077 && printf '%s' "$value" | sudo tee "$file" >/dev/null)
        sudo chown "$STACK_USER" "$file"
        sudo chmod 0600 "$file"
    fi
}

function dlsm_token_setup {
    # Cinder -> backend: the API token. blockd -> backend, first registration
    # only: the registration token (later ones use the node's own credential,
    # and the backend calls each blockd with the token that node handed over).
    # Made once on the controller; subnodes get them through the job (or
    # local.conf).
    dlsm_secret_file "$DLSM_TOKEN_FILE" "${DLSM_TOKEN:-}"
    dlsm_secret_file "$DLSM_REGISTRATION_TOKEN_FILE" "${DLSM_REGISTRATION_TOKEN:-}"
}

function dlsm_tls_setup {
    # The CA's certificate is made from its key on every node with the same
    # subject, so nodes sharing the key trust each other's node certificates.
    local d=$DLSM_TLS_DIR
    sudo install -d -m 0755 "$d"
    if [ ! -s "$d/ca-key.pem" ]; then
        if [ -n "$DLSM_TLS_CA_KEY_B64" ]; then
            echo "$DLSM_TLS_CA_KEY_B64" | base64 -d | sudo openssl pkey -inform DER -out "$d/ca-key.pem"
        else
            sudo openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/ca-key.pem"
        fi
    fi
    if [ ! -s "$d/ca-cert.pem" ]; then
        sudo openssl req -x509 -new -key "$d/ca-key.pem" -out "$d/ca-cert.pem" -days 3650 \
            -subj "/O=DLSM devstack/CN=DLSM devstack CA" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    fi
    if [ ! -s "$d/node-cert.pem" ]; then
        # Server and client at once: peers dial HOST_IP (the NBD address the node registers).
        printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:%s,DNS:%s\n' \
            "$DLSM_NBD_HOST" "$(hostname)" | sudo tee "$d/node.ext" >/dev/null
        sudo openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$d/node-key.pem" -out "$d/node.csr" -subj "/O=DLSM devstack/CN=$DLSM_NODE_NAME"
        sudo openssl x509 -req -in "$d/node.csr" -CA "$d/ca-cert.pem" -CAkey "$d/ca-key.pem" \
            -CAcreateserial -days 825 -out "$d/node-cert.pem" -extfile "$d/node.ext"
    fi
    # blockd runs as the stack user unless the kernel path needs root.
    sudo chown "$STACK_USER" "$d/node-key.pem"
    sudo chmod 0600 "$d/node-key.pem" "$d/ca-key.pem"
}

function dlsm_tls_args {
    if [[ "$(trueorfalse True DLSM_TLS)" == True ]]; then
        echo "--tls-cert $DLSM_TLS_DIR/node-cert.pem --tls-key $DLSM_TLS_DIR/node-key.pem --tls-ca $DLSM_TLS_DIR/ca-cert.pem --tls require"
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
        run_process dlsm-backend "$DLSM_JAVA $DLSM_JAVA_OPTS -jar $jar_dir/dlsm-rest-backend/target/dlsm-rest-backend.jar --listen $DLSM_BACKEND_HOST:$DLSM_BACKEND_PORT --state-dir $DLSM_STATE_DIR/backend --token-file $DLSM_TOKEN_FILE --registration-token-file $DLSM_REGISTRATION_TOKEN_FILE"
        # /v1/health answers without a token (and says nothing but "ok").
        if ! timeout 60 sh -c "until curl -fsS $DLSM_BACKEND_URL/v1/health >/dev/null; do sleep 1; done"; then
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
        run_process dlsm-blockd "$DLSM_JAVA $DLSM_JAVA_OPTS -jar $jar_dir/dlsm-blockd/target/dlsm-blockd.jar --data-dir $DLSM_STATE_DIR/blockd --nbd-listen $DLSM_NBD_HOST:$DLSM_NBD_PORT --api-listen $HOST_IP:$DLSM_BLOCKD_API_PORT --backend-url $DLSM_BACKEND_URL --node-name $DLSM_NODE_NAME --registration-token-file $DLSM_REGISTRATION_TOKEN_FILE --kernel-path $DLSM_KERNEL_PATH $(dlsm_tls_args)" "" "$user"
    fi
}

function stop_dlsm {
    stop_process dlsm-blockd
    stop_process dlsm-backend
}

function clean_dlsm {
    # Volumes live under the state dir: devstack's clean removes everything.
    sudo rm -rf "$DLSM_STATE_DIR"
    # Node certificates are remade at the next stack; the CA key is kept, peers trust it.
    sudo rm -f "$DLSM_TLS_DIR"/node-*.pem "$DLSM_TLS_DIR"/node.*
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
            if [[ "$(trueorfalse True DLSM_TLS)" == True ]] && is_service_enabled dlsm-blockd; then
                dlsm_tls_setup
            fi
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
