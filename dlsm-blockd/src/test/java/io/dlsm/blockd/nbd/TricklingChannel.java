package io.dlsm.blockd.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;

/**
 * Hands out at most {@code maxPerRead} bytes per read, so every frame a reader parses arrives
 * split into many pieces, deterministically (TCP would coalesce them).
 */
public final class TricklingChannel implements ByteChannel {
    private final ByteChannel delegate;
    private final int maxPerRead;

    public TricklingChannel(ByteChannel delegate, int maxPerRead) {
        this.delegate = delegate;
        this.maxPerRead = maxPerRead;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (dst.remaining() <= maxPerRead) {
            return delegate.read(dst);
        }
        ByteBuffer window = dst.slice(dst.position(), maxPerRead);
        int n = delegate.read(window);
        if (n > 0) {
            dst.position(dst.position() + n);
        }
        return n;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        return delegate.write(src);
    }

    @Override
    public boolean isOpen() {
        return delegate.isOpen();
    }

    @Override
    public void close() throws IOException {
        delegate.close();
    }
}
