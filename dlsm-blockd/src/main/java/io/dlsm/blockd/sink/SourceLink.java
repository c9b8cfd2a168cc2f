package io.dlsm.blockd.sink;

import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.nbd.client.NbdClient;
import io.dlsm.blockd.nbd.client.NbdEndpoint;
import io.dlsm.blockd.nbd.client.ReconnectingNbdClient;
import io.dlsm.blockd.nbd.client.ReplyReading;
import io.dlsm.blockd.tls.NodeTls;
import java.io.Closeable;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The NBD connections to the migration source, with the sink's retry policy: transient
 * failures (connection lost, EIO from the peer) are retried with exponential backoff,
 * reconnecting each time, until a deadline; errors that retrying cannot fix are raised at once.
 */
final class SourceLink implements Closeable {
    /** How callers share the link's connections. */
    enum Sharing {
        /** One pipelined connection for every caller: the copier, many requests from one thread. */
        PIPELINED,
        /**
         * One connection per concurrent caller, whose replies the caller reads itself
         * ({@link ReplyReading#REQUESTER}): every call is a guest's request waiting, and the
         * reply should wake that thread directly. At most {@link #MAX_PER_CALLER} connections
         * (blockd runs 8 requests at once by default); one if the source does not say
         * NBD_FLAG_CAN_MULTI_CONN, since only then does a FLUSH cover other connections' writes.
         */
        PER_CALLER
    }

    static final int MAX_PER_CALLER = 8;

    private static final Logger log = LoggerFactory.getLogger(SourceLink.class);
    private static final long FIRST_BACKOFF_MS = 20;
    private static final long MAX_BACKOFF_MS = 1000;

    /** An operation on the current connection. */
    interface Op<T> {
        T apply(NbdClient client) throws IOException;
    }

    /**
     * How long one attempt may take before the connection is presumed hung and replaced:
     * a source that keeps the socket open but stops answering must not stall the guest.
     */
    static final Duration ATTEMPT_TIMEOUT = Duration.ofSeconds(10);

    /** Waits for an asynchronous request, at most {@link #ATTEMPT_TIMEOUT}. */
    static <T> T await(java.util.concurrent.CompletableFuture<T> f) throws IOException {
        try {
            return f.get(ATTEMPT_TIMEOUT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            f.cancel(false);
            throw new IOException("no answer from the source within " + ATTEMPT_TIMEOUT.toSeconds() + " s");
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw new IOException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BlockIoException(Errno.ESHUTDOWN, "interrupted while waiting for the source");
        }
    }

    /** Changed only by {@link #repoint}, under the lock of {@link #all}. */
    private volatile SinkRecord.SourceAddress address;
    private volatile NbdEndpoint endpoint;
    private final Sharing sharing;
    private final Optional<NodeTls> tls;
    private final Duration deadline;
    private final String purpose;
    private final AtomicLong failures = new AtomicLong();
    /** Every connection made, and (PER_CALLER) those nobody holds; guarded by itself. */
    private final List<ReconnectingNbdClient> all = new ArrayList<>();
    private final Deque<ReconnectingNbdClient> idle = new ArrayDeque<>();
    /** PER_CALLER: one until the first handshake shows whether the source offers multi-conn. */
    private int limit = 1;
    /** Written under the lock, read without it: after the first handshake calls skip the lock. */
    private volatile boolean limitKnown;
    private boolean closed;

    SourceLink(SinkRecord.SourceAddress address, Sharing sharing, Duration deadline, String purpose) {
        this(address, sharing, deadline, purpose, Optional.empty());
    }

    /** With {@code tls}, every connection to the source goes through TLS with this node's certificates. */
    SourceLink(SinkRecord.SourceAddress address, Sharing sharing, Duration deadline, String purpose,
               Optional<NodeTls> tls) {
        this.address = address;
        this.sharing = sharing;
        this.tls = tls;
        this.endpoint = endpointOf(address);
        this.deadline = deadline;
        this.purpose = purpose;
    }

    private NbdEndpoint endpointOf(SinkRecord.SourceAddress a) {
        NbdEndpoint plain = new NbdEndpoint(a.host(), a.port(), a.export()).withTls(tls);
        return sharing == Sharing.PER_CALLER ? plain.withRequesterReads(ATTEMPT_TIMEOUT) : plain;
    }

    SinkRecord.SourceAddress address() {
        return address;
    }

    /**
     * The source came back on another address (its node restarted on new ports): every
     * connection is dropped and reopened there. Requests in flight on the old ones fail and
     * are retried under their own deadline, which is what reaches the new address.
     */
    void repoint(SinkRecord.SourceAddress moved) {
        synchronized (all) {
            address = moved;
            endpoint = endpointOf(moved);
            for (ReconnectingNbdClient c : all) {
                c.retarget(endpoint);
            }
            all.notifyAll();
        }
        log.info("{}: the source is now {}", purpose, moved);
    }

    /** Runs {@code op}, retrying transient failures until the deadline; then EIO. */
    <T> T call(Op<T> op) throws IOException {
        long giveUp = System.nanoTime() + deadline.toNanos();
        ReconnectingNbdClient connection = checkOut(giveUp);
        try {
            return call(op, connection, giveUp);
        } finally {
            checkIn(connection);
        }
    }

    private <T> T call(Op<T> op, ReconnectingNbdClient connection, long giveUp) throws IOException {
        long backoff = FIRST_BACKOFF_MS;
        IOException last;
        while (true) {
            try {
                NbdClient client = connection.current();
                if (sharing == Sharing.PER_CALLER && !limitKnown) {
                    learnLimit(client.canMultiConn());
                }
                return op.apply(client);
            } catch (BlockIoException e) {
                if (e.errno() != Errno.EIO && e.errno() != Errno.ESHUTDOWN) {
                    throw e;
                }
                last = e;
            } catch (IOException e) {
                last = e;
            }
            failures.incrementAndGet();
            if (System.nanoTime() - giveUp > 0) {
                throw new BlockIoException(Errno.EIO, "source " + address + " unreachable for "
                        + deadline.toSeconds() + " s (" + purpose + "): " + last.getMessage(), last);
            }
            log.debug("{} to {} failed, retrying in {} ms: {}", purpose, address, backoff, last.toString());
            sleep(backoff);
            backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
            try {
                connection.reconnect();
            } catch (IOException e) {
                last = e;
            }
        }
    }

    /** PIPELINED: one attempt on the connection (opening it if needed), without retries. */
    NbdClient client() throws IOException {
        return pipelined().current();
    }

    /** PIPELINED: drops the connection and makes one attempt to open a fresh one. */
    NbdClient reconnect() throws IOException {
        return pipelined().reconnect();
    }

    long failures() {
        return failures.get();
    }

    /** Connections opened successfully so far, over the life of the link. */
    int connections() {
        synchronized (all) {
            return all.stream().mapToInt(ReconnectingNbdClient::connections).sum();
        }
    }

    private ReconnectingNbdClient pipelined() throws IOException {
        if (sharing != Sharing.PIPELINED) {
            throw new IllegalStateException("a " + sharing + " link has no single connection");
        }
        return checkOut(System.nanoTime());
    }

    /**
     * PIPELINED: the one connection, never exclusive. PER_CALLER: an idle connection (the one
     * used last, whose socket and threads are warm), a new one under the limit, or the next to
     * come back, waiting at most until {@code giveUp}.
     */
    private ReconnectingNbdClient checkOut(long giveUp) throws IOException {
        synchronized (all) {
            while (true) {
                if (closed) {
                    throw new BlockIoException(Errno.ESHUTDOWN, purpose + ": the link to " + address + " is closed");
                }
                if (sharing == Sharing.PIPELINED && !all.isEmpty()) {
                    return all.get(0);
                }
                ReconnectingNbdClient c = idle.pollFirst();
                if (c != null) {
                    return c;
                }
                if (all.size() < limit) {
                    c = new ReconnectingNbdClient(endpoint);
                    all.add(c);
                    return c;
                }
                long waitMs = (giveUp - System.nanoTime()) / 1_000_000;
                if (waitMs <= 0) {
                    throw new BlockIoException(Errno.EIO, purpose + ": all " + limit + " connections to " + address
                            + " stayed busy for " + deadline.toSeconds() + " s");
                }
                try {
                    all.wait(waitMs);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new BlockIoException(Errno.ESHUTDOWN, "interrupted while waiting for a connection");
                }
            }
        }
    }

    private void checkIn(ReconnectingNbdClient c) {
        if (sharing == Sharing.PIPELINED) {
            return;
        }
        synchronized (all) {
            if (closed) {
                all.remove(c);
                c.close();
            } else {
                idle.addFirst(c);
            }
            all.notify();
        }
    }

    private void learnLimit(boolean multiConn) {
        synchronized (all) {
            if (limitKnown) {
                return;
            }
            limitKnown = true;
            if (multiConn) {
                limit = MAX_PER_CALLER;
                all.notifyAll();
            } else {
                log.info("{}: {} does not offer NBD_FLAG_CAN_MULTI_CONN, so one connection", purpose, address);
            }
        }
    }

    /**
     * Whether the source says nothing but the sink can write the volume any more: its
     * ordinary export is offered read-only.
     */
    boolean sourceFenced() throws IOException {
        // NBD_OPT_INFO, not GO: a probe that entered transmission would count as a writer of
        // the source, and its disconnect could fire the source's automatic fence.
        return NbdClient.info(address.host(), address.port(), address.volumeExport(), tls)
                .hasFlag(io.dlsm.blockd.nbd.Nbd.NBD_FLAG_READ_ONLY);
    }

    private static void sleep(long ms) throws IOException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BlockIoException(Errno.ESHUTDOWN, "interrupted while waiting to retry");
        }
    }

    @Override
    public void close() {
        List<ReconnectingNbdClient> toClose;
        synchronized (all) {
            closed = true;
            toClose = new ArrayList<>(all);
            idle.clear();
            all.notifyAll();
        }
        // A connection in use fails its request and is closed again when it comes back.
        toClose.forEach(ReconnectingNbdClient::close);
    }
}
