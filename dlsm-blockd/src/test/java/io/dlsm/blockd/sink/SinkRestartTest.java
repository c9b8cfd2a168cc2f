package io.dlsm.blockd.sink;

import static io.dlsm.blockd.sink.TwoNodes.REGION;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.nbd.client.NbdClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Restarts in the middle of a hydration: the destination resumes its sink in ACTIVE with
 * every flushed write; an unreachable source turns the sink DEGRADED (reads of absent
 * regions fail with EIO after the retry deadline) until it is back on the same port.
 */
@Timeout(180)
class SinkRestartTest {
    private static final long SIZE = 16L << 20;

    @TempDir
    Path dir;

    @Test
    void destinationRestartResumesWithEveryFlushedWrite() throws Exception {
        long seed = TwoNodes.seed(getClass());
        Random rnd = new Random(seed);
        try (TwoNodes nodes = new TwoNodes(dir)) {
            TwoNodes.SourceImage img = nodes.createSourceVolume("vol", SIZE, rnd, 0.2);
            byte[] model = img.copy();
            // 16 KiB/s: after its first MiB the copier waits a minute per MiB, so the sink is
            // still ACTIVE after the writes and the restart however slow the machine is.
            nodes.migrate("vol", 16L << 10, null, true);
            try (NbdClient guest = nodes.connectDest("vol")) {
                for (int i = 0; i < 40; i++) {
                    int len = 1 + rnd.nextInt(3 * REGION);
                    long off = (long) (rnd.nextDouble() * (SIZE - len));
                    byte[] data = new byte[len];
                    rnd.nextBytes(data);
                    TwoNodes.write(guest, off, data, 0, len, rnd.nextBoolean());
                    System.arraycopy(data, 0, model, (int) off, len);
                }
                guest.flush();
            }
            SinkStatus before = nodes.sink("vol");
            nodes.restartDest();
            SinkStatus resumed = nodes.sink("vol");
            System.out.println("restart: before=" + TwoNodes.numbers(before) + " resumed=" + TwoNodes.numbers(resumed));
            assertThat(resumed.state()).as("seed=%d", seed).isEqualTo(SinkState.ACTIVE);
            assertThat(resumed.regionsPresent()).as("committed bits survive").isGreaterThanOrEqualTo(before.regionsPresent());
            try (NbdClient guest = nodes.connectDest("vol")) {
                byte[] all = TwoNodes.readAll(guest);
                assertThat(TwoNodes.firstDifference(all, model, 0, all.length))
                        .as("seed=%d: first differing byte after the restart, while still hydrating", seed).isEqualTo(-1);
                nodes.dest.sinks().setBandwidth("vol", 0L);
                nodes.awaitState("vol", SinkState.COMMITTED, Duration.ofSeconds(180));
                all = TwoNodes.readAll(guest);
                assertThat(TwoNodes.firstDifference(all, model, 0, all.length))
                        .as("seed=%d: first differing byte after commit", seed).isEqualTo(-1);
            }
        }
    }

    @Test
    void unreachableSourceDegradesThenRecoversOnTheSamePort() throws Exception {
        long seed = TwoNodes.seed(getClass());
        Random rnd = new Random(seed);
        try (TwoNodes nodes = new TwoNodes(dir)) {
            TwoNodes.SourceImage img = nodes.createSourceVolume("vol", SIZE, rnd, 0);
            nodes.migrate("vol", 1, 1, true);
            int sourcePort = nodes.source.nbdAddress().getPort();
            try (NbdClient guest = nodes.connectDest("vol")) {
                assertThat(TwoNodes.read(guest, 100 * REGION, 10))
                        .isEqualTo(SinkHydrationTest.slice(img.bytes(), 100 * REGION, 10));
                nodes.stopSource();
                assertThatThrownBy(() -> TwoNodes.read(guest, 200 * REGION + 5, 100))
                        .isInstanceOfSatisfying(BlockIoException.class,
                                e -> assertThat(e.errno()).isEqualTo(Errno.EIO));
                SinkStatus degraded = nodes.sink("vol");
                System.out.println("degraded: " + TwoNodes.numbers(degraded) + " atRisk=" + degraded.regionsAtRisk()
                        + " lastError=" + degraded.lastError());
                assertThat(degraded.state()).isEqualTo(SinkState.DEGRADED);
                assertThat(degraded.regionsAtRisk()).isEqualTo(degraded.regionsTotal() - degraded.regionsPresent())
                        .isPositive();
                // What is local still reads.
                assertThat(TwoNodes.read(guest, 100 * REGION, 10))
                        .isEqualTo(SinkHydrationTest.slice(img.bytes(), 100 * REGION, 10));

                nodes.restartSource(sourcePort);
                nodes.dest.sinks().setBandwidth("vol", 0L);
                nodes.awaitState("vol", SinkState.COMMITTED, Duration.ofSeconds(180));
                byte[] all = TwoNodes.readAll(guest);
                assertThat(TwoNodes.firstDifference(all, img.bytes(), 0, all.length))
                        .as("seed=%d: first differing byte after recovery and commit", seed).isEqualTo(-1);
            }
        }
    }
}
