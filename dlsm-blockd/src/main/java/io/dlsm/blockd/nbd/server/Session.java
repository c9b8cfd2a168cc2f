package io.dlsm.blockd.nbd.server;

/**
 * What the handshake agreed for one connection: the export, whether structured replies are
 * on, and the id under which base:allocation was selected (0 = not selected).
 */
public record Session(Export export, boolean structuredReplies, int allocationContextId) {
    public boolean blockStatusNegotiated() {
        return allocationContextId != 0;
    }
}
