package io.dlsm.blockd.nbd.server;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;

/**
 * Buffered reads from a socket: small frames (request headers, small write payloads) come
 * out of one read syscall together; large payloads bypass the buffer.
 */
final class InboundFrames {
    private final ReadableByteChannel ch;
    private final ByteBuffer buf;
    /** True while a frame is partly received: the watchdog's "a request has started". */
    private volatile boolean midFrame;

    /** {@code buf} is the receive buffer, owned by the caller. */
    InboundFrames(ReadableByteChannel ch, ByteBuffer buf) {
        this.ch = ch;
        this.buf = buf;
        buf.clear().flip();
    }

    /** Fills {@code dst} to its limit. */
    void readFully(ByteBuffer dst) throws IOException {
        int start = dst.position();
        drainInto(dst);
        try {
            while (dst.hasRemaining()) {
                if (dst.position() > start || buf.hasRemaining()) {
                    midFrame = true;
                }
                if (dst.remaining() >= buf.capacity()) {
                    if (ch.read(dst) < 0) {
                        throw eof(dst.remaining());
                    }
                } else {
                    refill(dst.remaining());
                    midFrame = true;
                    drainInto(dst);
                }
            }
        } finally {
            midFrame = false;
        }
    }

    boolean midFrame() {
        return midFrame;
    }

    /** Bytes already received and not yet consumed: the start of requests the client has queued. */
    int buffered() {
        return buf.remaining();
    }

    /** Discards {@code n} bytes. */
    void skip(long n) throws IOException {
        long left = n;
        midFrame = n > 0;
        while (left > 0) {
            if (!buf.hasRemaining()) {
                refill(1);
            }
            int k = (int) Math.min(left, buf.remaining());
            buf.position(buf.position() + k);
            left -= k;
        }
        midFrame = false;
    }

    private void drainInto(ByteBuffer dst) {
        if (!buf.hasRemaining()) {
            return;
        }
        int k = Math.min(buf.remaining(), dst.remaining());
        ByteBuffer slice = buf.slice(buf.position(), k);
        dst.put(slice);
        buf.position(buf.position() + k);
    }

    private void refill(int atLeast) throws IOException {
        buf.compact();
        try {
            while (buf.position() < atLeast) {
                if (ch.read(buf) < 0) {
                    throw eof(atLeast - buf.position());
                }
                if (buf.position() > 0) {
                    midFrame = true;
                }
            }
        } finally {
            buf.flip();
        }
    }

    private static EOFException eof(int missing) {
        return new EOFException("peer closed the connection with " + missing + " bytes of a frame outstanding");
    }
}
