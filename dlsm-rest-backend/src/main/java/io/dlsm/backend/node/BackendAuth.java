package io.dlsm.backend.node;

/** How the backend authenticates to a node's control API. */
public enum BackendAuth {
    /** With the API token the node handed over when it registered (sent to no other URL). */
    TOKEN,
    /** Without one: the node runs with {@code --insecure-no-auth}. */
    NONE
}
