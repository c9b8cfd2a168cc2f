package io.dlsm.blockd.tls;

/** Whether blockd's NBD server insists on TLS or also serves clients that do not ask for it. */
public enum TlsMode {
    /**
     * Every client must send NBD_OPT_STARTTLS first: any other option gets
     * NBD_REP_ERR_TLS_REQD, and NBD_OPT_EXPORT_NAME (which has no error reply) ends the
     * connection. The default whenever certificates are configured.
     */
    REQUIRE,
    /**
     * TLS for the clients that ask for it, plain NBD for the rest: only for moving a cluster
     * to TLS node by node, since a plain client is exactly what TLS is meant to keep out.
     */
    OFFER
}
