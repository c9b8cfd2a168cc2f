package io.dlsm.blockd.nbd.server;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.SocketChannel;

/**
 * The one place where a connection's bytes cross the socket: the handshake, the request
 * reader and the reply writer all go through it. It notes when bytes last moved in each
 * direction, which is what the server's watchdog judges a stalled peer by. (A transport that
 * wraps the bytes, such as TLS, belongs here too, so nothing above it changes.)
 */
final class PeerSocket implements ByteChannel, GatheringByteChannel {
    private final SocketChannel ch;
    private volatile long lastReadNanos;
    private volatile long lastWriteNanos;

    PeerSocket(SocketChannel ch) {
        this.ch = ch;
        long now = System.nanoTime();
        this.lastReadNanos = now;
        this.lastWriteNanos = now;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        int n = ch.read(dst);
        if (n > 0) {
            lastReadNanos = System.nanoTime();
        }
        return n;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        int n = ch.write(src);
        if (n > 0) {
            lastWriteNanos = System.nanoTime();
        }
        return n;
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        long n = ch.write(srcs, offset, length);
        if (n > 0) {
            lastWriteNanos = System.nanoTime();
        }
        return n;
    }

    @Override
    public long write(ByteBuffer[] srcs) throws IOException {
        return write(srcs, 0, srcs.length);
    }

    long lastReadNanos() {
        return lastReadNanos;
    }

    long lastWriteNanos() {
        return lastWriteNanos;
    }

    @Override
    public boolean isOpen() {
        return ch.isOpen();
    }

    @Override
    public void close() throws IOException {
        ch.close();
    }
}
