package io.dlsm.blockd.nbd.server;

import io.dlsm.blockd.tls.TlsChannel;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.SocketChannel;
import javax.net.ssl.SSLEngine;

/**
 * The one place where a connection's bytes cross the socket: the handshake, the request
 * reader and the reply writer all go through it. It notes when bytes last moved in each
 * direction, which is what the server's watchdog judges a stalled peer by. After
 * NBD_OPT_STARTTLS everything above it reads and writes plaintext through {@link TlsChannel},
 * which in turn moves its records over the same timed socket, so nothing above changes.
 */
final class PeerSocket implements ByteChannel, GatheringByteChannel {
    private final SocketChannel ch;
    private final Timed raw = new Timed();
    private volatile long lastReadNanos;
    private volatile long lastWriteNanos;
    /** Set once, by the handshake's thread, before the reply writer exists. */
    private volatile TlsChannel tls;

    PeerSocket(SocketChannel ch) {
        this.ch = ch;
        long now = System.nanoTime();
        this.lastReadNanos = now;
        this.lastWriteNanos = now;
    }

    /** Runs the TLS handshake on this socket; from then on every byte goes through TLS. */
    void startTls(SSLEngine engine) throws IOException {
        TlsChannel t = new TlsChannel(raw, engine);
        t.handshake();
        tls = t;
    }

    /** The TLS session; only once {@link #startTls} succeeded. */
    javax.net.ssl.SSLSession tlsSession() {
        return tls.engine().getSession();
    }

    boolean tlsActive() {
        return tls != null;
    }

    /** close_notify before an orderly close, so a TLS client sees a clean end rather than a truncation. */
    void endTls() {
        TlsChannel t = tls;
        if (t != null && ch.isOpen()) {
            t.closeOutbound();
        }
    }

    /** Plaintext goes through TLS once it is on, straight to the socket before. */
    private GatheringByteChannel plaintext() {
        TlsChannel t = tls;
        return t == null ? raw : t;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        TlsChannel t = tls;
        return t == null ? raw.read(dst) : t.read(dst);
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        return plaintext().write(src);
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        return plaintext().write(srcs, offset, length);
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

    /** The socket's own bytes (TLS records, once TLS is on), with the watchdog's timestamps. */
    private final class Timed implements ByteChannel, GatheringByteChannel {
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
            return (int) write(new ByteBuffer[] {src}, 0, 1);
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

        @Override
        public boolean isOpen() {
            return ch.isOpen();
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }
}
