package io.dlsm.blockd.nbd.client;

import io.dlsm.blockd.nbd.ProtocolException;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ByteChannel;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;

/**
 * A socket whose reads and writes block at most until a deadline the owner sets per exchange.
 * A blocking SocketChannel has no read timeout, and a source that keeps the connection open but
 * stops answering must not hold the requester forever. Used by one thread at a time.
 */
final class TimedSocketChannel implements ByteChannel {
    private final SocketChannel channel;
    private final Selector selector;
    private final SelectionKey key;
    private long deadlineNanos;
    private final ByteBuffer probe = ByteBuffer.allocate(1);

    TimedSocketChannel(SocketChannel channel) throws IOException {
        channel.configureBlocking(false);
        this.channel = channel;
        this.selector = Selector.open();
        try {
            this.key = channel.register(selector, 0);
        } catch (IOException | RuntimeException e) {
            selector.close();
            throw e;
        }
    }

    /** Reads and writes from now on fail with a {@link SocketTimeoutException} after {@code timeoutNanos}. */
    void deadlineIn(long timeoutNanos) {
        deadlineNanos = System.nanoTime() + timeoutNanos;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        int n;
        while ((n = channel.read(dst)) == 0 && dst.hasRemaining()) {
            await(SelectionKey.OP_READ);
        }
        return n;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        int n;
        while ((n = channel.write(src)) == 0 && src.hasRemaining()) {
            await(SelectionKey.OP_WRITE);
        }
        return n;
    }

    /**
     * Whether the peer closed the connection while nobody was waiting for it: between requests
     * nothing may arrive, so end of stream means closed and any byte is a protocol violation.
     */
    boolean closedByPeer() throws IOException {
        probe.clear();
        int n = channel.read(probe);
        if (n > 0) {
            throw new ProtocolException("the server sent data while no request was outstanding");
        }
        return n < 0;
    }

    /** The same socket read without waiting, for a TLS layer's look at an idle connection. */
    ReadableByteChannel withoutWaiting() {
        return new ReadableByteChannel() {
            @Override
            public int read(ByteBuffer dst) throws IOException {
                return channel.read(dst);
            }

            @Override
            public boolean isOpen() {
                return channel.isOpen();
            }

            @Override
            public void close() throws IOException {
                TimedSocketChannel.this.close();
            }
        };
    }

    private void await(int op) throws IOException {
        long left = deadlineNanos - System.nanoTime();
        if (left <= 0) {
            throw new SocketTimeoutException("no progress from " + channel.getRemoteAddress() + " before the deadline");
        }
        try {
            key.interestOps(op);
            // select(0) would wait forever: at least 1 ms.
            selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
            selector.selectedKeys().clear();
        } catch (ClosedSelectorException | CancelledKeyException e) {
            // close() from another thread: it closes the selector first, which wakes us here.
            throw new AsynchronousCloseException();
        }
    }

    @Override
    public boolean isOpen() {
        return channel.isOpen();
    }

    @Override
    public void close() throws IOException {
        try {
            selector.close();
        } finally {
            channel.close();
        }
    }
}
