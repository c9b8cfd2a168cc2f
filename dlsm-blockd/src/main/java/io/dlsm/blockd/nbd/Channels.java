package io.dlsm.blockd.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
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
