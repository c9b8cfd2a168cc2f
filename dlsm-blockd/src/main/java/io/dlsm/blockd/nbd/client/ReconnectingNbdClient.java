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
    /** Changed by {@link #retarget} without the lock, which a connection attempt may hold for long. */
    private volatile NbdEndpoint endpoint;
    private volatile NbdClient client;
    private long expectedSize = -1;
    private int connections;
    private boolean closed;

    public ReconnectingNbdClient(NbdEndpoint endpoint) {
        this.endpoint = endpoint;
    }

    public NbdEndpoint endpoint() {
        return endpoint;
    }

    /**
     * From now on connects to {@code moved} (the same export, moved to another address): the
     * current connection is dropped, so requests on it fail and their retry reconnects there.
     * The size check still holds: an export of another size is not the same disk.
     */
    public void retarget(NbdEndpoint moved) {
        endpoint = moved;
        NbdClient old = client;
        if (old != null) {
            // Not under the lock: an attempt connecting to the old address (up to its
            // timeouts) holds it, and finds the endpoint changed when it is done.
            old.close();
        }
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
        NbdEndpoint target = endpoint;
        NbdClient fresh = target.connect();
        if (endpoint != target) {
            fresh.close();
            throw new IOException(target + " is no longer the address: retargeted to " + endpoint);
        }
        if (expectedSize >= 0 && fresh.size() != expectedSize) {
            fresh.close();
            throw new IOException(endpoint + " now has " + fresh.size() + " bytes, was " + expectedSize
                    + " bytes: not the same export");
        }
        expectedSize = fresh.size();
        connections++;
        client = fresh;
        if (endpoint != target) {
            // retarget ran between the check above and this assignment and may not have seen
            // this connection (both fields are volatile: one of the two sees the other).
            fresh.close();
            client = null;
            throw new IOException(target + " is no longer the address: retargeted to " + endpoint);
        }
        return fresh;
    }

    private void ensureNotClosed() throws IOException {
        if (closed) {
            throw new IOException("reconnecting client for " + endpoint + " is closed");
        }
    }
}
