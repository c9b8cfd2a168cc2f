package io.dlsm.blockd.sink;

import static io.dlsm.blockd.sink.TwoNodes.REGION;
import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.nbd.client.NbdClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A seeded random guest workload against a sink while a throttled copier hydrates it: reads,
 * writes of every shape, flushes, trims and write-zeroes, from several threads each on its
 * own quarter of the disk. Every read and the committed volume must match an in-memory model
 * (trimmed bytes are "don't care" until written again).
 */
@Timeout(180)
class SinkOracleTest {
    private static final long SIZE = 16L << 20;
    private static final int THREADS = 4;
    private static final int OPS_PER_THREAD = 250;

    @TempDir
    Path dir;

    @Test
    void randomWorkloadDuringHydrationMatchesTheModel() throws Exception {
        long seed = TwoNodes.seed(getClass());
        Random rnd = new Random(seed);
        try (TwoNodes nodes = new TwoNodes(dir)) {
            TwoNodes.SourceImage img = nodes.createSourceVolume("vol", SIZE, rnd, 0.25);
            byte[] model = img.copy();
            boolean[] dontCare = new boolean[model.length];
            nodes.migrate("vol", 3L << 20, null, true);

            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            try {
                List<Future<int[]>> done = new ArrayList<>();
                for (int t = 0; t < THREADS; t++) {
                    long threadSeed = rnd.nextLong();
                    long from = t * (SIZE / THREADS);
                    done.add(pool.submit(() -> guest(nodes, seed, threadSeed, from, SIZE / THREADS, model, dontCare)));
                }
                int[] ops = new int[6];
                for (Future<int[]> f : done) {
                    int[] n = f.get();
                    for (int i = 0; i < ops.length; i++) {
                        ops[i] += n[i];
                    }
                }
                SinkStatus during = nodes.sink("vol");
                System.out.printf("oracle: reads=%d writes=%d flushes=%d trims=%d zeroes=%d present at end of mix=%d/%d%n",
                        ops[0], ops[1], ops[2], ops[3], ops[4], during.regionsPresent(), during.regionsTotal());
            } finally {
                pool.shutdownNow();
            }
            nodes.dest.sinks().setBandwidth("vol", 0L);
            SinkStatus end = nodes.awaitState("vol", SinkState.COMMITTED, Duration.ofSeconds(180));
            System.out.println("oracle: " + TwoNodes.numbers(end));
            assertThat(TwoNodes.accountedBytes(end)).as("seed=%d: each region present exactly once", seed)
                    .isEqualTo(SIZE);
            try (NbdClient c = nodes.connectDest("vol")) {
                byte[] all = TwoNodes.readAll(c);
                assertThat(firstMismatch(all, model, dontCare, 0, 0, all.length))
                        .as("seed=%d: first byte of the committed volume that differs from the model", seed)
                        .isEqualTo(-1);
            }
        }
    }

    /** One guest thread on [from, from+span); returns op counts. */
    private static int[] guest(TwoNodes nodes, long seed, long threadSeed, long from, long span, byte[] model,
                               boolean[] dontCare) throws Exception {
        Random rnd = new Random(threadSeed);
        int[] counts = new int[6];
        try (NbdClient c = nodes.connectDest("vol")) {
            for (int i = 0; i < OPS_PER_THREAD; i++) {
                int op = rnd.nextInt(100);
                long[] range = range(rnd, from, span);
                long off = range[0];
                int len = (int) range[1];
                if (op < 35) {
                    byte[] got = TwoNodes.read(c, off, len);
                    long bad = firstMismatch(got, model, dontCare, off, 0, len);
                    assertThat(bad).as("seed=%d thread seed=%d op %d: first bad byte of read %d+%d", seed, threadSeed,
                            i, off, len).isEqualTo(-1);
                    counts[0]++;
                } else if (op < 75) {
                    byte[] data = new byte[len];
                    rnd.nextBytes(data);
                    TwoNodes.write(c, off, data, 0, len, rnd.nextInt(4) == 0);
                    System.arraycopy(data, 0, model, (int) off, len);
                    java.util.Arrays.fill(dontCare, (int) off, (int) off + len, false);
                    counts[1]++;
                } else if (op < 82) {
                    c.flush();
                    counts[2]++;
                } else if (op < 90) {
                    c.trim(off, len);
                    java.util.Arrays.fill(dontCare, (int) off, (int) off + len, true);
                    counts[3]++;
                } else {
                    c.writeZeroes(off, len, rnd.nextBoolean(), false);
                    java.util.Arrays.fill(model, (int) off, (int) off + len, (byte) 0);
                    java.util.Arrays.fill(dontCare, (int) off, (int) off + len, false);
                    counts[4]++;
                }
            }
        }
        return counts;
    }

    /** Offsets and lengths of every shape: small unaligned, spanning region boundaries, whole regions. */
    private static long[] range(Random rnd, long from, long span) {
        long off;
        int len;
        switch (rnd.nextInt(4)) {
            case 0 -> {
                len = 1 + rnd.nextInt(9000);
                off = from + (long) (rnd.nextDouble() * (span - len));
            }
            case 1 -> {
                long boundary = from + (1 + rnd.nextInt((int) (span / REGION) - 3)) * (long) REGION;
                off = boundary - 1 - rnd.nextInt(REGION / 2);
                len = (int) (boundary - off) + 1 + rnd.nextInt(2 * REGION);
            }
            case 2 -> {
                int regions = 1 + rnd.nextInt(3);
                off = from + rnd.nextInt((int) (span / REGION) - regions + 1) * (long) REGION;
                len = regions * REGION;
            }
            default -> {
                len = 512 * (1 + rnd.nextInt(256));
                off = from + 512L * rnd.nextInt((int) ((span - len) / 512));
            }
        }
        return new long[] {off, len};
    }

    /** First index i in [from, to) of got with got[i] != model[base+i] where the model cares, or -1. */
    static long firstMismatch(byte[] got, byte[] model, boolean[] dontCare, long base, int from, int to) {
        for (int i = from; i < to; i++) {
            int m = (int) base + i;
            if (!dontCare[m] && got[i] != model[m]) {
                return base + i;
            }
        }
        return -1;
    }
}
