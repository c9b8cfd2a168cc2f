package io.dlsm.blockd.sink;

import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.nbd.client.NbdClient;
import io.dlsm.blockd.nbd.client.NbdEndpoint;
import io.dlsm.blockd.nbd.client.ReconnectingNbdClient;
import java.io.Closeable;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One NBD connection to the migration source, with the sink's retry policy: transient
 * failures (connection lost, EIO from the peer) are retried with exponential backoff,
 * reconnecting each time, until a deadline; errors that retrying cannot fix are raised at once.
 */
final class SourceLink implements Closeable {
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

    private final SinkRecord.SourceAddress address;
    private final ReconnectingNbdClient connection;
    private final Duration deadline;
    private final String purpose;
    private final AtomicLong failures = new AtomicLong();

    SourceLink(SinkRecord.SourceAddress address, Duration deadline, String purpose) {
        this.address = address;
        this.connection = new ReconnectingNbdClient(new NbdEndpoint(address.host(), address.port(), address.export()));
        this.deadline = deadline;
        this.purpose = purpose;
    }

    /** Runs {@code op}, retrying transient failures until the deadline; then EIO. */
    <T> T call(Op<T> op) throws IOException {
        long giveUp = System.nanoTime() + deadline.toNanos();
        long backoff = FIRST_BACKOFF_MS;
        IOException last;
        while (true) {
            try {
                return op.apply(connection.current());
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

    /** One attempt on the current connection (opening it if needed), without retries. */
    NbdClient client() throws IOException {
        return connection.current();
    }

    /** Drops the current connection and makes one attempt to open a fresh one. */
    NbdClient reconnect() throws IOException {
        return connection.reconnect();
    }

    long failures() {
        return failures.get();
    }

    int connections() {
        return connection.connections();
    }

    /**
     * Whether the source says nothing but the sink can write the volume any more: its
     * ordinary export is offered read-only.
     */
    boolean sourceFenced() throws IOException {
        // NBD_OPT_INFO, not GO: a probe that entered transmission would count as a writer of
        // the source, and its disconnect could fire the source's automatic fence.
        return NbdClient.info(address.host(), address.port(), address.volumeExport())
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
        connection.close();
    }
}
