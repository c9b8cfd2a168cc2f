package io.dlsm.blockd.nbd.server;

import io.dlsm.blockd.nbd.Nbd;
import java.time.Duration;

/**
 * What one client may cost the server. {@code handshakeTimeout}: a connection that has not
 * chosen an export by then is closed (qemu-nbd uses 10 s), so silent connections cannot hold
 * the connection slots. {@code stallTimeout}: a request's data must have arrived, and each
 * reply must have left, within this time, or the connection ends (time the server itself
 * makes a request wait for memory does not count); so a client cannot pin buffers by sending
 * or reading slowly. An idle client between requests is never timed out (a VM's disk may sit
 * idle for hours). The default allows a maximal 32 MiB request at 280 KB/s.
 * {@code connectionBufferBytes}: request payloads and replies one connection may have in
 * memory at once; past it the server stops reading that client's requests until its replies
 * drain. {@code bufferBudgetBytes}: the same for all connections together; a reader that
 * would exceed it waits.
 */
public record NbdLimits(Duration handshakeTimeout, Duration stallTimeout, long connectionBufferBytes,
                        long bufferBudgetBytes) {
    public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);
    public static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofSeconds(120);
    public static final long DEFAULT_CONNECTION_BUFFER_BYTES = 64L << 20;
    public static final long DEFAULT_BUFFER_BUDGET_BYTES = 512L << 20;
    public static final NbdLimits DEFAULTS = new NbdLimits(DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_STALL_TIMEOUT,
            DEFAULT_CONNECTION_BUFFER_BYTES, DEFAULT_BUFFER_BUDGET_BYTES);

    public NbdLimits {
        if (handshakeTimeout.isNegative() || handshakeTimeout.isZero()
                || stallTimeout.isNegative() || stallTimeout.isZero()) {
            throw new IllegalArgumentException("NBD handshake and stall timeouts must be positive");
        }
        // One request of the largest size must fit, or a client sending one would wait forever.
        if (connectionBufferBytes < Nbd.MAX_PAYLOAD || bufferBudgetBytes < connectionBufferBytes) {
            throw new IllegalArgumentException("the NBD connection buffer must be at least " + Nbd.MAX_PAYLOAD
                    + " bytes (the largest request) and the buffer budget at least the connection buffer; got "
                    + connectionBufferBytes + " and " + bufferBudgetBytes);
        }
    }
}
