package io.dlsm.backend.node;

/** How a node's last registration was authenticated, as {@code dlsm node list} shows it. */
public enum NodeAuth {
    /** The node presented the credential it bound at its first registration. */
    CREDENTIAL,
    /** First registration: the registration token, binding the node's credential from then on. */
    REGISTRATION_TOKEN,
    /** Registered by an operator (the API token), with or without a credential. */
    OPERATOR_TOKEN,
    /** The backend runs with {@code --insecure-no-auth}. */
    NONE
}
