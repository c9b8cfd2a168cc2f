package io.dlsm.blockd.nbd.client;

import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.block.Extent;
import io.dlsm.blockd.nbd.Channels;
import io.dlsm.blockd.nbd.Nbd;
import io.dlsm.blockd.nbd.ProtocolException;
import io.dlsm.blockd.nbd.ReplyHeader;
import io.dlsm.blockd.nbd.Request;
import io.dlsm.blockd.tls.NodeTls;
import io.dlsm.blockd.tls.TlsChannel;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import javax.net.ssl.SSLEngine;

/**
 * An NBD client connection in the transmission phase, pipelined and thread-safe.
 *
 * <p>Any number of threads may issue requests at once. Requests are written under a send lock
 * (a WRITE's header and payload are never interleaved with another request). Who reads the
 * replies is chosen per connection ({@link ReplyReading}): with {@link ReplyReading#READER_THREAD}
 * one reader thread reads them, in whatever order the server sends them, and completes each
 * request's future by its cookie; futures complete on that thread, so dependent actions should
 * not block (a synchronous call from the reader thread is refused, because it would deadlock).
 * With {@link ReplyReading#REQUESTER} a request is one exchange on the caller's thread: the
 * async methods return once the reply is in, with the future already complete, and a reply
 * slower than the connection's reply timeout breaks the connection.
 *
 * <p>If the connection breaks, every outstanding and every later request fails with an
 * {@link IOException}; the client never reconnects by itself (see {@link ReconnectingNbdClient}).
 * A request the server rejected fails with a {@link BlockIoException} carrying the errno,
 * and the connection stays usable.
 *
 * <p>Buffers passed to the async methods belong to the request until its future completes; their
 * position and limit are not changed. The synchronous methods advance the position to the limit
 * on success, like a channel.
 */
public final class NbdClient implements Closeable {
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);
    /** Bounds the handshake: a server that accepts and then says nothing must not hang us. */
    public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(30);
    /** How long close() lets already-sent requests finish before it drops the connection. */
    private static final Duration CLOSE_DRAIN_TIMEOUT = Duration.ofSeconds(5);
    /** TRIM, WRITE_ZEROES and BLOCK_STATUS carry no payload, so they are split far more coarsely. */
    private static final long MAX_RANGE_REQUEST = 1L << 30;
    private static final int SCRATCH_SIZE = 64 * 1024;

    private final ByteChannel channel;
    private final String peer;
    private final ExportInfo export;
    private final boolean structuredReplies;
    private final OptionalInt allocationContextId;

    private final ReentrantLock sendLock = new ReentrantLock();
    /** Preallocated header for the sender holding {@link #sendLock}. */
    private final ByteBuffer sendHeader = ByteBuffer.allocate(Nbd.REQUEST_HEADER_SIZE);
    private final Map<Long, InFlight<?>> inFlight = new ConcurrentHashMap<>();
    private final AtomicLong cookies = new AtomicLong();
    /** Set once: why the connection is unusable. */
    private final AtomicReference<IOException> failure = new AtomicReference<>();
    private final AtomicBoolean closing = new AtomicBoolean();
    /** READER_THREAD only. */
    private final Thread reader;
    /** REQUESTER only: the socket with its per-exchange deadline, and how long a reply may take. */
    private final TimedSocketChannel timed;
    private final long replyTimeoutNanos;
    /** REQUESTER only: held for a whole exchange, so one request is on the wire at a time. */
    private final ReentrantLock exchangeLock = new ReentrantLock();
    /** REQUESTER only, guarded by {@link #exchangeLock}. */
    private final ByteBuffer replyHeader = ByteBuffer.allocate(Nbd.STRUCTURED_REPLY_HEADER_SIZE);
    private final ByteBuffer replyScratch;

    private NbdClient(ByteChannel channel, String peer, Handshake.Result negotiated, TimedSocketChannel timed,
            Duration replyTimeout) {
        this.channel = channel;
        this.peer = peer;
        this.export = negotiated.export();
        this.structuredReplies = negotiated.structuredReplies();
        this.allocationContextId = negotiated.allocationContextId();
        this.timed = timed;
        this.replyTimeoutNanos = replyTimeout.toNanos();
        if (timed == null) {
            this.reader = new Thread(this::readReplies, "nbd-client-reader " + peer);
            reader.setDaemon(true);
            this.replyScratch = null;
        } else {
            this.reader = null;
            this.replyScratch = ByteBuffer.allocate(SCRATCH_SIZE);
        }
    }

    // ------------------------------------------------------------------ connecting

    public static NbdClient connect(String host, int port, String exportName) throws IOException {
        return connect(new InetSocketAddress(host, port), exportName, DEFAULT_CONNECT_TIMEOUT,
                DEFAULT_HANDSHAKE_TIMEOUT);
    }

    public static NbdClient connect(InetSocketAddress address, String exportName, Duration connectTimeout,
            Duration handshakeTimeout) throws IOException {
        return connect(address, exportName, connectTimeout, handshakeTimeout, Optional.empty());
    }

    /**
     * With {@code tls}, the connection starts with NBD_OPT_STARTTLS and the server's certificate
     * must name the host of {@code address}; a server without TLS is refused.
     */
    public static NbdClient connect(InetSocketAddress address, String exportName, Duration connectTimeout,
            Duration handshakeTimeout, Optional<NodeTls> tls) throws IOException {
        SocketChannel ch = openSocket(address, connectTimeout);
        String peer = address.getHostString() + ":" + address.getPort();
        SSLEngine engine = tls.map(t -> t.clientEngine(address.getHostString(), address.getPort())).orElse(null);
        Handshake.Result negotiated = withDeadline(ch, peer, handshakeTimeout,
                () -> new Handshake(ch, engine).negotiate(exportName));
        NbdClient client = new NbdClient(negotiated.channel(), peer, negotiated, null, Duration.ZERO);
        client.reader.start();
        return client;
    }

    /** A connection whose replies are read by each requester ({@link ReplyReading#REQUESTER}). */
    public static NbdClient connectRequesterRead(InetSocketAddress address, String exportName, Duration connectTimeout,
            Duration handshakeTimeout, Duration replyTimeout) throws IOException {
        return connectRequesterRead(address, exportName, connectTimeout, handshakeTimeout, replyTimeout,
                Optional.empty());
    }

    /** The same, through TLS when {@code tls} is given (see {@link #connect(InetSocketAddress, String, Duration, Duration, Optional)}). */
    public static NbdClient connectRequesterRead(InetSocketAddress address, String exportName, Duration connectTimeout,
            Duration handshakeTimeout, Duration replyTimeout, Optional<NodeTls> tls) throws IOException {
        SocketChannel ch = openSocket(address, connectTimeout);
        SSLEngine engine = tls.map(t -> t.clientEngine(address.getHostString(), address.getPort())).orElse(null);
        return openRequesterRead(ch, exportName, address.getHostString() + ":" + address.getPort(), handshakeTimeout,
                replyTimeout, engine);
    }

    /** Runs the handshake on a connected socket, then reads replies on the requesters' threads. */
    public static NbdClient openRequesterRead(SocketChannel channel, String exportName, String peer,
            Duration handshakeTimeout, Duration replyTimeout) throws IOException {
        return openRequesterRead(channel, exportName, peer, handshakeTimeout, replyTimeout, null);
    }

    /**
     * The handshake already runs over the timed socket, so a TLS layer set up during it sits
     * on the socket that transmission uses.
     */
    private static NbdClient openRequesterRead(SocketChannel channel, String exportName, String peer,
            Duration handshakeTimeout, Duration replyTimeout, SSLEngine tls) throws IOException {
        TimedSocketChannel timed;
        try {
            timed = new TimedSocketChannel(channel);
        } catch (IOException | RuntimeException e) {
            closeQuietly(channel);
            throw e;
        }
        // Past the watchdog's own deadline, so an overrun is reported as the handshake's.
        timed.deadlineIn(handshakeTimeout.plusSeconds(1).toNanos());
        Handshake.Result negotiated = withDeadline(timed, peer, handshakeTimeout,
                () -> new Handshake(timed, tls).negotiate(exportName));
        return new NbdClient(negotiated.channel(), peer, negotiated, timed, replyTimeout);
    }

    /**
     * Runs the handshake on an already connected channel (any transport: TCP, a Unix socket,
     * a test's pipe) and starts the reader. The client owns and closes the channel.
     */
    public static NbdClient open(ByteChannel channel, String exportName, String peer, Duration handshakeTimeout)
            throws IOException {
        Handshake.Result negotiated = withDeadline(channel, peer, handshakeTimeout,
                () -> new Handshake(channel).negotiate(exportName));
        NbdClient client = new NbdClient(negotiated.channel(), peer, negotiated, null, Duration.ZERO);
        client.reader.start();
        return client;
    }

    /**
     * Size and flags of an export through NBD_OPT_INFO, without opening it for transmission:
     * a probe that must not count as a client (and so as a writer) of the export.
     */
    public static ExportInfo info(String host, int port, String exportName) throws IOException {
        return info(host, port, exportName, Optional.empty());
    }

    /** The same probe, through TLS when {@code tls} is given. */
    public static ExportInfo info(String host, int port, String exportName, Optional<NodeTls> tls)
            throws IOException {
        InetSocketAddress address = new InetSocketAddress(host, port);
        SSLEngine engine = tls.map(t -> t.clientEngine(host, port)).orElse(null);
        try (SocketChannel ch = openSocket(address, DEFAULT_CONNECT_TIMEOUT)) {
            return withDeadline(ch, host + ":" + port, DEFAULT_HANDSHAKE_TIMEOUT,
                    () -> new Handshake(ch, engine).info(exportName));
        }
    }

    /** The exports the server is willing to list (NBD_OPT_LIST), on a short-lived connection. */
    public static List<ListedExport> list(String host, int port) throws IOException {
        return list(host, port, Optional.empty());
    }

    public static List<ListedExport> list(String host, int port, Optional<NodeTls> tls) throws IOException {
        InetSocketAddress address = new InetSocketAddress(host, port);
        SSLEngine engine = tls.map(t -> t.clientEngine(host, port)).orElse(null);
        try (SocketChannel ch = openSocket(address, DEFAULT_CONNECT_TIMEOUT)) {
            return withDeadline(ch, host + ":" + port, DEFAULT_HANDSHAKE_TIMEOUT,
                    () -> new Handshake(ch, engine).list());
        }
    }

    private static SocketChannel openSocket(InetSocketAddress address, Duration connectTimeout) throws IOException {
        SocketChannel ch = SocketChannel.open();
        try {
            // Requests are small and latency-bound; Nagle would hold them back behind each other.
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            ch.setOption(StandardSocketOptions.SO_KEEPALIVE, true);
            ch.socket().connect(address, (int) connectTimeout.toMillis());
            return ch;
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private interface HandshakeStep<T> {
        T run() throws IOException;
    }

    /**
     * Runs a handshake step; a watchdog closes the channel if it overruns, which unblocks the
     * blocking read (channels have no read timeout). Whoever flips {@code settled} first wins.
     */
    private static <T> T withDeadline(ByteChannel ch, String peer, Duration timeout, HandshakeStep<T> step)
            throws IOException {
        AtomicBoolean settled = new AtomicBoolean();
        CompletableFuture.delayedExecutor(timeout.toMillis(), TimeUnit.MILLISECONDS).execute(() -> {
            if (settled.compareAndSet(false, true)) {
                closeQuietly(ch);
            }
        });
        try {
            T result = step.run();
            if (settled.compareAndSet(false, true)) {
                return result;
            }
        } catch (IOException | RuntimeException e) {
            if (settled.compareAndSet(false, true)) {
                closeQuietly(ch);
                if (e instanceof IOException io) {
                    throw io;
                }
                throw e;
            }
        }
        closeQuietly(ch);
        throw new IOException("NBD handshake with " + peer + " timed out after " + timeout);
    }

    // ------------------------------------------------------------------ what was negotiated

    public ExportInfo export() {
        return export;
    }

    public long size() {
        return export.size();
    }

    public int transmissionFlags() {
        return export.transmissionFlags();
    }

    public BlockSizeConstraints blockSize() {
        return export.blockSize();
    }

    public boolean structuredReplies() {
        return structuredReplies;
    }

    public boolean readOnly() {
        return export.hasFlag(Nbd.NBD_FLAG_READ_ONLY);
    }

    public boolean canFlush() {
        return export.hasFlag(Nbd.NBD_FLAG_SEND_FLUSH);
    }

    public boolean canFua() {
        return export.hasFlag(Nbd.NBD_FLAG_SEND_FUA);
    }

    public boolean canTrim() {
        return export.hasFlag(Nbd.NBD_FLAG_SEND_TRIM);
    }

    public boolean canWriteZeroes() {
        return export.hasFlag(Nbd.NBD_FLAG_SEND_WRITE_ZEROES);
    }

    public boolean canFastZero() {
        return export.hasFlag(Nbd.NBD_FLAG_SEND_FAST_ZERO);
    }

    public boolean canMultiConn() {
        return export.hasFlag(Nbd.NBD_FLAG_CAN_MULTI_CONN);
    }

    /** Whether the server agreed to base:allocation (which needs structured replies). */
    public boolean canBlockStatus() {
        return allocationContextId.isPresent();
    }

    public String peer() {
        return peer;
    }

    /**
     * False once the connection broke or close() was called. A {@link ReplyReading#REQUESTER}
     * connection that nobody is using also looks at the socket, so a server that dropped it while
     * idle is noticed before the next request is sent rather than by that request failing.
     */
    public boolean isOpen() {
        if (failure.get() == null && timed != null && exchangeLock.tryLock()) {
            try {
                if (failure.get() == null && closedWhileIdle()) {
                    connectionFailed(new EOFException(peer + " closed the connection while it was idle"));
                }
            } catch (IOException e) {
                connectionFailed(e);
            } finally {
                exchangeLock.unlock();
            }
        }
        return failure.get() == null;
    }

    /** Between exchanges: TLS may have received housekeeping (session tickets), which is not data. */
    private boolean closedWhileIdle() throws IOException {
        if (!(channel instanceof TlsChannel secured)) {
            return timed.closedByPeer();
        }
        return switch (secured.pollIdle(timed.withoutWaiting())) {
            case OPEN -> false;
            case CLOSED -> true;
            case DATA -> throw new ProtocolException("the server sent data while no request was outstanding");
        };
    }

    /** Requests sent and not yet answered. */
    public int inFlightCount() {
        return inFlight.size();
    }

    // ------------------------------------------------------------------ async requests

    /** Reads {@code dst.remaining()} bytes at {@code offset}, split at the server's maximum. */
    public CompletableFuture<Void> readAsync(long offset, ByteBuffer dst) {
        int length = dst.remaining();
        BlockIoException invalid = checkRange(Nbd.NBD_CMD_READ, offset, length);
        if (invalid != null) {
            return CompletableFuture.failedFuture(invalid);
        }
        int max = export.blockSize().maximum();
        int start = dst.position();
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        for (int done = 0; done < length; done += max) {
            int n = Math.min(max, length - done);
            Request request = request(0, Nbd.NBD_CMD_READ, offset + done, n);
            parts.add(submit(new ReadInFlight(request, dst.slice(start + done, n)), null));
        }
        return allOf(parts);
    }

    /** Writes {@code src.remaining()} bytes at {@code offset}; the payload is sent before this returns. */
    public CompletableFuture<Void> writeAsync(long offset, ByteBuffer src, boolean fua) {
        int length = src.remaining();
        BlockIoException invalid = checkWritable(Nbd.NBD_CMD_WRITE, fua);
        if (invalid == null) {
            invalid = checkRange(Nbd.NBD_CMD_WRITE, offset, length);
        }
        if (invalid != null) {
            return CompletableFuture.failedFuture(invalid);
        }
        int max = export.blockSize().maximum();
        int start = src.position();
        int flags = fua ? Nbd.NBD_CMD_FLAG_FUA : 0;
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        for (int done = 0; done < length; done += max) {
            int n = Math.min(max, length - done);
            Request request = request(flags, Nbd.NBD_CMD_WRITE, offset + done, n);
            parts.add(submit(new CompletionInFlight(request), src.slice(start + done, n)));
        }
        return allOf(parts);
    }

    public CompletableFuture<Void> flushAsync() {
        if (!canFlush()) {
            return CompletableFuture.failedFuture(unsupported(Nbd.NBD_CMD_FLUSH, "the export does not accept flush"));
        }
        return submit(new CompletionInFlight(request(0, Nbd.NBD_CMD_FLUSH, 0, 0)), null);
    }

    public CompletableFuture<Void> trimAsync(long offset, long length) {
        if (!canTrim()) {
            return CompletableFuture.failedFuture(unsupported(Nbd.NBD_CMD_TRIM, "the export does not accept trim"));
        }
        return rangeCommand(Nbd.NBD_CMD_TRIM, 0, offset, length);
    }

    /**
     * Makes the range read as zeroes. {@code noHole}: keep it allocated (NBD_CMD_FLAG_NO_HOLE);
     * {@code fastZero}: fail with ENOTSUP rather than write zeroes slowly.
     */
    public CompletableFuture<Void> writeZeroesAsync(long offset, long length, boolean noHole, boolean fastZero) {
        if (!canWriteZeroes()) {
            return CompletableFuture.failedFuture(
                    unsupported(Nbd.NBD_CMD_WRITE_ZEROES, "the export does not accept write zeroes"));
        }
        if (fastZero && !canFastZero()) {
            return CompletableFuture.failedFuture(
                    unsupported(Nbd.NBD_CMD_WRITE_ZEROES, "the export does not accept fast zero"));
        }
        int flags = (noHole ? Nbd.NBD_CMD_FLAG_NO_HOLE : 0) | (fastZero ? Nbd.NBD_CMD_FLAG_FAST_ZERO : 0);
        return rangeCommand(Nbd.NBD_CMD_WRITE_ZEROES, flags, offset, length);
    }

    /**
     * base:allocation extents from {@code offset}: contiguous, the first starting at offset,
     * covering at least one byte and at most up to {@code offset + length}. The server may
     * answer for less than asked; callers loop. {@code onlyOne} sets NBD_CMD_FLAG_REQ_ONE.
     */
    public CompletableFuture<List<Extent>> blockStatusAsync(long offset, long length, boolean onlyOne) {
        if (allocationContextId.isEmpty()) {
            return CompletableFuture.failedFuture(unsupported(Nbd.NBD_CMD_BLOCK_STATUS,
                    "the server did not agree to the base:allocation metadata context"));
        }
        BlockIoException invalid = checkRange(Nbd.NBD_CMD_BLOCK_STATUS, offset, length);
        if (invalid == null && length == 0) {
            invalid = new BlockIoException(Errno.EINVAL, "NBD_CMD_BLOCK_STATUS of zero bytes");
        }
        if (invalid != null) {
            return CompletableFuture.failedFuture(invalid);
        }
        long window = Math.min(length, MAX_RANGE_REQUEST);
        int flags = onlyOne ? Nbd.NBD_CMD_FLAG_REQ_ONE : 0;
        Request request = request(flags, Nbd.NBD_CMD_BLOCK_STATUS, offset, window);
        return submit(new BlockStatusInFlight(request, allocationContextId.getAsInt()), null);
    }

    // ------------------------------------------------------------------ sync requests

    public void read(long offset, ByteBuffer dst) throws IOException {
        await(readAsync(offset, dst));
        dst.position(dst.limit());
    }

    public void write(long offset, ByteBuffer src, boolean fua) throws IOException {
        await(writeAsync(offset, src, fua));
        src.position(src.limit());
    }

    public void flush() throws IOException {
        await(flushAsync());
    }

    public void trim(long offset, long length) throws IOException {
        await(trimAsync(offset, length));
    }

    public void writeZeroes(long offset, long length, boolean noHole, boolean fastZero) throws IOException {
        await(writeZeroesAsync(offset, length, noHole, fastZero));
    }

    public List<Extent> blockStatus(long offset, long length) throws IOException {
        return await(blockStatusAsync(offset, length, false));
    }

    // ------------------------------------------------------------------ closing

    /**
     * Sends NBD_CMD_DISC, lets requests already sent finish (bounded), then closes the socket.
     * Anything still outstanding fails with an IOException. Idempotent.
     */
    @Override
    public void close() {
        if (!closing.compareAndSet(false, true)) {
            return;
        }
        if (timed != null) {
            closeRequesterRead();
            return;
        }
        List<CompletableFuture<?>> outstanding = new ArrayList<>();
        sendLock.lock();
        try {
            // Under the lock, so no request can be written after the disconnect.
            if (failure.get() == null) {
                inFlight.values().forEach(op -> outstanding.add(op.future));
                writeRequest(request(0, Nbd.NBD_CMD_DISC, 0, 0), null);
            }
        } catch (IOException e) {
            // The connection is already gone; there is nobody to say goodbye to.
        } finally {
            sendLock.unlock();
        }
        if (!outstanding.isEmpty() && Thread.currentThread() != reader) {
            try {
                CompletableFuture.allOf(outstanding.toArray(CompletableFuture[]::new))
                        .get(CLOSE_DRAIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException | TimeoutException e) {
                // Failed or slow requests are failed below; close must not hang on them.
            }
        }
        connectionFailed(new IOException("NBD client for " + peer + " was closed"));
        if (Thread.currentThread() != reader) {
            try {
                reader.join(CLOSE_DRAIN_TIMEOUT.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Waits (bounded) for the exchange in progress, then says goodbye. */
    private void closeRequesterRead() {
        boolean locked = false;
        try {
            locked = exchangeLock.tryLock(CLOSE_DRAIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (locked && failure.get() == null) {
                sendLock.lock();
                try {
                    timed.deadlineIn(replyTimeoutNanos);
                    writeRequest(request(0, Nbd.NBD_CMD_DISC, 0, 0), null);
                } finally {
                    sendLock.unlock();
                }
            }
        } catch (IOException e) {
            // The connection is already gone; there is nobody to say goodbye to.
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            connectionFailed(new IOException("NBD client for " + peer + " was closed"));
            if (locked) {
                exchangeLock.unlock();
            }
        }
    }

    // ------------------------------------------------------------------ internals

    private Request request(int flags, int type, long offset, long length) {
        return new Request(flags, type, cookies.incrementAndGet(), offset, length);
    }

    private CompletableFuture<Void> rangeCommand(int type, int flags, long offset, long length) {
        BlockIoException invalid = checkWritable(type, false);
        if (invalid == null) {
            invalid = checkRange(type, offset, length);
        }
        if (invalid != null) {
            return CompletableFuture.failedFuture(invalid);
        }
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        for (long done = 0; done < length; done += MAX_RANGE_REQUEST) {
            long n = Math.min(MAX_RANGE_REQUEST, length - done);
            parts.add(submit(new CompletionInFlight(request(flags, type, offset + done, n)), null));
        }
        return allOf(parts);
    }

    private <T> CompletableFuture<T> submit(InFlight<T> op, ByteBuffer payload) {
        if (timed != null) {
            exchangeLock.lock();
            try {
                send(op, payload);
                while (!op.future.isDone()) {
                    readReply(replyHeader, replyScratch);
                }
            } catch (IOException e) {
                connectionFailed(e);
            } catch (RuntimeException | Error e) {
                connectionFailed(new IOException("NBD reply from " + peer + " could not be read", e));
                throw e;
            } finally {
                exchangeLock.unlock();
            }
            return op.future;
        }
        send(op, payload);
        return op.future;
    }

    /**
     * Registers {@code op} and writes it, or fails it if the connection is unusable. A failed
     * write breaks the connection (and so fails {@code op}) rather than throwing.
     */
    private <T> void send(InFlight<T> op, ByteBuffer payload) {
        long cookie = op.request.cookie();
        inFlight.put(cookie, op);
        // Registered before checking: either this check or the failure sweep sees the request.
        IOException broken = failure.get();
        if (broken != null) {
            if (inFlight.remove(cookie, op)) {
                op.fail(lost(op, broken));
            }
            return;
        }
        sendLock.lock();
        try {
            if (closing.get()) {
                if (inFlight.remove(cookie, op)) {
                    op.fail(new IOException(Nbd.commandName(op.request.type()) + " after close of " + peer));
                }
                return;
            }
            if (timed != null) {
                timed.deadlineIn(replyTimeoutNanos);
            }
            writeRequest(op.request, payload);
        } catch (IOException e) {
            connectionFailed(e);
        } finally {
            sendLock.unlock();
        }
    }

    /** Caller holds {@link #sendLock}. */
    private void writeRequest(Request request, ByteBuffer payload) throws IOException {
        sendHeader.clear();
        request.encode(sendHeader);
        sendHeader.flip();
        if (payload == null) {
            Channels.writeFully(channel, sendHeader);
        } else {
            Channels.writeAll(channel, sendHeader, payload.duplicate());
        }
    }

    private void readReplies() {
        ByteBuffer header = ByteBuffer.allocate(Nbd.STRUCTURED_REPLY_HEADER_SIZE);
        ByteBuffer scratch = ByteBuffer.allocate(SCRATCH_SIZE);
        try {
            while (true) {
                readReply(header, scratch);
            }
        } catch (IOException e) {
            connectionFailed(e);
        } catch (RuntimeException | Error e) {
            connectionFailed(new IOException("NBD reply reader for " + peer + " crashed", e));
            throw e;
        }
    }

    /** Reads one simple reply or structured chunk and hands it to its request; the last one completes it. */
    private void readReply(ByteBuffer header, ByteBuffer scratch) throws IOException {
        header.clear().limit(4);
        Channels.readFully(channel, header);
        header.limit(ReplyHeader.headerSize(header.getInt(0)));
        Channels.readFully(channel, header);
        header.flip();
        ReplyHeader reply = ReplyHeader.decode(header);
        InFlight<?> op = inFlight.get(reply.cookie());
        if (op == null) {
            throw new ProtocolException("reply for unknown cookie " + reply.cookie());
        }
        boolean done;
        if (reply instanceof ReplyHeader.Simple simple) {
            op.onSimpleReply(simple.error(), channel);
            done = true;
        } else {
            ReplyHeader.Structured chunk = (ReplyHeader.Structured) reply;
            if (!structuredReplies) {
                throw new ProtocolException("structured reply chunk without negotiation");
            }
            done = op.onChunk(chunk, channel, scratch);
        }
        if (done && inFlight.remove(reply.cookie(), op)) {
            op.finish();
        }
    }

    /** Marks the connection dead (first cause wins), closes it and fails everything outstanding. */
    private void connectionFailed(IOException cause) {
        failure.compareAndSet(null, cause);
        IOException first = failure.get();
        closeQuietly(channel);
        for (Long cookie : inFlight.keySet()) {
            InFlight<?> op = inFlight.remove(cookie);
            if (op != null) {
                op.fail(lost(op, first));
            }
        }
    }

    private IOException lost(InFlight<?> op, IOException cause) {
        return new IOException(op.request + " to " + peer + " failed: connection unusable: " + cause.getMessage(),
                cause);
    }

    private BlockIoException checkRange(int type, long offset, long length) {
        if (offset < 0 || length < 0 || offset > export.size() - length) {
            return new BlockIoException(Errno.EINVAL, Nbd.commandName(type) + " " + offset + "+" + length
                    + " outside the export of " + export.size() + " bytes");
        }
        BlockSizeConstraints bs = export.blockSize();
        if (!bs.isAligned(offset) || !bs.isAligned(length)) {
            return new BlockIoException(Errno.EINVAL, Nbd.commandName(type) + " " + offset + "+" + length
                    + " not aligned to the export's minimum block size " + bs.minimum());
        }
        return null;
    }

    private BlockIoException checkWritable(int type, boolean fua) {
        if (readOnly()) {
            return new BlockIoException(Errno.EPERM, Nbd.commandName(type) + " on read-only export " + export.name());
        }
        if (fua && !canFua()) {
            return unsupported(type, "the export does not accept FUA");
        }
        return null;
    }

    private static BlockIoException unsupported(int type, String why) {
        return new BlockIoException(Errno.ENOTSUP, Nbd.commandName(type) + ": " + why);
    }

    /** One future for the pieces of a split request; a single piece is returned as is. */
    private static CompletableFuture<Void> allOf(List<CompletableFuture<Void>> parts) {
        if (parts.isEmpty()) {
            return CompletableFuture.completedFuture(null);
        }
        if (parts.size() == 1) {
            return parts.get(0);
        }
        return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new));
    }

    private <T> T await(CompletableFuture<T> future) throws IOException {
        if (reader != null && Thread.currentThread() == reader) {
            throw new IllegalStateException("blocking NBD call on the reply reader thread would deadlock;"
                    + " use the async method");
        }
        try {
            return future.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted waiting for " + peer);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw io;
            }
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            throw new IOException(cause);
        }
    }

    private static void closeQuietly(ByteChannel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            // Closing is best effort; the connection is being abandoned either way.
        }
    }
}
