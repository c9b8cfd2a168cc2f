package io.dlsm.blockd.nbd.server;

import static io.dlsm.blockd.nbd.Nbd.*;

import io.dlsm.blockd.block.BlockDevice;
import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.block.Extent;
import io.dlsm.blockd.nbd.BufferPool;
import io.dlsm.blockd.nbd.ProtocolException;
import io.dlsm.blockd.nbd.Request;
import io.dlsm.blockd.tls.NodeTls;
import io.dlsm.blockd.tls.TlsException;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.net.SocketException;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection. A single thread decodes requests in order; each request then goes
 * through {@link RequestValidator#validate} and, if valid, runs on the shared worker pool, so
 * replies may complete out of order, as the protocol allows. Replies go out through the
 * connection's own {@link ReplyWriter}, so no worker ever waits for this client's socket.
 *
 * <p>Memory is bounded by what arrived and by two budgets ({@link NbdLimits}): a WRITE's data
 * is received chunk by chunk ({@link WritePayload}); every request holds its share of the
 * connection's budget until its reply has left, so when this client's unread replies and
 * pending payloads reach the budget the reader stops reading its requests (backpressure on
 * this client alone); and request buffers of all connections together are reserved from the
 * server's {@link MemoryBudget}, for which only readers wait. The server's watchdog asks
 * {@link #overdue} what this connection is waiting for, and closes it when the handshake or a
 * started request or reply has taken too long.
 *
 * <p>A small READ the device can answer without waiting ({@link BlockDevice#readIfCached}: a
 * local volume whose pages are cached, or a sink's regions that have arrived) is answered on the reading thread instead, if the
 * client has nothing else queued behind it: handing it to a worker would cost a thread
 * wake-up, more than the read itself, and that wake-up is what a client waiting for one read
 * at a time (a migration sink's on-demand fetch) waits for. With more requests already
 * received, the workers run them in parallel as before. Everything else, and every read that
 * would wait for a disk or another node, goes to the workers, so one slow request never holds
 * up the connection's others.
 */
public final class NbdConnection implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(NbdConnection.class);
    private static final int UNIT = 4096;
    private static final int RECEIVE_BUFFER = 64 * 1024;
    /**
     * Reads at least this large are checked for holes first (one lseek): a migration
     * sink fetching an unallocated region then receives a 20-byte hole chunk instead of zeroes.
     * Small reads skip the check; it would cost more than the zeroes it saves.
     */
    private static final long HOLE_CHECK_MIN = 64 * 1024;
    /**
     * Reads up to this long may be answered on the reading thread if cached: a migration sink's
     * on-demand fetch of one region (64 KiB by default) and guest-sized reads, not bulk copies.
     */
    static final int INLINE_READ_MAX = 64 * 1024;

    /** What the reading thread is doing, for the watchdog. */
    enum Phase {
        /** Before an export was chosen: bounded by the handshake timeout. */
        HANDSHAKE,
        /** Between requests: a client may stay idle as long as it likes. */
        IDLE,
        /** A request has started to arrive: it must keep arriving. */
        RECEIVING,
        /** Waiting for the server's buffer budget. */
        WAITING_MEMORY,
        /** Waiting for this client to read its replies (the writer's progress is watched). */
        BACKPRESSURED,
        /** Letting admitted requests finish before the socket closes. */
        CLOSING
    }

    private final PeerSocket socket;
    private final ExportRegistry exports;
    private final Executor workers;
    private final BufferPool buffers;
    private final MemoryBudget memory;
    private final NbdLimits limits;
    private final Consumer<NbdConnection> onClose;
    private final Optional<NodeTls> tls;
    private final String peer;
    private final int budgetUnits;
    private final Semaphore budget;
    private final long acceptedNanos = System.nanoTime();
    private volatile Phase phase = Phase.HANDSHAKE;
    private volatile long phaseSinceNanos = acceptedNanos;
    /** When the current request's header was complete (plus time spent waiting for memory). */
    private volatile long frameStartNanos;
    private volatile InboundFrames inbound;
    private volatile ReplyWriter out;
    private volatile Session session;
    /** The client said NBD_CMD_DISC: an orderly end, which TLS closes with close_notify. */
    private boolean disconnectRequested;
    /** False until attached, and for a client told the export is read-only. */
    private volatile boolean offeredWrites;

    NbdConnection(SocketChannel ch, ExportRegistry exports, Executor workers, BufferPool buffers,
                  MemoryBudget memory, NbdLimits limits, Optional<NodeTls> tls, Consumer<NbdConnection> onClose) {
        this.socket = new PeerSocket(ch);
        this.tls = tls;
        this.exports = exports;
        this.workers = workers;
        this.buffers = buffers;
        this.memory = memory;
        this.limits = limits;
        this.onClose = onClose;
        this.peer = describe(ch);
        this.budgetUnits = (int) Math.min(Integer.MAX_VALUE, limits.connectionBufferBytes() / UNIT);
        this.budget = new Semaphore(budgetUnits);
    }

    public String peer() {
        return peer;
    }

    @Override
    public void run() {
        Export export = null;
        boolean writer = false;
        try {
            Optional<Session> negotiated = new Handshake(socket, exports, peer, tls).run();
            if (negotiated.isEmpty()) {
                return;
            }
            session = negotiated.get();
            export = session.export();
            writer = export.attach(this);
            if (export.withdrawn()) {
                return;
            }
            transmission(export);
        } catch (EOFException | ClosedChannelException e) {
            log.debug("{}: connection ended: {}", peer, e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage());
        } catch (ProtocolException e) {
            log.info("{}: protocol violation, disconnecting: {}", peer, e.getMessage());
        } catch (TlsException e) {
            // A refused certificate is the common case: who and why, without a stack trace.
            log.info("{}: disconnecting: {}", peer, e.getMessage());
        } catch (SocketException e) {
            // Reset by the peer, broken pipe: the client went away, nothing to act on here.
            log.debug("{}: connection ended: {}", peer, e.getMessage());
        } catch (IOException e) {
            log.info("{}: connection failed: {}", peer, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            log.warn("{}: unexpected failure, disconnecting", peer, e);
        } finally {
            if (export != null) {
                export.detach(this, writer);
            }
            closeQuietly();
            onClose.accept(this);
        }
    }

    /** Closes the socket; the reader and any pending replies fail and the connection ends. */
    /** Whether the handshake offered this client a writable export (set when it attaches). */
    void offeredWrites(boolean writable) {
        offeredWrites = writable;
    }

    boolean offeredWrites() {
        return offeredWrites;
    }

    public void disconnect(String reason) {
        log.info("{}: disconnecting: {}", peer, reason);
        closeQuietly();
    }

    Phase phase() {
        return phase;
    }

    /**
     * Why this connection has waited too long, if it has: asked by the server's watchdog, with
     * {@code now} from System.nanoTime().
     */
    Optional<String> overdue(long now) {
        Phase p = phase;
        long stall = limits.stallTimeout().toNanos();
        if (p == Phase.HANDSHAKE) {
            return now - acceptedNanos > limits.handshakeTimeout().toNanos()
                    ? Optional.of("did not finish the handshake within " + seconds(limits.handshakeTimeout().toNanos()))
                    : Optional.empty();
        }
        InboundFrames in = inbound;
        if (p == Phase.IDLE && in != null && in.midFrame()
                && now - Math.max(socket.lastReadNanos(), phaseSinceNanos) > stall) {
            return Optional.of("sent part of a request header, then nothing for " + seconds(stall));
        }
        if (p == Phase.RECEIVING && now - frameStartNanos > stall) {
            return Optional.of("did not send a request's data within " + seconds(stall));
        }
        ReplyWriter w = out;
        long pending = w == null ? 0 : w.pendingSinceNanos();
        if (pending != 0 && now - pending > stall) {
            return Optional.of("did not read a reply within " + seconds(stall));
        }
        return Optional.empty();
    }

    /** Ends a connection the watchdog found overdue; the caller logs why. */
    void abandon() {
        closeQuietly();
    }

    private void enter(Phase p) {
        phaseSinceNanos = System.nanoTime();
        phase = p;
    }

    private void transmission(Export export) throws IOException, InterruptedException {
        ByteBuffer receive = buffers.acquire(RECEIVE_BUFFER);
        InboundFrames in = new InboundFrames(socket, receive);
        ReplyWriter w = new ReplyWriter(socket, peer);
        w.start("nbd-reply-" + peer);
        inbound = in;
        out = w;
        ByteBuffer header = ByteBuffer.allocate(REQUEST_HEADER_SIZE);
        try {
            while (true) {
                header.clear();
                enter(in.buffered() == 0 ? Phase.IDLE : Phase.RECEIVING);
                in.readFully(header);
                frameStartNanos = System.nanoTime();
                enter(Phase.RECEIVING);
                Request r = Request.decode(header.flip());
                if (r.type() == NBD_CMD_DISC) {
                    log.debug("{}: NBD_CMD_DISC", peer);
                    disconnectRequested = true;
                    return;
                }
                dispatch(r, export, in);
            }
        } finally {
            // Let every admitted request finish and its reply leave (or be dropped, if the
            // socket failed) before the socket closes.
            enter(Phase.CLOSING);
            budget.acquireUninterruptibly(budgetUnits);
            budget.release(budgetUnits);
            w.close();
            if (disconnectRequested) {
                socket.endTls();
            }
            buffers.release(receive);
        }
    }

    /**
     * What one admitted request holds until its reply has left: its share of the connection's
     * budget, and the buffer memory reserved from the server's budget.
     */
    private final class Admitted {
        private final int units;
        private WritePayload payload;
        private MemoryBudget.Claim readClaim;
        private ByteBuffer readBuffer;
        private boolean released;

        Admitted(int units) {
            this.units = units;
        }

        synchronized void releasePayload() {
            if (payload != null) {
                payload.release();
                payload = null;
            }
        }

        /** Runs once the reply has left or was dropped; idempotent. */
        synchronized void release() {
            if (released) {
                return;
            }
            released = true;
            releasePayload();
            buffers.release(readBuffer);
            readBuffer = null;
            if (readClaim != null) {
                readClaim.release();
            }
            budget.release(units);
        }
    }

    private Admitted admit(int units) throws InterruptedException {
        if (!budget.tryAcquire(units)) {
            // The wait is on this client's unread replies, which the writer's deadline covers.
            Phase before = phase;
            long start = System.nanoTime();
            enter(Phase.BACKPRESSURED);
            budget.acquire(units);
            frameStartNanos += System.nanoTime() - start;
            enter(before);
        }
        return new Admitted(units);
    }

    /**
     * Waiting for the server's budget is the server's doing, not the client's: the time is
     * added to the request's deadline.
     */
    private void reserveMemory(MemoryBudget.Claim claim, long bytes) throws IOException, InterruptedException {
        Phase before = phase;
        long start = System.nanoTime();
        enter(Phase.WAITING_MEMORY);
        try {
            claim.acquire(bytes, socket::isOpen);
        } finally {
            frameStartNanos += System.nanoTime() - start;
            enter(before);
        }
    }

    private void dispatch(Request r, Export export, InboundFrames in) throws IOException, InterruptedException {
        RequestValidator.ExportView view = new RequestValidator.ExportView(export.device().size(),
                export.capabilities(), session.structuredReplies(), session.blockStatusNegotiated());
        Optional<Errno> invalid = RequestValidator.validate(r, view);
        boolean write = r.type() == NBD_CMD_WRITE;
        if (invalid.isPresent()) {
            Admitted a = admit(1);
            if (write) {
                if (r.length() > MAX_PAYLOAD) {
                    // The payload cannot be trusted to follow: framing is lost.
                    replyError(r, invalid.get(), "write of " + r.length() + " bytes exceeds the maximum", a);
                    throw new ProtocolException("oversized NBD_CMD_WRITE of " + r.length() + " bytes");
                }
                try {
                    in.skip(r.length());
                } catch (IOException | RuntimeException e) {
                    a.release();
                    throw e;
                }
            }
            log.debug("{}: rejected {} with {}", peer, r, invalid.get());
            replyError(r, invalid.get(), describeRejection(r, invalid.get(), view), a);
            return;
        }
        boolean mutating = write || r.type() == NBD_CMD_TRIM || r.type() == NBD_CMD_WRITE_ZEROES;
        if (r.length() == 0 && (mutating || r.type() == NBD_CMD_READ)) {
            zeroLength(r, export, mutating);
            return;
        }
        int payload = (r.type() == NBD_CMD_READ || write) ? (int) r.length() : 0;
        Admitted a = admit(Math.max(1, Math.min(budgetUnits, (payload + UNIT - 1) / UNIT)));
        boolean handedOff = false;
        try {
            if (write) {
                a.payload = WritePayload.receive(in, payload, buffers, memory.claim(), this::reserveMemory);
            }
            if (mutating && !export.tryBeginWrite()) {
                replyError(r, Errno.EPERM, "export " + export.name() + " is read-only", a);
                handedOff = true;
                return;
            }
            if (r.type() == NBD_CMD_READ) {
                a.readClaim = memory.claim();
                reserveMemory(a.readClaim, BufferPool.capacityFor(payload));
                if (payload <= INLINE_READ_MAX && in.buffered() == 0 && readInline(r, export.device(), a)) {
                    handedOff = true;
                    return;
                }
            }
            try {
                workers.execute(() -> execute(r, export, a, mutating));
                handedOff = true;
            } catch (RejectedExecutionException e) {
                if (mutating) {
                    export.endWrite();
                }
                replyError(r, Errno.ESHUTDOWN, "server is shutting down", a);
                handedOff = true;
            }
        } finally {
            if (!handedOff) {
                a.release();
            }
        }
    }

    /**
     * The spec leaves a zero-length READ, WRITE, TRIM or WRITE_ZEROES unspecified but asks the
     * server not to disconnect: each succeeds without touching the device (a READ's structured
     * answer is a NONE chunk, since a data chunk must carry at least one byte). Access is still
     * checked, so a zero-length write to a fenced export is refused like any other.
     */
    private void zeroLength(Request r, Export export, boolean mutating) throws InterruptedException {
        Admitted a = admit(1);
        if (mutating) {
            if (!export.tryBeginWrite()) {
                replyError(r, Errno.EPERM, "export " + export.name() + " is read-only", a);
                return;
            }
            export.endWrite();
        }
        if (r.type() == NBD_CMD_READ && session.structuredReplies()) {
            out.none(r.cookie(), a::release);
        } else {
            out.simple(r.cookie(), null, null, a::release);
        }
    }

    /**
     * Answers a READ here if the device can without waiting; false leaves it to a worker. A
     * device error also leaves it to the worker, whose ordinary read reports it.
     */
    private boolean readInline(Request r, BlockDevice dev, Admitted a) {
        boolean hole;
        try {
            hole = session.structuredReplies() && r.length() >= HOLE_CHECK_MIN && dev.isHole(r.offset(), r.length());
        } catch (IOException | RuntimeException e) {
            log.debug("{}: {} not answered inline: {}", peer, r, e.toString());
            return false;
        }
        if (hole) {
            out.offsetHole(r.cookie(), r.offset(), r.length(), a::release);
            return true;
        }
        ByteBuffer buf = buffers.acquire((int) r.length());
        boolean cached;
        try {
            cached = dev.readIfCached(r.offset(), buf);
        } catch (IOException | RuntimeException e) {
            log.debug("{}: {} not answered inline: {}", peer, r, e.toString());
            cached = false;
        }
        if (!cached) {
            buffers.release(buf);
            return false;
        }
        a.readBuffer = buf;
        buf.flip();
        out.readReplyFromReader(r.cookie(), r.offset(), buf, session.structuredReplies(), a::release);
        return true;
    }

    private void execute(Request r, Export export, Admitted a, boolean mutating) {
        BlockDevice dev = export.device();
        try {
            boolean fua = r.hasFlag(NBD_CMD_FLAG_FUA);
            switch (r.type()) {
                case NBD_CMD_READ -> {
                    if (session.structuredReplies() && r.length() >= HOLE_CHECK_MIN
                            && dev.isHole(r.offset(), r.length())) {
                        out.offsetHole(r.cookie(), r.offset(), r.length(), a::release);
                        return;
                    }
                    ByteBuffer buf = buffers.acquire((int) r.length());
                    synchronized (a) {
                        a.readBuffer = buf;
                    }
                    dev.read(r.offset(), buf);
                    buf.flip();
                    if (session.structuredReplies()) {
                        out.offsetData(r.cookie(), r.offset(), buf, a::release);
                    } else {
                        out.simple(r.cookie(), null, buf, a::release);
                    }
                    return;
                }
                case NBD_CMD_WRITE -> a.payload.writeTo(dev, r.offset(), fua);
                case NBD_CMD_FLUSH -> dev.flush();
                case NBD_CMD_TRIM -> dev.trim(r.offset(), r.length(), fua);
                case NBD_CMD_WRITE_ZEROES -> dev.writeZeroes(r.offset(), r.length(),
                        !r.hasFlag(NBD_CMD_FLAG_NO_HOLE), r.hasFlag(NBD_CMD_FLAG_FAST_ZERO), fua);
                case NBD_CMD_BLOCK_STATUS -> {
                    List<Extent> extents = dev.blockStatus(r.offset(), r.length());
                    if (r.hasFlag(NBD_CMD_FLAG_REQ_ONE) && extents.size() > 1) {
                        extents = extents.subList(0, 1);
                    }
                    out.blockStatus(r.cookie(), session.allocationContextId(), extents, a::release);
                    return;
                }
                default -> throw new BlockIoException(Errno.EINVAL, "unexpected command " + r.type());
            }
            out.simple(r.cookie(), null, null, a::release);
        } catch (BlockIoException e) {
            log.debug("{}: {} failed: {}", peer, r, e.getMessage());
            replyError(r, e.errno(), e.getMessage(), a);
        } catch (IOException | RuntimeException e) {
            if (!socket.isOpen()) {
                // The client is gone (or was disconnected): nobody is waiting for this answer.
                log.debug("{}: {} on export {} ended with the connection: {}", peer, r, export.name(), e.toString());
                a.release();
                return;
            }
            log.warn("{}: {} on export {} failed", peer, r, export.name(), e);
            replyError(r, Errno.EIO, "I/O error on export " + export.name(), a);
        } finally {
            if (mutating) {
                export.endWrite();
            }
            synchronized (a) {
                a.releasePayload();
            }
        }
    }

    /** READ and BLOCK_STATUS errors go as structured error chunks when structured replies are on. */
    private void replyError(Request r, Errno errno, String message, Admitted a) {
        boolean payloadCommand = r.type() == NBD_CMD_READ || r.type() == NBD_CMD_BLOCK_STATUS;
        if (session.structuredReplies() && payloadCommand) {
            out.structuredError(r.cookie(), errno, message, a::release);
        } else {
            out.simple(r.cookie(), errno, null, a::release);
        }
    }

    private static String seconds(long nanos) {
        long ms = TimeUnit.NANOSECONDS.toMillis(nanos);
        return ms % 1000 == 0 ? (ms / 1000) + " s" : ms + " ms";
    }

    private static String describeRejection(Request r, Errno errno, RequestValidator.ExportView view) {
        return switch (errno) {
            case EPERM -> "export is read-only";
            case EOVERFLOW -> "request of " + r.length() + " bytes exceeds the maximum of " + MAX_PAYLOAD;
            case ENOSPC, EINVAL -> rangeMessage(r, view);
            default -> errno.name();
        };
    }

    private static String rangeMessage(Request r, RequestValidator.ExportView view) {
        return commandName(r.type()) + " at offset " + Long.toUnsignedString(r.offset())
                + " length " + r.length() + " is invalid for an export of " + view.size() + " bytes";
    }

    private void closeQuietly() {
        try {
            socket.close();
        } catch (IOException e) {
            log.debug("{}: close failed: {}", peer, e.toString());
        }
    }

    private static String describe(SocketChannel ch) {
        try {
            return String.valueOf(ch.getRemoteAddress());
        } catch (IOException e) {
            return "unknown-peer";
        }
    }
}
