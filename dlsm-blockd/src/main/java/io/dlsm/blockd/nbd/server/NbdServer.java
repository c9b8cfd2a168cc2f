package io.dlsm.blockd.nbd.server;

import io.dlsm.blockd.nbd.BufferPool;
import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Accepts NBD clients. Each connection gets a reader thread; requests run on a shared pool of
 * I/O workers. A misbehaving client only ever ends its own connection.
 */
public final class NbdServer implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(NbdServer.class);

    private final ExportRegistry exports;
    private final ExecutorService workers;
    private final BufferPool buffers;
    private final int maxConnections;
    private final AtomicInteger connections = new AtomicInteger();
    /** Sockets of the connections being served, so close() ends them too. */
    private final Set<SocketChannel> open = ConcurrentHashMap.newKeySet();
    private ServerSocketChannel server;
    private Thread acceptor;

    public NbdServer(ExportRegistry exports, ExecutorService workers, BufferPool buffers, int maxConnections) {
        this.exports = exports;
        this.workers = workers;
        this.buffers = buffers;
        this.maxConnections = maxConnections;
    }

    /** Binds and starts accepting; returns the bound address (port 0 picks a free port). */
    public InetSocketAddress start(InetSocketAddress listen) throws IOException {
        server = ServerSocketChannel.open();
        try {
            server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            server.bind(listen, 128);
        } catch (IOException | RuntimeException e) {
            server.close();
            server = null;
            throw e;
        }
        InetSocketAddress bound = (InetSocketAddress) server.getLocalAddress();
        acceptor = new Thread(this::acceptLoop, "nbd-accept-" + bound.getPort());
        acceptor.setDaemon(true);
        acceptor.start();
        log.info("NBD server listening on {}", bound);
        return bound;
    }

    private void acceptLoop() {
        while (server.isOpen()) {
            SocketChannel ch;
            try {
                ch = server.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                log.warn("accept failed: {}", e.toString());
                continue;
            }
            if (connections.incrementAndGet() > maxConnections) {
                connections.decrementAndGet();
                log.warn("refusing NBD client: {} connections already open", maxConnections);
                closeQuietly(ch);
                continue;
            }
            open.add(ch);
            if (!server.isOpen()) {
                // close() may have swept the set before this socket joined it.
                open.remove(ch);
                connections.decrementAndGet();
                closeQuietly(ch);
                return;
            }
            try {
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                NbdConnection c = new NbdConnection(ch, exports, workers, buffers, () -> {
                    open.remove(ch);
                    connections.decrementAndGet();
                });
                Thread t = new Thread(c, "nbd-conn-" + c.peer());
                t.setDaemon(true);
                t.start();
            } catch (IOException | RuntimeException e) {
                open.remove(ch);
                connections.decrementAndGet();
                log.warn("could not start connection: {}", e.toString());
                closeQuietly(ch);
            }
        }
    }

    public int connectionCount() {
        return connections.get();
    }

    /**
     * Stops listening and drops every connection: their clients see the server gone, as they
     * would if the process died, instead of talking to a server that is shutting down.
     */
    @Override
    public void close() throws IOException {
        if (server != null) {
            server.close();
        }
        if (acceptor != null && acceptor != Thread.currentThread()) {
            // Until the acceptor has left accept() the port may still be bound, and a restart
            // on the same port would fail.
            try {
                acceptor.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (SocketChannel ch : open) {
            closeQuietly(ch);
        }
    }

    private static void closeQuietly(SocketChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // the socket is going away either way
        }
    }
}
