package io.dlsm.blockd.tls;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.ReadableByteChannel;
import java.util.concurrent.locks.ReentrantLock;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;

/**
 * A byte channel that carries its bytes through TLS ({@link SSLEngine}) over another byte
 * channel (the socket). Reads and writes behave like the transport's: with a blocking
 * transport a read waits for at least one byte and a write sends everything; one thread may
 * read while another writes, as the NBD server's reader and reply writer do.
 *
 * <p>Throughput is the point of the write path: a TLS record carries at most 16 KiB, so a
 * gathering write wraps record after record (header and payload of a reply go into the same
 * records, no copy of the payload beforehand) into one large buffer and sends it with one
 * socket write per {@value #RECORDS_PER_WRITE} records. Reads of at least one record's
 * plaintext are decrypted straight into the caller's buffer; smaller ones go through a
 * one-record buffer.
 *
 * <p>Handshake messages after the handshake (TLS 1.3 session tickets and key updates) are
 * consumed by reads; an answer they call for is sent by the reader if no writer is busy,
 * otherwise by the writer when it is done, so a reader never waits for a stalled writer.
 */
public final class TlsChannel implements ByteChannel, GatheringByteChannel {
    static final int RECORDS_PER_WRITE = 8;
    private static final int RECORDS_PER_READ = 4;
    private static final ByteBuffer[] NOTHING = {ByteBuffer.allocate(0)};

    /** Whether the peer can still send: what an idle connection's probe found. */
    public enum Idle {
        /** Nothing arrived but TLS housekeeping. */
        OPEN,
        /** The peer closed (TCP end of stream or TLS close_notify). */
        CLOSED,
        /** Application data arrived while none was expected. */
        DATA
    }

    private final ByteChannel transport;
    private final SSLEngine engine;
    private final int appBufferSize;
    private final int packetSize;
    private final ReentrantLock readLock = new ReentrantLock();
    private final ReentrantLock writeLock = new ReentrantLock();
    /** Received TLS bytes not yet decrypted; kept in read mode. Guarded by readLock. */
    private final ByteBuffer netIn;
    /** Decrypted bytes not yet handed out; kept in read mode. Guarded by readLock. */
    private final ByteBuffer appIn;
    /** TLS records on their way out. Guarded by writeLock. */
    private final ByteBuffer netOut;
    /** A read left the engine wanting to send (a key update answer, close_notify). */
    private volatile boolean wrapPending;
    private boolean inboundDone;

    public TlsChannel(ByteChannel transport, SSLEngine engine) {
        this.transport = transport;
        this.engine = engine;
        this.appBufferSize = engine.getSession().getApplicationBufferSize();
        this.packetSize = engine.getSession().getPacketBufferSize();
        // Heap, not direct: the JDK's AES-GCM runs its AES-NI/CLMUL intrinsics on arrays; on a
        // direct buffer JDK 17 computes GHASH in plain Java (GHASH.processBlocksDirect), which
        // profiling showed as most of a TLS reply's cost. The socket's copy to its own direct
        // buffer is cheap next to that.
        this.netIn = ByteBuffer.allocate(packetSize * RECORDS_PER_READ).flip();
        this.appIn = ByteBuffer.allocate(appBufferSize).flip();
        this.netOut = ByteBuffer.allocate(packetSize * RECORDS_PER_WRITE);
    }

    /**
     * Runs the TLS handshake to completion on the calling thread. A failure (bad certificate,
     * unknown CA, refused subject, name mismatch) sends the peer its alert, if the engine has
     * one, and throws a {@link TlsException} saying why.
     */
    public void handshake() throws IOException {
        readLock.lock();
        writeLock.lock();
        try {
            engine.beginHandshake();
            SSLEngineResult.HandshakeStatus hs = engine.getHandshakeStatus();
            while (true) {
                switch (hs) {
                    case NEED_WRAP -> hs = flushHandshake();
                    case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> hs = unwrapHandshake();
                    case NEED_TASK -> {
                        runTasks();
                        hs = engine.getHandshakeStatus();
                    }
                    case FINISHED, NOT_HANDSHAKING -> {
                        // A TLS 1.3 server may still owe its session ticket.
                        hs = engine.getHandshakeStatus();
                        if (hs != SSLEngineResult.HandshakeStatus.NEED_WRAP
                                && hs != SSLEngineResult.HandshakeStatus.NEED_TASK) {
                            return;
                        }
                    }
                    default -> throw new IllegalStateException("handshake status " + hs);
                }
            }
        } catch (SSLException e) {
            sendAlert();
            throw new TlsException("TLS handshake failed: " + reason(e), e);
        } finally {
            writeLock.unlock();
            readLock.unlock();
        }
    }

    public SSLEngine engine() {
        return engine;
    }

    private SSLEngineResult.HandshakeStatus flushHandshake() throws IOException {
        netOut.clear();
        SSLEngineResult r = engine.wrap(NOTHING, netOut);
        netOut.flip();
        writeOut();
        if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
            throw new TlsException("TLS handshake failed: the engine closed");
        }
        return r.getHandshakeStatus();
    }

    private SSLEngineResult.HandshakeStatus unwrapHandshake() throws IOException {
        appIn.compact();
        SSLEngineResult r;
        try {
            r = engine.unwrap(netIn, appIn);
        } finally {
            appIn.flip();
        }
        switch (r.getStatus()) {
            case BUFFER_UNDERFLOW -> {
                if (fill(transport) < 0) {
                    throw new TlsException("TLS handshake failed: the peer closed the connection");
                }
            }
            case CLOSED -> throw new TlsException("TLS handshake failed: the peer closed TLS");
            case BUFFER_OVERFLOW -> throw new TlsException("TLS handshake failed: a record larger than negotiated");
            case OK -> {
                // progress; the status says what next
            }
        }
        return r.getHandshakeStatus();
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        readLock.lock();
        try {
            if (appIn.hasRemaining()) {
                return drainTo(dst);
            }
            if (!dst.hasRemaining()) {
                return 0;
            }
            while (true) {
                if (inboundDone) {
                    return -1;
                }
                boolean direct = dst.remaining() >= appBufferSize;
                SSLEngineResult r = unwrap(direct ? dst : null);
                switch (r.getStatus()) {
                    case OK -> {
                        afterUnwrap(r);
                        if (r.bytesProduced() > 0) {
                            return direct ? r.bytesProduced() : drainTo(dst);
                        }
                    }
                    case BUFFER_UNDERFLOW -> {
                        if (fill(transport) < 0) {
                            inboundDone = true;
                            return -1;
                        }
                    }
                    case BUFFER_OVERFLOW -> throw new SSLException("TLS record larger than the negotiated size");
                    case CLOSED -> {
                        inboundDone = true;
                        afterUnwrap(r);
                        return appIn.hasRemaining() ? drainTo(dst) : -1;
                    }
                }
            }
        } catch (SSLException e) {
            throw new TlsException("TLS failed reading from the peer: " + reason(e), e);
        } finally {
            readLock.unlock();
        }
    }

    /**
     * For a connection with nothing outstanding: takes whatever the peer sent, without
     * waiting, through {@code nonBlocking} (the same socket, read without blocking), and says
     * whether the peer closed, sent data, or only TLS housekeeping.
     */
    public Idle pollIdle(ReadableByteChannel nonBlocking) throws IOException {
        readLock.lock();
        try {
            if (appIn.hasRemaining()) {
                return Idle.DATA;
            }
            int n = fill(nonBlocking);
            while (!inboundDone) {
                SSLEngineResult r = unwrap(null);
                if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
                    inboundDone = true;
                } else if (r.getStatus() != SSLEngineResult.Status.OK) {
                    break;
                }
                afterUnwrap(r);
                if (appIn.hasRemaining()) {
                    return Idle.DATA;
                }
            }
            return inboundDone || n < 0 ? Idle.CLOSED : Idle.OPEN;
        } catch (SSLException e) {
            throw new TlsException("TLS failed reading from the peer: " + reason(e), e);
        } finally {
            readLock.unlock();
        }
    }

    /** Decrypts one record into {@code dst}, or into {@link #appIn} when {@code dst} is null. */
    private SSLEngineResult unwrap(ByteBuffer dst) throws SSLException {
        if (dst != null) {
            return engine.unwrap(netIn, dst);
        }
        appIn.clear();
        try {
            return engine.unwrap(netIn, appIn);
        } finally {
            appIn.flip();
        }
    }

    private void afterUnwrap(SSLEngineResult r) throws IOException {
        SSLEngineResult.HandshakeStatus hs = r.getHandshakeStatus();
        if (hs == SSLEngineResult.HandshakeStatus.NEED_TASK) {
            runTasks();
            hs = engine.getHandshakeStatus();
        }
        if (hs == SSLEngineResult.HandshakeStatus.NEED_WRAP) {
            wrapPending = true;
            flushPendingIfIdle();
        }
    }

    /** Sends what the engine owes the peer, unless a writer holds the socket (it will send it). */
    private void flushPendingIfIdle() throws IOException {
        while (wrapPending && writeLock.tryLock()) {
            try {
                wrapPending = false;
                wrapPendingLocked();
            } finally {
                writeLock.unlock();
            }
        }
    }

    /** Caller holds writeLock. */
    private void wrapPendingLocked() throws IOException {
        while (engine.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_WRAP) {
            netOut.clear();
            SSLEngineResult r = engine.wrap(NOTHING, netOut);
            netOut.flip();
            writeOut();
            if (r.getStatus() == SSLEngineResult.Status.CLOSED || r.bytesProduced() == 0) {
                return;
            }
        }
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        return (int) write(new ByteBuffer[] {src}, 0, 1);
    }

    @Override
    public long write(ByteBuffer[] srcs) throws IOException {
        return write(srcs, 0, srcs.length);
    }

    /** Encrypts and sends every remaining byte of {@code srcs[offset..offset+length)}. */
    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        long total = 0;
        for (int i = offset; i < offset + length; i++) {
            total += srcs[i].remaining();
        }
        long consumed = 0;
        writeLock.lock();
        try {
            while (consumed < total) {
                netOut.clear();
                while (consumed < total && netOut.remaining() >= packetSize) {
                    SSLEngineResult r = engine.wrap(srcs, offset, length, netOut);
                    if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
                        throw new ClosedChannelException();
                    }
                    if (r.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
                        break;
                    }
                    if (r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_TASK) {
                        runTasks();
                    } else if (r.bytesConsumed() == 0 && r.bytesProduced() == 0) {
                        // Never spin: an engine that neither takes nor gives is broken.
                        throw new SSLException("the TLS engine made no progress wrapping " + (total - consumed)
                                + " bytes");
                    }
                    consumed += r.bytesConsumed();
                }
                netOut.flip();
                writeOut();
            }
            wrapPending = false;
            wrapPendingLocked();
        } catch (SSLException e) {
            throw new TlsException("TLS failed writing to the peer: " + reason(e), e);
        } finally {
            writeLock.unlock();
        }
        // A reader may have found something to answer while this writer held the socket.
        flushPendingIfIdle();
        return consumed;
    }

    /**
     * Tells the peer this side is done (close_notify), if the socket takes it without
     * waiting on a writer; for an orderly end. The socket stays open until {@link #close}.
     */
    public void closeOutbound() {
        if (!writeLock.tryLock()) {
            return;
        }
        try {
            engine.closeOutbound();
            netOut.clear();
            engine.wrap(NOTHING, netOut);
            netOut.flip();
            writeOut();
        } catch (IOException e) {
            // the peer is gone already; nothing to tell it
        } finally {
            writeLock.unlock();
        }
    }

    /** Caller holds writeLock; netOut is in read mode. */
    private void writeOut() throws IOException {
        while (netOut.hasRemaining()) {
            transport.write(netOut);
        }
    }

    /** Reads more TLS bytes from {@code from}; returns what the read returned. */
    private int fill(ReadableByteChannel from) throws IOException {
        netIn.compact();
        try {
            return from.read(netIn);
        } finally {
            netIn.flip();
        }
    }

    private int drainTo(ByteBuffer dst) {
        int n = Math.min(dst.remaining(), appIn.remaining());
        dst.put(dst.position(), appIn, appIn.position(), n);
        dst.position(dst.position() + n);
        appIn.position(appIn.position() + n);
        return n;
    }

    private void runTasks() {
        Runnable task;
        while ((task = engine.getDelegatedTask()) != null) {
            task.run();
        }
    }

    /** After a failed handshake the engine may hold the alert that tells the peer why. */
    private void sendAlert() {
        try {
            engine.closeOutbound();
            for (int i = 0; i < 4 && !engine.isOutboundDone(); i++) {
                netOut.clear();
                SSLEngineResult r = engine.wrap(NOTHING, netOut);
                netOut.flip();
                writeOut();
                if (r.bytesProduced() == 0) {
                    break;
                }
            }
        } catch (IOException e) {
            // the peer is gone; it will not read the alert either way
        }
    }

    private static String reason(SSLException e) {
        Throwable t = e;
        String message = e.getMessage();
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
            if (t.getMessage() != null) {
                message = t.getMessage();
            }
        }
        return message == null ? e.getClass().getSimpleName() : message;
    }

    @Override
    public boolean isOpen() {
        return transport.isOpen();
    }

    @Override
    public void close() throws IOException {
        transport.close();
    }
}
