package io.dlsm.blockd.nbd.server;

import io.dlsm.blockd.block.BlockDevice;
import io.dlsm.blockd.nbd.BufferPool;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A real NbdServer on 127.0.0.1:0 with its own worker pool. Clients opened through it are
 * closed with it, so a failing test leaves no connection threads behind.
 */
final class NbdServerFixture implements AutoCloseable {
    final ExportRegistry exports = new ExportRegistry();
    private final ExecutorService workers = Executors.newFixedThreadPool(4);
    final BufferPool buffers = new BufferPool(64L << 20);
    private final NbdServer server;
    private final List<RawNbdClient> clients = new ArrayList<>();
    final InetSocketAddress address;

    NbdServerFixture() throws IOException {
        this(NbdLimits.DEFAULTS);
    }

    NbdServerFixture(NbdLimits limits) throws IOException {
        server = new NbdServer(exports, workers, buffers, 64, limits);
        address = server.start(new InetSocketAddress("127.0.0.1", 0));
    }

    NbdServer server() {
        return server;
    }

    Export export(String name, BlockDevice device) {
        Export e = Export.of(name, device, false);
        exports.register(e);
        return e;
    }

    /** A client connected but not yet greeted. */
    RawNbdClient connect() throws IOException {
        return track(RawNbdClient.connect(address));
    }

    /** A client in transmission on {@code export}. */
    RawNbdClient open(String export, boolean structured, boolean allocation) throws IOException {
        return track(RawNbdClient.open(address, export, structured, allocation));
    }

    private synchronized RawNbdClient track(RawNbdClient c) {
        clients.add(c);
        return c;
    }

    int connectionCount() {
        return server.connectionCount();
    }

    @Override
    public void close() throws Exception {
        synchronized (this) {
            for (RawNbdClient c : clients) {
                c.close();
            }
        }
        server.close();
        workers.shutdownNow();
        if (!workers.awaitTermination(10, TimeUnit.SECONDS)) {
            throw new IllegalStateException("NBD workers did not stop");
        }
    }
}
