package io.dlsm.blockd.nbd.server;

import io.dlsm.blockd.nbd.BufferPool;
import io.dlsm.blockd.tls.NodeTls;
import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Accepts NBD clients. Each connection gets a reader thread and, once in transmission, a
 * reply writer thread; requests run on a shared pool of I/O workers, which never wait for a
 * client's socket. A misbehaving client only ever ends its own connection: a watchdog closes
 * connections that do not finish the handshake in time or stall mid-request or mid-reply
 * ({@link NbdLimits}), and floods of refused or timed-out connections are logged as counts.
 */
public final class NbdServer implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(NbdServer.class);

    private final ExportRegistry exports;
    private final ExecutorService workers;
    private final BufferPool buffers;
    private final int maxConnections;
    private final NbdLimits limits;
    private final MemoryBudget memory;
    private final Optional<NodeTls> tls;
    private final AtomicInteger connections = new AtomicInteger();
    /** Sockets of the connections being served, so close() ends them too. */
    private final Set<SocketChannel> open = ConcurrentHashMap.newKeySet();
    /** The connections the watchdog looks at. */
    private final Set<NbdConnection> live = ConcurrentHashMap.newKeySet();
    private final ThrottledLog refusals = new ThrottledLog(log,
            "refusing NBD clients: all --max-connections slots are taken", LOG_WINDOW_NANOS, System::nanoTime);
    private final ThrottledLog timeouts = new ThrottledLog(log,
            "closing NBD connections that did not finish the handshake in time", LOG_WINDOW_NANOS, System::nanoTime);
    private final ThrottledLog stalls = new ThrottledLog(log,
            "closing stalled NBD connections", LOG_WINDOW_NANOS, System::nanoTime);
    private ServerSocketChannel server;
    private Thread acceptor;
    private ScheduledExecutorService watchdog;

    private static final long LOG_WINDOW_NANOS = TimeUnit.SECONDS.toNanos(10);

    public NbdServer(ExportRegistry exports, ExecutorService workers, BufferPool buffers, int maxConnections) {
        this(exports, workers, buffers, maxConnections, NbdLimits.DEFAULTS);
    }

    public NbdServer(ExportRegistry exports, ExecutorService workers, BufferPool buffers, int maxConnections,
                     NbdLimits limits) {
        this(exports, workers, buffers, maxConnections, limits, Optional.empty());
    }

    /** With {@code tls}, clients may (or, in REQUIRE mode, must) switch to TLS with NBD_OPT_STARTTLS. */
    public NbdServer(ExportRegistry exports, ExecutorService workers, BufferPool buffers, int maxConnections,
                     NbdLimits limits, Optional<NodeTls> tls) {
        this.tls = tls;
        this.exports = exports;
        this.workers = workers;
        this.buffers = buffers;
        this.maxConnections = maxConnections;
        this.limits = limits;
        this.memory = new MemoryBudget(limits.bufferBudgetBytes());
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
        watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "nbd-watchdog-" + bound.getPort());
            t.setDaemon(true);
            return t;
        });
        long tick = watchdogTickMillis(limits);
        watchdog.scheduleWithFixedDelay(this::sweep, tick, tick, TimeUnit.MILLISECONDS);
        log.info("NBD server listening on {}{}", bound, tls.map(t -> " (TLS " + t.mode().name().toLowerCase(
                java.util.Locale.ROOT) + ", certificate " + t.subject() + ")").orElse(" (no TLS)"));
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
                refusals.event(describe(ch) + " refused, " + maxConnections + " connections open");
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
            NbdConnection c = null;
            try {
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                c = new NbdConnection(ch, exports, workers, buffers, memory, limits, tls, ended -> {
                    live.remove(ended);
                    open.remove(ch);
                    connections.decrementAndGet();
                });
                live.add(c);
                Thread t = new Thread(c, "nbd-conn-" + c.peer());
                t.setDaemon(true);
                t.start();
            } catch (IOException | RuntimeException e) {
                if (c != null) {
                    live.remove(c);
                }
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

    /** Connections that have not chosen an export yet. */
    public int handshakingCount() {
        return (int) live.stream().filter(c -> c.phase() == NbdConnection.Phase.HANDSHAKE).count();
    }

    /** Request and reply buffer bytes reserved by all connections (bounded by the buffer budget). */
    public long bufferBytesReserved() {
        return memory.used();
    }

    /** Closes whatever has waited longer than the limits allow, and reports throttled log counts. */
    private void sweep() {
        long now = System.nanoTime();
        for (NbdConnection c : live) {
            Optional<String> overdue = c.overdue(now);
            if (overdue.isPresent()) {
                if (c.phase() == NbdConnection.Phase.HANDSHAKE) {
                    timeouts.event(c.peer() + " " + overdue.get());
                } else {
                    stalls.event(c.peer() + " " + overdue.get());
                }
                c.abandon();
            }
        }
        refusals.flush();
        timeouts.flush();
        stalls.flush();
    }

    /** Often enough that a deadline is met within a quarter of the shorter timeout. */
    private static long watchdogTickMillis(NbdLimits limits) {
        long shorter = Math.min(limits.handshakeTimeout().toMillis(), limits.stallTimeout().toMillis());
        return Math.max(20, Math.min(1000, shorter / 4));
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
        if (watchdog != null) {
            watchdog.shutdownNow();
        }
        for (SocketChannel ch : open) {
            closeQuietly(ch);
        }
    }

    private static String describe(SocketChannel ch) {
        try {
            return String.valueOf(ch.getRemoteAddress());
        } catch (IOException e) {
            return "unknown peer";
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
