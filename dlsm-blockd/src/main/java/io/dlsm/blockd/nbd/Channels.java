package io.dlsm.blockd.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/** Exact-length reads and writes: a frame may arrive in any number of pieces. */
public final class Channels {
    private Channels() {
    }

    /** Fills {@code buf} to its limit; EOF before that is an {@link EOFException}. */
    public static void readFully(ReadableByteChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            if (ch.read(buf) < 0) {
                throw new EOFException("peer closed the connection with " + buf.remaining()
                        + " bytes of a frame outstanding");
            }
        }
    }

    public static void writeFully(WritableByteChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }

    /**
     * Writes every buffer's remaining bytes, in order. A gathering channel gets them in one
     * call, so a request header and its payload leave together without copying the payload.
     */
    public static void writeAll(WritableByteChannel ch, ByteBuffer... bufs) throws IOException {
        if (ch instanceof GatheringByteChannel gathering) {
            while (anyRemaining(bufs)) {
                gathering.write(bufs);
            }
            return;
        }
        for (ByteBuffer b : bufs) {
            writeFully(ch, b);
        }
    }

    private static boolean anyRemaining(ByteBuffer[] bufs) {
        for (ByteBuffer b : bufs) {
            if (b.hasRemaining()) {
                return true;
            }
        }
        return false;
    }

    /** Reads and discards {@code n} bytes through {@code scratch}, allocating nothing. */
    public static void skip(ReadableByteChannel ch, long n, ByteBuffer scratch) throws IOException {
        long left = n;
        while (left > 0) {
            scratch.clear();
            scratch.limit((int) Math.min(scratch.capacity(), left));
            readFully(ch, scratch);
            left -= scratch.limit();
        }
    }
}
