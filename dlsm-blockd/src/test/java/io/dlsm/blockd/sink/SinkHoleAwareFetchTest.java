package io.dlsm.blockd.sink;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.nbd.client.NbdClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * On-demand fetches ask the source where its data is, as the background copier does: a guest
 * reading a region that is (partly) a hole on the source moves no bytes of the hole and writes
 * no zeroes into the destination. The source has whole-region holes and regions with data in
 * a part only; the copier is held at 1 byte/s while a random read/write mix runs, so nearly
 * every region the mix touches is fetched on demand. Counters, not time, are asserted.
 */
class SinkHoleAwareFetchTest {
    private static final int REGION = TwoNodes.REGION;
    private static final long SIZE = 32L << 20;
    private static final int PAGE = 4096;

    @TempDir
    Path dir;

    @Test
    void aRandomMixMovesOnlyTheSourcesDataAndKeepsTheDestinationSparse() throws Exception {
        long seed = TwoNodes.seed(getClass());
        Random rnd = new Random(seed);
        try (TwoNodes nodes = new TwoNodes(dir)) {
            byte[] model = new byte[(int) SIZE];
            nodes.source.volumes().create("vol", SIZE, false);
            try (NbdClient c = nodes.connectSource("vol")) {
                for (int r = 0; r < SIZE / REGION; r++) {
                    int kind = rnd.nextInt(3);
                    if (kind == 0) {
                        continue; // a hole
                    }
                    // Whole region, or a page-aligned piece of it with holes around.
                    int from = kind == 1 ? 0 : PAGE * rnd.nextInt(REGION / PAGE);
                    int to = kind == 1 ? REGION : from + PAGE * (1 + rnd.nextInt((REGION - from) / PAGE));
                    byte[] data = new byte[to - from];
                    rnd.nextBytes(data);
                    int off = r * REGION + from;
                    System.arraycopy(data, 0, model, off, data.length);
                    TwoNodes.write(c, off, data, 0, data.length, false);
                }
                c.flush();
            }
            nodes.awaitNoWriters("vol");
            long allocated = nodes.source.volumes().get("vol").allocatedBytes();
            nodes.migrate("vol", 1, null, true);

            long writtenPages = 0;
            int reads = 0;
            try (NbdClient guest = nodes.connectDest("vol")) {
                for (int i = 0; i < 600; i++) {
                    if (rnd.nextInt(10) < 6) {
                        int len = 1 + rnd.nextInt(REGION + REGION / 2);
                        long off = (long) (rnd.nextDouble() * (SIZE - len));
                        byte[] got = TwoNodes.read(guest, off, len);
                        assertThat(TwoNodes.firstDifference(got, Arrays.copyOfRange(model, (int) off, (int) off + len),
                                0, len)).as("seed=%d: read %d+%d", seed, off, len).isEqualTo(-1);
                        reads++;
                    } else {
                        int len = 1 + rnd.nextInt(2 * PAGE);
                        long off = (long) (rnd.nextDouble() * (SIZE - len));
                        byte[] data = new byte[len];
                        rnd.nextBytes(data);
                        TwoNodes.write(guest, off, data, 0, len, rnd.nextInt(8) == 0);
                        System.arraycopy(data, 0, model, (int) off, len);
                        writtenPages += (off + len - 1) / PAGE - off / PAGE + 1;
                    }
                }
                SinkStatus mixed = nodes.sink("vol");
                nodes.dest.sinks().setBandwidth("vol", 0L);
                SinkStatus end = nodes.awaitState("vol", SinkState.COMMITTED, Duration.ofSeconds(180));
                double ratio = (double) end.wireBytesReceived() / allocated;
                System.out.printf("hole-aware fetch: seed=%d reads=%d allocated=%d wire=%d ratio=%.4f onDemand=%d"
                                + " (after the mix %d) holes=%d%n", seed, reads, allocated, end.wireBytesReceived(),
                        ratio, end.bytesFetchedOnDemand(), mixed.bytesFetchedOnDemand(), end.bytesSkippedAsHoles());
                assertThat(mixed.bytesFetchedOnDemand()).as("the mix fetched on demand").isPositive();
                assertThat(TwoNodes.accountedBytes(end)).as("seed=%d: each region present exactly once", seed)
                        .isEqualTo(SIZE);
                assertThat(end.wireBytesReceived()).as("seed=%d: wire bytes vs allocated %d", seed, allocated)
                        .isLessThanOrEqualTo((long) (1.01 * allocated));

                byte[] all = TwoNodes.readAll(guest);
                assertThat(TwoNodes.firstDifference(all, model, 0, all.length))
                        .as("seed=%d: first byte of the committed volume that differs", seed).isEqualTo(-1);
            }
            TwoNodes.await("the commit to finish", Duration.ofSeconds(30),
                    () -> nodes.dest.volumes().exists("vol"));
            long destAllocated = nodes.dest.volumes().get("vol").allocatedBytes();
            System.out.printf("hole-aware fetch: destination allocated=%d (source %d + at most %d written)%n",
                    destAllocated, allocated, writtenPages * PAGE);
            assertThat(destAllocated).as("seed=%d: the destination holds no zeroes the source did not", seed)
                    .isLessThanOrEqualTo(allocated + writtenPages * PAGE);
        }
    }
}
