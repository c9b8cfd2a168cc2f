package io.dlsm.blockd.nbd.server;

import static io.dlsm.blockd.nbd.Nbd.*;

import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.block.Extent;
import io.dlsm.blockd.nbd.NbdErrors;
import io.dlsm.blockd.nbd.ReplyHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection's replies, written by the connection's own writer thread. Requests complete
 * on the shared worker threads in any order; a worker only queues its reply and goes on, so a
 * client that stops reading its replies blocks nothing but its own writer. Each reply goes
 * out whole (replies never interleave), then its {@code sent} callback releases what it held
 * (buffers, the connection's budget); the connection stops reading requests while too much
 * is queued, which bounds the queue.
 *
 * <p>If the socket fails, the writer stops: every queued reply, and every later one, is
 * dropped at once with its callback run, and the socket is closed so the reader ends too.
 */
final class ReplyWriter {
    private static final Logger log = LoggerFactory.getLogger(ReplyWriter.class);
    private static final int MAX_ERROR_MESSAGE = 4096;

    private record Reply(ByteBuffer header, ByteBuffer data, Runnable sent) {
    }

    private final PeerSocket socket;
    private final String peer;
    /** Guards the queue and the state below; never held while writing. */
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition work = lock.newCondition();
    /** Held while bytes go to the socket, so two replies never interleave. */
    private final ReentrantLock wire = new ReentrantLock();
    private final ArrayDeque<Reply> queue = new ArrayDeque<>();
    private volatile boolean failed;
    private boolean closing;
    private Thread thread;
    /** When the oldest unsent reply was queued or started (0 = nothing pending); for the watchdog. */
    private volatile long pendingSinceNanos;

    ReplyWriter(PeerSocket socket, String peer) {
        this.socket = socket;
        this.peer = peer;
    }

    void start(String threadName) {
        thread = new Thread(this::drain, threadName);
        thread.setDaemon(true);
        thread.start();
    }

    /** Simple reply: success (optionally with READ data) or an error without payload. */
    void simple(long cookie, Errno error, ByteBuffer data, Runnable sent) {
        queue(simpleHeader(cookie, error), data, sent);
    }

    /** The whole READ answer as one NBD_REPLY_TYPE_OFFSET_DATA chunk (so DF always holds). */
    void offsetData(long cookie, long offset, ByteBuffer data, Runnable sent) {
        queue(offsetDataHeader(cookie, offset, data), data, sent);
    }

    /** The whole READ answered as one hole: the client fills in zeroes, nothing else is sent. */
    void offsetHole(long cookie, long offset, long length, Runnable sent) {
        ByteBuffer h = ByteBuffer.allocate(STRUCTURED_REPLY_HEADER_SIZE + 12);
        new ReplyHeader.Structured(NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_HOLE, cookie, 12).encode(h);
        h.putLong(offset).putInt((int) length);
        queue(h.flip(), null, sent);
    }

    /** A structured success without content: the answer to a zero-length READ. */
    void none(long cookie, Runnable sent) {
        ByteBuffer h = ByteBuffer.allocate(STRUCTURED_REPLY_HEADER_SIZE);
        new ReplyHeader.Structured(NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, cookie, 0).encode(h);
        queue(h.flip(), null, sent);
    }

    void blockStatus(long cookie, int contextId, List<Extent> extents, Runnable sent) {
        int payload = 4 + 8 * extents.size();
        ByteBuffer b = ByteBuffer.allocate(STRUCTURED_REPLY_HEADER_SIZE + payload);
        new ReplyHeader.Structured(NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, cookie, payload).encode(b);
        b.putInt(contextId);
        for (Extent e : extents) {
            int flags = (e.hole() ? NBD_STATE_HOLE : 0) | (e.zero() ? NBD_STATE_ZERO : 0);
            b.putInt((int) e.length()).putInt(flags);
        }
        queue(b.flip(), null, sent);
    }

    void structuredError(long cookie, Errno error, String message, Runnable sent) {
        byte[] m = message.getBytes(StandardCharsets.UTF_8);
        int len = Math.min(m.length, MAX_ERROR_MESSAGE);
        ByteBuffer b = ByteBuffer.allocate(STRUCTURED_REPLY_HEADER_SIZE + 6 + len);
        new ReplyHeader.Structured(NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, cookie, 6L + len).encode(b);
        b.putInt(NbdErrors.toWire(error)).putShort((short) len).put(m, 0, len);
        queue(b.flip(), null, sent);
    }

    /**
     * A READ answered on the connection's reading thread: written from that thread when
     * nothing else is queued (saving the hand-off to the writer, which is what a client doing
     * one read at a time waits for). Blocking here stalls only this connection's reader,
     * which is the backpressure that client gets anyway.
     */
    void readReplyFromReader(long cookie, long offset, ByteBuffer data, boolean structured, Runnable sent) {
        ByteBuffer header = structured ? offsetDataHeader(cookie, offset, data) : simpleHeader(cookie, null);
        lock.lock();
        boolean direct = queue.isEmpty() && !failed && !closing && wire.tryLock();
        if (direct) {
            pendingSinceNanos = System.nanoTime();
        }
        lock.unlock();
        if (!direct) {
            queue(header, data, sent);
            return;
        }
        try {
            writeOut(header, data);
        } catch (IOException e) {
            fail(e);
        } finally {
            wire.unlock();
            lock.lock();
            try {
                if (queue.isEmpty()) {
                    pendingSinceNanos = 0;
                }
            } finally {
                lock.unlock();
            }
            sent.run();
        }
    }

    /** When the oldest reply still unsent became pending, in System.nanoTime(); 0 = none. */
    long pendingSinceNanos() {
        return pendingSinceNanos;
    }

    /**
     * Stops the writer once the queue is empty (the caller has waited for every reply's
     * callback, or the socket failed) and waits for its thread to end.
     */
    void close() throws InterruptedException {
        lock.lock();
        try {
            closing = true;
            work.signalAll();
        } finally {
            lock.unlock();
        }
        if (thread != null && thread != Thread.currentThread()) {
            thread.join();
        }
    }

    private void queue(ByteBuffer header, ByteBuffer data, Runnable sent) {
        lock.lock();
        try {
            if (!failed) {
                if (queue.isEmpty() && pendingSinceNanos == 0) {
                    pendingSinceNanos = System.nanoTime();
                }
                queue.add(new Reply(header, data, sent));
                work.signal();
                return;
            }
        } finally {
            lock.unlock();
        }
        sent.run();
    }

    private void drain() {
        while (true) {
            Reply r;
            lock.lock();
            try {
                while (queue.isEmpty() && !closing) {
                    work.awaitUninterruptibly();
                }
                r = queue.poll();
                if (r == null) {
                    return;
                }
            } finally {
                lock.unlock();
            }
            wire.lock();
            try {
                if (!failed) {
                    writeOut(r.header(), r.data());
                }
            } catch (IOException e) {
                fail(e);
            } finally {
                wire.unlock();
                lock.lock();
                try {
                    pendingSinceNanos = queue.isEmpty() ? 0 : System.nanoTime();
                } finally {
                    lock.unlock();
                }
                r.sent().run();
            }
        }
    }

    private void writeOut(ByteBuffer header, ByteBuffer data) throws IOException {
        if (data == null || !data.hasRemaining()) {
            while (header.hasRemaining()) {
                socket.write(header);
            }
            return;
        }
        ByteBuffer[] parts = {header, data};
        while (data.hasRemaining()) {
            socket.write(parts);
        }
    }

    /** A peer that reset or closed is the common case here: one line, no stack trace. */
    private void fail(IOException e) {
        java.util.List<Reply> dropped;
        lock.lock();
        try {
            if (failed) {
                return;
            }
            failed = true;
            dropped = new java.util.ArrayList<>(queue);
            queue.clear();
            pendingSinceNanos = 0;
        } finally {
            lock.unlock();
        }
        log.debug("{}: replies not delivered ({} queued dropped): {}", peer, dropped.size(), e.toString());
        try {
            socket.close();
        } catch (IOException closeFailure) {
            log.debug("{}: close failed: {}", peer, closeFailure.toString());
        }
        for (Reply r : dropped) {
            r.sent().run();
        }
    }

    private static ByteBuffer simpleHeader(long cookie, Errno error) {
        ByteBuffer h = ByteBuffer.allocate(SIMPLE_REPLY_HEADER_SIZE);
        new ReplyHeader.Simple(error == null ? 0 : NbdErrors.toWire(error), cookie).encode(h);
        return h.flip();
    }

    private static ByteBuffer offsetDataHeader(long cookie, long offset, ByteBuffer data) {
        ByteBuffer h = ByteBuffer.allocate(STRUCTURED_REPLY_HEADER_SIZE + 8);
        new ReplyHeader.Structured(NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, cookie,
                8L + data.remaining()).encode(h);
        h.putLong(offset);
        return h.flip();
    }
}
