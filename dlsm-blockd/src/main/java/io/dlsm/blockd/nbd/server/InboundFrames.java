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

    InboundFrames(ReadableByteChannel ch, int bufferSize) {
        this.ch = ch;
        this.buf = ByteBuffer.allocateDirect(bufferSize);
        buf.flip();
    }

    /** Fills {@code dst} to its limit. */
    void readFully(ByteBuffer dst) throws IOException {
        drainInto(dst);
        while (dst.hasRemaining()) {
            if (dst.remaining() >= buf.capacity()) {
                if (ch.read(dst) < 0) {
                    throw eof(dst.remaining());
                }
            } else {
                refill(dst.remaining());
                drainInto(dst);
            }
        }
    }

    /** Bytes already received and not yet consumed: the start of requests the client has queued. */
    int buffered() {
        return buf.remaining();
    }

    /** Discards {@code n} bytes. */
    void skip(long n) throws IOException {
        long left = n;
        while (left > 0) {
            if (!buf.hasRemaining()) {
                refill(1);
            }
            int k = (int) Math.min(left, buf.remaining());
            buf.position(buf.position() + k);
            left -= k;
        }
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
            }
        } finally {
            buf.flip();
        }
    }

    private static EOFException eof(int missing) {
        return new EOFException("peer closed the connection with " + missing + " bytes of a frame outstanding");
    }
}
