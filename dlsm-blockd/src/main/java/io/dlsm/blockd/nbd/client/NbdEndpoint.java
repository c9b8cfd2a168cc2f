package io.dlsm.blockd.nbd.client;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;

/** Where an export lives: enough to open a fresh connection to it at any time. */
public record NbdEndpoint(String host, int port, String exportName, Duration connectTimeout,
        Duration handshakeTimeout) {

    public NbdEndpoint {
        if (port <= 0 || port > 65535) {
            throw new IllegalArgumentException("bad port " + port);
        }
    }

    public NbdEndpoint(String host, int port, String exportName) {
        this(host, port, exportName, NbdClient.DEFAULT_CONNECT_TIMEOUT, NbdClient.DEFAULT_HANDSHAKE_TIMEOUT);
    }

    /** One connection attempt: connect and handshake, or an IOException. */
    public NbdClient connect() throws IOException {
        return NbdClient.connect(new InetSocketAddress(host, port), exportName, connectTimeout, handshakeTimeout);
    }

    @Override
    public String toString() {
        return "nbd://" + host + ":" + port + "/" + exportName;
    }
}
