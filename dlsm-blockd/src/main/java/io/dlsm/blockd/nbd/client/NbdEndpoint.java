package io.dlsm.blockd.nbd.client;

import io.dlsm.blockd.tls.NodeTls;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Optional;

/**
 * Where an export lives and how to talk to it: enough to open a fresh connection at any time.
 * {@code replyTimeout} bounds each reply of a {@link ReplyReading#REQUESTER} connection (a
 * reader-thread connection's callers bound their own waits). With {@code tls} every connection
 * starts with NBD_OPT_STARTTLS and checks the server's certificate against {@code host}.
 */
public record NbdEndpoint(String host, int port, String exportName, Duration connectTimeout,
        Duration handshakeTimeout, ReplyReading replyReading, Duration replyTimeout, Optional<NodeTls> tls) {

    public NbdEndpoint {
        if (port <= 0 || port > 65535) {
            throw new IllegalArgumentException("bad port " + port);
        }
    }

    public NbdEndpoint(String host, int port, String exportName, Duration connectTimeout,
            Duration handshakeTimeout, ReplyReading replyReading, Duration replyTimeout) {
        this(host, port, exportName, connectTimeout, handshakeTimeout, replyReading, replyTimeout, Optional.empty());
    }

    public NbdEndpoint(String host, int port, String exportName) {
        this(host, port, exportName, NbdClient.DEFAULT_CONNECT_TIMEOUT, NbdClient.DEFAULT_HANDSHAKE_TIMEOUT,
                ReplyReading.READER_THREAD, NbdClient.DEFAULT_HANDSHAKE_TIMEOUT);
    }

    /** The same export, its replies read by the requesters, each within {@code timeout}. */
    public NbdEndpoint withRequesterReads(Duration timeout) {
        return new NbdEndpoint(host, port, exportName, connectTimeout, handshakeTimeout, ReplyReading.REQUESTER,
                timeout, tls);
    }

    /** The same export, reached through TLS with this node's certificates (or in the clear if empty). */
    public NbdEndpoint withTls(Optional<NodeTls> nodeTls) {
        return new NbdEndpoint(host, port, exportName, connectTimeout, handshakeTimeout, replyReading, replyTimeout,
                nodeTls);
    }

    /** One connection attempt: connect and handshake, or an IOException. */
    public NbdClient connect() throws IOException {
        InetSocketAddress address = new InetSocketAddress(host, port);
        return switch (replyReading) {
            case READER_THREAD -> NbdClient.connect(address, exportName, connectTimeout, handshakeTimeout, tls);
            case REQUESTER -> NbdClient.connectRequesterRead(address, exportName, connectTimeout, handshakeTimeout,
                    replyTimeout, tls);
        };
    }

    @Override
    public String toString() {
        return (tls.isPresent() ? "nbds://" : "nbd://") + host + ":" + port + "/" + exportName;
    }
}
