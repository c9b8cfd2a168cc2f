package io.dlsm.blockd.nbd.server;

import static io.dlsm.blockd.nbd.Nbd.*;

import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.block.Extent;
import io.dlsm.blockd.nbd.NbdErrors;
import io.dlsm.blockd.nbd.ReplyHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.GatheringByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Serialises replies onto the socket. Requests complete on worker threads in any order; each
 * reply (header plus payload) goes out whole under one lock, so replies never interleave.
 */
final class ReplyWriter {
    private static final int MAX_ERROR_MESSAGE = 4096;

    private final GatheringByteChannel ch;
    private final ReentrantLock lock = new ReentrantLock();

    ReplyWriter(GatheringByteChannel ch) {
        this.ch = ch;
    }

    /** Simple reply: success (optionally with READ data) or an error without payload. */
    void simple(long cookie, Errno error, ByteBuffer data) throws IOException {
        ByteBuffer h = ByteBuffer.allocate(SIMPLE_REPLY_HEADER_SIZE);
        new ReplyHeader.Simple(error == null ? 0 : NbdErrors.toWire(error), cookie).encode(h);
        send(h.flip(), data);
    }

    /** The whole READ answer as one NBD_REPLY_TYPE_OFFSET_DATA chunk (so DF always holds). */
    void offsetData(long cookie, long offset, ByteBuffer data) throws IOException {
        ByteBuffer h = ByteBuffer.allocate(STRUCTURED_REPLY_HEADER_SIZE + 8);
        new ReplyHeader.Structured(NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, cookie,
                8L + data.remaining()).encode(h);
        h.putLong(offset);
        send(h.flip(), data);
    }

    /** The whole READ answered as one hole: the client fills in zeroes, nothing else is sent. */
    void offsetHole(long cookie, long offset, long length) throws IOException {
        ByteBuffer h = ByteBuffer.allocate(STRUCTURED_REPLY_HEADER_SIZE + 12);
        new ReplyHeader.Structured(NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_HOLE, cookie, 12).encode(h);
        h.putLong(offset).putInt((int) length);
        send(h.flip(), null);
    }

    void blockStatus(long cookie, int contextId, List<Extent> extents) throws IOException {
        int payload = 4 + 8 * extents.size();
        ByteBuffer b = ByteBuffer.allocate(STRUCTURED_REPLY_HEADER_SIZE + payload);
        new ReplyHeader.Structured(NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, cookie, payload).encode(b);
        b.putInt(contextId);
        for (Extent e : extents) {
            int flags = (e.hole() ? NBD_STATE_HOLE : 0) | (e.zero() ? NBD_STATE_ZERO : 0);
            b.putInt((int) e.length()).putInt(flags);
        }
        send(b.flip(), null);
    }

    void structuredError(long cookie, Errno error, String message) throws IOException {
        byte[] m = message.getBytes(StandardCharsets.UTF_8);
        int len = Math.min(m.length, MAX_ERROR_MESSAGE);
        ByteBuffer b = ByteBuffer.allocate(STRUCTURED_REPLY_HEADER_SIZE + 6 + len);
        new ReplyHeader.Structured(NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, cookie, 6L + len).encode(b);
        b.putInt(NbdErrors.toWire(error)).putShort((short) len).put(m, 0, len);
        send(b.flip(), null);
    }

    private void send(ByteBuffer header, ByteBuffer data) throws IOException {
        lock.lock();
        try {
            if (data == null || !data.hasRemaining()) {
                while (header.hasRemaining()) {
                    ch.write(header);
                }
                return;
            }
            ByteBuffer[] parts = {header, data};
            while (data.hasRemaining()) {
                ch.write(parts);
            }
        } finally {
            lock.unlock();
        }
    }
}
