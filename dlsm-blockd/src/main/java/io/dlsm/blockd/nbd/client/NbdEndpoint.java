package io.dlsm.blockd.nbd.client;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;

/**
 * Where an export lives and how to talk to it: enough to open a fresh connection at any time.
 * {@code replyTimeout} bounds each reply of a {@link ReplyReading#REQUESTER} connection (a
 * reader-thread connection's callers bound their own waits).
 */
public record NbdEndpoint(String host, int port, String exportName, Duration connectTimeout,
        Duration handshakeTimeout, ReplyReading replyReading, Duration replyTimeout) {

    public NbdEndpoint {
        if (port <= 0 || port > 65535) {
            throw new IllegalArgumentException("bad port " + port);
        }
    }

    public NbdEndpoint(String host, int port, String exportName) {
        this(host, port, exportName, NbdClient.DEFAULT_CONNECT_TIMEOUT, NbdClient.DEFAULT_HANDSHAKE_TIMEOUT,
                ReplyReading.READER_THREAD, NbdClient.DEFAULT_HANDSHAKE_TIMEOUT);
    }

    /** The same export, its replies read by the requesters, each within {@code timeout}. */
    public NbdEndpoint withRequesterReads(Duration timeout) {
        return new NbdEndpoint(host, port, exportName, connectTimeout, handshakeTimeout, ReplyReading.REQUESTER,
                timeout);
    }

    /** One connection attempt: connect and handshake, or an IOException. */
    public NbdClient connect() throws IOException {
        InetSocketAddress address = new InetSocketAddress(host, port);
        return switch (replyReading) {
            case READER_THREAD -> NbdClient.connect(address, exportName, connectTimeout, handshakeTimeout);
            case REQUESTER -> NbdClient.connectRequesterRead(address, exportName, connectTimeout, handshakeTimeout,
                    replyTimeout);
        };
    }

    @Override
    public String toString() {
        return "nbd://" + host + ":" + port + "/" + exportName;
    }
}
