package io.dlsm.blockd.sink;

import static io.dlsm.blockd.sink.TwoNodes.REGION;
import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.nbd.client.NbdClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fetch-vs-write race, hammered: many guest threads write parts of the same few absent
 * regions and read them back while the copier sweeps right there and on-demand fetches run.
 * A late fetch must never land on newer guest data. Each thread owns one 4 KiB stripe of
 * every region; half of the stripes belong to nobody and must always read as the source.
 * Whole regions overwritten before any fetch must be accounted and never cross the wire.
 */
@Timeout(180)
class SinkRaceTest {
    private static final long SIZE = 16L << 20;
    private static final int REGIONS = (int) (SIZE / REGION);
    private static final int THREADS = 8;
    private static final int STRIPE = REGION / 16;
    private static final int PER_ROUND = 3;
    private static final int OVERWRITTEN = 16;

    @TempDir
    Path dir;

    @Test
    void lateFetchesNeverOverwriteGuestDataAndOverwrittenRegionsAreNeverFetched() throws Exception {
        long seed = TwoNodes.seed(getClass());
        Random rnd = new Random(seed);
        try (TwoNodes nodes = new TwoNodes(dir)) {
            TwoNodes.SourceImage img = nodes.createSourceVolume("vol", SIZE, rnd, 0);
            long allocated = nodes.source.volumes().get("vol").allocatedBytes();
            byte[] source = img.bytes();
            byte[] model = img.copy();
            // 1 B/s: after its first batch the copier is held back by the limiter's debt.
            nodes.migrate("vol", 1, null, true);
            RegionBitmap present = nodes.sinkDevice("vol").present();

            // Whole regions written before anyone fetched them.
            SinkStatus before = nodes.sink("vol");
            List<Integer> overwritten = new ArrayList<>();
            try (NbdClient c = nodes.connectDest("vol")) {
                while (overwritten.size() < OVERWRITTEN) {
                    int r = REGIONS / 2 + rnd.nextInt(REGIONS / 2);
                    if (!overwritten.contains(r)) {
                        overwritten.add(r);
                        byte[] data = new byte[REGION];
                        rnd.nextBytes(data);
                        TwoNodes.write(c, (long) r * REGION, data, 0, REGION, rnd.nextBoolean());
                        System.arraycopy(data, 0, model, r * REGION, REGION);
                    }
                }
            }
            SinkStatus after = nodes.sink("vol");
            assertThat(after.bytesOverwrittenNeverFetched() - before.bytesOverwrittenNeverFetched())
                    .as("seed=%d", seed).isEqualTo((long) OVERWRITTEN * REGION);
            assertThat(after.bytesFetchedOnDemand()).as("seed=%d: whole-region writes fetch nothing", seed)
                    .isEqualTo(before.bytesFetchedOnDemand());

            // Now let the copier run and race it in the regions just ahead of it.
            nodes.dest.sinks().setBandwidth("vol", 1L << 20);
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            int rounds = 0;
            try {
                while (rounds < 40) {
                    List<Integer> targets = absentAhead(present, rnd, REGIONS / 2);
                    if (targets.isEmpty()) {
                        break;
                    }
                    CyclicBarrier start = new CyclicBarrier(THREADS);
                    List<Future<?>> futures = new ArrayList<>();
                    for (int t = 0; t < THREADS; t++) {
                        int stripe = t;
                        long threadSeed = rnd.nextLong();
                        futures.add(pool.submit(() -> {
                            hammer(nodes, start, targets, stripe, seed, threadSeed, source, model);
                            return null;
                        }));
                    }
                    for (Future<?> f : futures) {
                        f.get();
                    }
                    rounds++;
                }
            } finally {
                pool.shutdownNow();
            }
            nodes.dest.sinks().setBandwidth("vol", 0L);
            SinkStatus end = nodes.awaitState("vol", SinkState.COMMITTED, Duration.ofSeconds(180));
            System.out.println("race: rounds=" + rounds + " allocated=" + allocated + " " + TwoNodes.numbers(end));
            try (NbdClient c = nodes.connectDest("vol")) {
                byte[] all = TwoNodes.readAll(c);
                assertThat(TwoNodes.firstDifference(all, model, 0, all.length))
                        .as("seed=%d: first byte of the committed volume that differs from the model", seed)
                        .isEqualTo(-1);
            }
            assertThat(rounds).isPositive();
            assertThat(TwoNodes.accountedBytes(end)).as("seed=%d: each region present exactly once", seed)
                    .isEqualTo(SIZE);
            assertThat(end.wireBytesReceived()).as("seed=%d: overwritten regions never crossed the wire", seed)
                    .isLessThanOrEqualTo(allocated - (long) OVERWRITTEN * REGION);
        }
    }

    /**
     * Up to PER_ROUND absent regions among the next 48 from the copier's position: the first
     * ones are typically in the batch it is fetching, the later ones are fetched on demand.
     */
    private static List<Integer> absentAhead(RegionBitmap present, Random rnd, int limit) {
        List<Integer> out = new ArrayList<>();
        long frontier = present.nextClear(0);
        if (frontier < 0 || frontier >= limit) {
            return out;
        }
        for (int attempt = 0; attempt < 20 && out.size() < PER_ROUND; attempt++) {
            long r = present.nextClear(frontier + rnd.nextInt(48));
            if (r >= 0 && r < limit && !out.contains((int) r)) {
                out.add((int) r);
            }
        }
        return out;
    }

    /** Partial writes to this thread's stripe and reads of the target regions, checked as it goes. */
    private static void hammer(TwoNodes nodes, CyclicBarrier start, List<Integer> targets, int stripe, long seed,
                               long threadSeed, byte[] source, byte[] model) throws Exception {
        Random rnd = new Random(threadSeed);
        try (NbdClient c = nodes.connectDest("vol")) {
            start.await();
            for (int i = 0; i < 12; i++) {
                int region = targets.get(rnd.nextInt(targets.size()));
                long stripeStart = (long) region * REGION + (long) stripe * STRIPE;
                if (rnd.nextBoolean()) {
                    int off = rnd.nextInt(STRIPE);
                    int len = 1 + rnd.nextInt(STRIPE - off);
                    byte[] data = new byte[len];
                    rnd.nextBytes(data);
                    TwoNodes.write(c, stripeStart + off, data, 0, len, rnd.nextInt(4) == 0);
                    System.arraycopy(data, 0, model, (int) stripeStart + off, len);
                } else {
                    long off = (long) region * REGION;
                    byte[] got = TwoNodes.read(c, off, REGION);
                    // Own stripe: the model; stripes 8..15 belong to nobody: the source.
                    int own = stripe * STRIPE;
                    assertThat(TwoNodes.firstDifference(got, java.util.Arrays.copyOfRange(model, (int) off,
                            (int) off + REGION), own, own + STRIPE))
                            .as("seed=%d thread=%d: own stripe of region %d", seed, stripe, region).isEqualTo(-1);
                    byte[] src = java.util.Arrays.copyOfRange(source, (int) off, (int) off + REGION);
                    assertThat(TwoNodes.firstDifference(got, src, THREADS * STRIPE, REGION))
                            .as("seed=%d thread=%d: untouched stripes of region %d", seed, stripe, region)
                            .isEqualTo(-1);
                }
            }
        }
    }
}
