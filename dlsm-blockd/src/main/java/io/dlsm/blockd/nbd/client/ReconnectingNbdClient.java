package io.dlsm.blockd.nbd.client;

import java.io.Closeable;
import java.io.IOException;

/**
 * Holds the current connection to one endpoint and replaces it on request. It never retries by
 * itself: {@link #current()} and {@link #reconnect()} make exactly one attempt each, so the
 * caller's retry and backoff policy stays the only one.
 *
 * <p>Every new connection must show the same export size as the first one did: a source that
 * changed size under a migration is not the same disk, and data from it must not be mixed in.
 */
public final class ReconnectingNbdClient implements Closeable {
    private final NbdEndpoint endpoint;
    private NbdClient client;
    private long expectedSize = -1;
    private int connections;
    private boolean closed;

    public ReconnectingNbdClient(NbdEndpoint endpoint) {
        this.endpoint = endpoint;
    }

    public NbdEndpoint endpoint() {
        return endpoint;
    }

    /** The live connection; if there is none (never opened, or broken), one attempt to open it. */
    public synchronized NbdClient current() throws IOException {
        ensureNotClosed();
        if (client != null && client.isOpen()) {
            return client;
        }
        return replace();
    }

    /** Drops the current connection (requests on it fail) and makes one attempt to open a new one. */
    public synchronized NbdClient reconnect() throws IOException {
        ensureNotClosed();
        return replace();
    }

    /** How many connections were opened successfully so far. */
    public synchronized int connections() {
        return connections;
    }

    @Override
    public synchronized void close() {
        closed = true;
        if (client != null) {
            client.close();
            client = null;
        }
    }

    private NbdClient replace() throws IOException {
        if (client != null) {
            client.close();
            client = null;
        }
        NbdClient fresh = endpoint.connect();
        if (expectedSize >= 0 && fresh.size() != expectedSize) {
            fresh.close();
            throw new IOException(endpoint + " now has " + fresh.size() + " bytes, was " + expectedSize
                    + " bytes: not the same export");
        }
        expectedSize = fresh.size();
        connections++;
        client = fresh;
        return fresh;
    }

    private void ensureNotClosed() throws IOException {
        if (closed) {
            throw new IOException("reconnecting client for " + endpoint + " is closed");
        }
    }
}
