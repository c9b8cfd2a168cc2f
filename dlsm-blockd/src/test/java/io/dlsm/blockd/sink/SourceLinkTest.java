package io.dlsm.blockd.sink;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.block.Capabilities;
import io.dlsm.blockd.nbd.BufferPool;
import io.dlsm.blockd.nbd.client.NbdClient;
import io.dlsm.blockd.nbd.server.Export;
import io.dlsm.blockd.nbd.server.ExportRegistry;
import io.dlsm.blockd.nbd.server.MemoryBlockDevice;
import io.dlsm.blockd.nbd.server.NbdServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The link's connection sharing, against a real NbdServer on 127.0.0.1. */
class SourceLinkTest {
    private static final int SIZE = 1 << 20;

    private final ExecutorService serverWorkers = Executors.newFixedThreadPool(4);
    private final ExecutorService callers = Executors.newCachedThreadPool();
    private final ExportRegistry exports = new ExportRegistry();
    private final NbdServer server = new NbdServer(exports, serverWorkers, new BufferPool(16L << 20), 64);
    private final List<SourceLink> links = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        links.forEach(SourceLink::close);
        callers.shutdownNow();
        server.close();
        serverWorkers.shutdownNow();
        assertThat(callers.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    private SourceLink link(boolean multiConn, SourceLink.Sharing sharing) throws IOException {
        exports.register(Export.of("disk", new MemoryBlockDevice(SIZE, new Capabilities(false, true, false, false, false,
                false, false, multiConn)), false));
        InetSocketAddress at = server.start(new InetSocketAddress("127.0.0.1", 0));
        SourceLink link = new SourceLink(new SinkRecord.SourceAddress("127.0.0.1", at.getPort(), "disk"), sharing,
                Duration.ofSeconds(20), "test");
        links.add(link);
        return link;
    }

    /** {@code n} callers inside {@link SourceLink#call} at once; returns the clients they held. */
    private Set<NbdClient> concurrentCalls(SourceLink link, int n, int mustOverlap) throws Exception {
        Set<NbdClient> seen = ConcurrentHashMap.newKeySet();
        CountDownLatch together = new CountDownLatch(mustOverlap);
        List<Future<?>> calls = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            calls.add(callers.submit(() -> link.call(c -> {
                seen.add(c);
                together.countDown();
                // Holds the connection until enough callers hold one too (bounded).
                try {
                    assertThat(together.await(20, TimeUnit.SECONDS)).as("callers holding connections at once").isTrue();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException();
                }
                c.read(0, ByteBuffer.allocate(4096));
                return null;
            })));
        }
        for (Future<?> f : calls) {
            f.get(30, TimeUnit.SECONDS);
        }
        return seen;
    }

    @Test
    void perCallerLinkGivesEachConcurrentCallerItsOwnConnectionUpToTheLimit() throws Exception {
        SourceLink link = link(true, SourceLink.Sharing.PER_CALLER);
        int n = SourceLink.MAX_PER_CALLER + 4;
        Set<NbdClient> held = concurrentCalls(link, n, SourceLink.MAX_PER_CALLER);
        assertThat(held).hasSize(SourceLink.MAX_PER_CALLER);
        assertThat(link.connections()).isEqualTo(SourceLink.MAX_PER_CALLER);

        // Sequential callers reuse the idle connections.
        for (int i = 0; i < 20; i++) {
            link.call(c -> {
                c.read(4096, ByteBuffer.allocate(512));
                return null;
            });
        }
        assertThat(link.connections()).isEqualTo(SourceLink.MAX_PER_CALLER);
    }

    @Test
    void perCallerLinkUsesOneConnectionWhenTheSourceDoesNotOfferMultiConn() throws Exception {
        SourceLink link = link(false, SourceLink.Sharing.PER_CALLER);
        Set<NbdClient> held = concurrentCalls(link, 6, 1);
        assertThat(held).hasSize(1);
        assertThat(link.connections()).isEqualTo(1);
    }

    @Test
    void pipelinedLinkSharesOneConnectionBetweenConcurrentCallers() throws Exception {
        SourceLink link = link(true, SourceLink.Sharing.PIPELINED);
        Set<NbdClient> held = concurrentCalls(link, 6, 6);
        assertThat(held).hasSize(1);
        assertThat(link.client()).isSameAs(held.iterator().next());
    }

    @Test
    void perCallerLinkReplacesAConnectionTheSourceDroppedWhileIdleWithoutAFailedRequest() throws Exception {
        SourceLink link = link(true, SourceLink.Sharing.PER_CALLER);
        NbdClient first = link.call(c -> c);
        int port = Integer.parseInt(first.peer().substring(first.peer().lastIndexOf(':') + 1));
        server.close();
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        // The FIN needs a moment to arrive; bounded.
        while (first.isOpen() && System.nanoTime() < giveUp) {
            Thread.sleep(5);
        }
        // A restarted source on the same port.
        try (NbdServer restarted = new NbdServer(exports, serverWorkers, new BufferPool(16L << 20), 64)) {
            bindWithin(restarted, port, giveUp);
            NbdClient second = link.call(c -> {
                c.read(0, ByteBuffer.allocate(512));
                return c;
            });
            assertThat(second).isNotSameAs(first);
            assertThat(link.failures()).as("the dead idle connection was replaced before use").isZero();
            assertThat(link.connections()).isEqualTo(2);
        }
    }

    private static void bindWithin(NbdServer server, int port, long giveUpNanos) throws Exception {
        while (true) {
            try {
                server.start(new InetSocketAddress("127.0.0.1", port));
                return;
            } catch (java.net.BindException e) {
                if (System.nanoTime() > giveUpNanos) {
                    throw e;
                }
                Thread.sleep(20);
            }
        }
    }
}
