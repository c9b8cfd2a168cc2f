package io.dlsm.blockd.nbd.server;

import static io.dlsm.blockd.nbd.Nbd.*;

import io.dlsm.blockd.block.BlockDevice;
import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.block.Extent;
import io.dlsm.blockd.nbd.BufferPool;
import io.dlsm.blockd.nbd.ProtocolException;
import io.dlsm.blockd.nbd.Request;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection. A single thread decodes requests in order; each request then goes
 * through {@link RequestValidator#validate} and, if valid, runs on the shared worker pool, so
 * replies may complete out of order, as the protocol allows. Memory held by in-flight
 * requests is bounded per connection: the reader stops reading when the budget is spent.
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
    /** Budget of in-flight payload bytes per connection, in 4 KiB units (64 MiB). */
    private static final int BUDGET_UNITS = 16384;
    private static final int UNIT = 4096;
    private static final int RECEIVE_BUFFER = 256 * 1024;
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

    private final SocketChannel ch;
    private final ExportRegistry exports;
    private final Executor workers;
    private final BufferPool buffers;
    private final Runnable onClose;
    private final String peer;
    private final Semaphore budget = new Semaphore(BUDGET_UNITS);
    private volatile Session session;

    NbdConnection(SocketChannel ch, ExportRegistry exports, Executor workers, BufferPool buffers,
                  Runnable onClose) {
        this.ch = ch;
        this.exports = exports;
        this.workers = workers;
        this.buffers = buffers;
        this.onClose = onClose;
        this.peer = describe(ch);
    }

    public String peer() {
        return peer;
    }

    @Override
    public void run() {
        Export export = null;
        boolean writer = false;
        try {
            Optional<Session> negotiated = new Handshake(ch, exports, peer).run();
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
            log.debug("{}: connection ended: {}", peer, e.getMessage());
        } catch (ProtocolException e) {
            log.info("{}: protocol violation, disconnecting: {}", peer, e.getMessage());
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
            onClose.run();
        }
    }

    /** Closes the socket; the reader and any pending replies fail and the connection ends. */
    public void disconnect(String reason) {
        log.info("{}: disconnecting: {}", peer, reason);
        closeQuietly();
    }

    private void transmission(Export export) throws IOException, InterruptedException {
        InboundFrames in = new InboundFrames(ch, RECEIVE_BUFFER);
        ReplyWriter out = new ReplyWriter(ch);
        ByteBuffer header = ByteBuffer.allocate(REQUEST_HEADER_SIZE);
        try {
            while (true) {
                header.clear();
                in.readFully(header);
                Request r = Request.decode(header.flip());
                if (r.type() == NBD_CMD_DISC) {
                    log.debug("{}: NBD_CMD_DISC", peer);
                    return;
                }
                dispatch(r, export, in, out);
            }
        } finally {
            // Let every admitted request finish and reply before the socket closes.
            budget.acquire(BUDGET_UNITS);
            budget.release(BUDGET_UNITS);
        }
    }

    private void dispatch(Request r, Export export, InboundFrames in, ReplyWriter out)
            throws IOException, InterruptedException {
        RequestValidator.ExportView view = new RequestValidator.ExportView(export.device().size(),
                export.capabilities(), session.structuredReplies(), session.blockStatusNegotiated());
        Optional<Errno> invalid = RequestValidator.validate(r, view);
        boolean write = r.type() == NBD_CMD_WRITE;
        if (invalid.isPresent()) {
            if (write) {
                if (r.length() > MAX_PAYLOAD) {
                    // The payload cannot be trusted to follow: framing is lost.
                    replyError(out, r, invalid.get(), "write of " + r.length() + " bytes exceeds the maximum");
                    throw new ProtocolException("oversized NBD_CMD_WRITE of " + r.length() + " bytes");
                }
                in.skip(r.length());
            }
            log.debug("{}: rejected {} with {}", peer, r, invalid.get());
            replyError(out, r, invalid.get(), describeRejection(r, invalid.get(), view));
            return;
        }
        int payload = (r.type() == NBD_CMD_READ || write) ? (int) r.length() : 0;
        int units = Math.max(1, Math.min(BUDGET_UNITS, (payload + UNIT - 1) / UNIT));
        budget.acquire(units);
        ByteBuffer data = null;
        boolean handedOff = false;
        try {
            if (write) {
                data = buffers.acquire(payload);
                in.readFully(data);
                data.flip();
            }
            boolean mutating = write || r.type() == NBD_CMD_TRIM || r.type() == NBD_CMD_WRITE_ZEROES;
            if (mutating && !export.tryBeginWrite()) {
                replyError(out, r, Errno.EPERM, "export " + export.name() + " is read-only");
                return;
            }
            if (r.type() == NBD_CMD_READ && payload <= INLINE_READ_MAX && in.buffered() == 0
                    && readInline(r, export.device(), out)) {
                return;
            }
            ByteBuffer payloadBuffer = data;
            try {
                workers.execute(() -> execute(r, export, payloadBuffer, out, units, mutating));
                handedOff = true;
            } catch (RejectedExecutionException e) {
                if (mutating) {
                    export.endWrite();
                }
                replyError(out, r, Errno.ESHUTDOWN, "server is shutting down");
            }
        } finally {
            if (!handedOff) {
                buffers.release(data);
                budget.release(units);
            }
        }
    }

    /**
     * Answers a READ here if the device can without waiting; false leaves it to a worker. A
     * device error also leaves it to the worker, whose ordinary read reports it.
     */
    private boolean readInline(Request r, BlockDevice dev, ReplyWriter out) throws IOException {
        boolean hole;
        try {
            hole = session.structuredReplies() && r.length() >= HOLE_CHECK_MIN && dev.isHole(r.offset(), r.length());
        } catch (IOException | RuntimeException e) {
            log.debug("{}: {} not answered inline: {}", peer, r, e.toString());
            return false;
        }
        if (hole) {
            out.offsetHole(r.cookie(), r.offset(), r.length());
            return true;
        }
        ByteBuffer buf = buffers.acquire((int) r.length());
        try {
            try {
                if (!dev.readIfCached(r.offset(), buf)) {
                    return false;
                }
            } catch (IOException | RuntimeException e) {
                log.debug("{}: {} not answered inline: {}", peer, r, e.toString());
                return false;
            }
            buf.flip();
            if (session.structuredReplies()) {
                out.offsetData(r.cookie(), r.offset(), buf);
            } else {
                out.simple(r.cookie(), null, buf);
            }
            return true;
        } finally {
            buffers.release(buf);
        }
    }

    private void execute(Request r, Export export, ByteBuffer data, ReplyWriter out, int units, boolean mutating) {
        BlockDevice dev = export.device();
        ByteBuffer readBuffer = null;
        try {
            boolean fua = r.hasFlag(NBD_CMD_FLAG_FUA);
            switch (r.type()) {
                case NBD_CMD_READ -> {
                    if (session.structuredReplies() && r.length() >= HOLE_CHECK_MIN
                            && dev.isHole(r.offset(), r.length())) {
                        out.offsetHole(r.cookie(), r.offset(), r.length());
                        return;
                    }
                    readBuffer = buffers.acquire((int) r.length());
                    dev.read(r.offset(), readBuffer);
                    readBuffer.flip();
                    if (session.structuredReplies()) {
                        out.offsetData(r.cookie(), r.offset(), readBuffer);
                    } else {
                        out.simple(r.cookie(), null, readBuffer);
                    }
                    return;
                }
                case NBD_CMD_WRITE -> dev.write(r.offset(), data, fua);
                case NBD_CMD_FLUSH -> dev.flush();
                case NBD_CMD_TRIM -> dev.trim(r.offset(), r.length(), fua);
                case NBD_CMD_WRITE_ZEROES -> dev.writeZeroes(r.offset(), r.length(),
                        !r.hasFlag(NBD_CMD_FLAG_NO_HOLE), r.hasFlag(NBD_CMD_FLAG_FAST_ZERO), fua);
                case NBD_CMD_BLOCK_STATUS -> {
                    List<Extent> extents = dev.blockStatus(r.offset(), r.length());
                    if (r.hasFlag(NBD_CMD_FLAG_REQ_ONE) && extents.size() > 1) {
                        extents = extents.subList(0, 1);
                    }
                    out.blockStatus(r.cookie(), session.allocationContextId(), extents);
                    return;
                }
                default -> throw new BlockIoException(Errno.EINVAL, "unexpected command " + r.type());
            }
            out.simple(r.cookie(), null, null);
        } catch (BlockIoException e) {
            log.debug("{}: {} failed: {}", peer, r, e.getMessage());
            replyErrorQuietly(out, r, e.errno(), e.getMessage());
        } catch (IOException | RuntimeException e) {
            if (!ch.isOpen()) {
                return;
            }
            log.warn("{}: {} on export {} failed", peer, r, export.name(), e);
            replyErrorQuietly(out, r, Errno.EIO, "I/O error on export " + export.name());
        } finally {
            if (mutating) {
                export.endWrite();
            }
            buffers.release(data);
            buffers.release(readBuffer);
            budget.release(units);
        }
    }

    private void replyErrorQuietly(ReplyWriter out, Request r, Errno errno, String message) {
        try {
            replyError(out, r, errno, message);
        } catch (IOException e) {
            log.debug("{}: could not send error reply: {}", peer, e.toString());
            closeQuietly();
        }
    }

    /** READ and BLOCK_STATUS errors go as structured error chunks when structured replies are on. */
    private void replyError(ReplyWriter out, Request r, Errno errno, String message) throws IOException {
        boolean payloadCommand = r.type() == NBD_CMD_READ || r.type() == NBD_CMD_BLOCK_STATUS;
        if (session.structuredReplies() && payloadCommand) {
            out.structuredError(r.cookie(), errno, message);
        } else {
            out.simple(r.cookie(), errno, null);
        }
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
            ch.close();
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
