package io.dlsm.blockd.volume;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.Blockd;
import io.dlsm.blockd.block.Extent;
import io.dlsm.blockd.config.BlockdConfig;
import io.dlsm.blockd.config.HostPort;
import io.dlsm.blockd.nbd.client.NbdClient;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * BLOCK_STATUS over NBD while other connections TRIM and WRITE the same 1 MiB, on a real
 * sparse file (real lseek(SEEK_DATA/SEEK_HOLE) and fallocate(PUNCH_HOLE)). A hole punched
 * between the two seeks of one extent once answered EIO ("bad extent 0+0"). Under a race
 * no allocation answer is "the" right one, but every answer must be an answer: no error,
 * and extents that start at the requested offset, follow each other without gap or overlap,
 * and cover the requested range. The count of calls is fixed, not the duration.
 */
class BlockStatusTrimRaceTest {
    private static final long SIZE = 4L << 20;
    private static final long REGION = 1L << 20;
    private static final int CALLS = 30_000;

    @TempDir
    Path dir;

    @Test
    void blockStatusNeverFailsAndAlwaysCoversTheRangeWhileTheRegionIsTrimmedAndWritten() throws Exception {
        try (Blockd b = new Blockd(new BlockdConfig(dir, HostPort.parse("127.0.0.1:0"), HostPort.parse("127.0.0.1:0"),
                8, 256, Optional.empty(), Duration.ofSeconds(60)))) {
            b.start();
            b.volumes().create("race", SIZE, false);
            int port = b.nbdAddress().getPort();
            AtomicBoolean done = new AtomicBoolean();
            ConcurrentLinkedQueue<Throwable> mutatorFailures = new ConcurrentLinkedQueue<>();
            AtomicLong mutations = new AtomicLong();
            List<Thread> mutators = new ArrayList<>();
            for (int t = 0; t < 3; t++) {
                long seed = t;
                Thread th = new Thread(() -> mutate(port, seed, done, mutations, mutatorFailures), "mutator-" + t);
                th.start();
                mutators.add(th);
            }
            long errors = 0;
            String firstError = null;
            long extentsSeen = 0;
            Random rnd = new Random(42);
            try (NbdClient c = NbdClient.connect("127.0.0.1", port, "race")) {
                for (int i = 0; i < CALLS; i++) {
                    // Ranges starting inside the churned region as well as at its edges.
                    long off = REGION + 4096L * rnd.nextInt(128);
                    long len = 4096L * (1 + rnd.nextInt(256));
                    List<Extent> got;
                    try {
                        got = c.blockStatus(off, len);
                    } catch (java.io.IOException e) {
                        errors++;
                        if (firstError == null) {
                            firstError = e.toString();
                        }
                        continue;
                    }
                    extentsSeen += got.size();
                    assertCovers(got, off, off + len);
                }
            } finally {
                done.set(true);
                for (Thread th : mutators) {
                    th.join(60_000);
                }
            }
            System.out.println("BLOCK_STATUS/TRIM race: " + CALLS + " calls, " + errors + " errors, " + extentsSeen
                    + " extents, " + mutations.get() + " trims and writes meanwhile");
            assertThat(mutatorFailures).isEmpty();
            assertThat(errors).as("BLOCK_STATUS errors (first: %s)", firstError).isZero();
            assertThat(mutations.get()).as("the region was churned while the calls ran").isGreaterThan(0);
        }
    }

    /** Contiguous from {@code off}; complete to {@code end}, as fewer than the extent limit are needed. */
    private static void assertCovers(List<Extent> got, long off, long end) {
        assertThat(got).as("extents of %d..%d", off, end).isNotEmpty();
        long pos = off;
        for (Extent e : got) {
            assertThat(e.offset()).as("extent after %d in %s", pos, got).isEqualTo(pos);
            assertThat(e.length()).isPositive();
            pos = e.end();
        }
        // The server may stop short only at its extent limit (1024), and 4 KiB granules of
        // at most 1 MiB are at most 256 extents; the client clips nothing past end.
        assertThat(pos).as("coverage of %d..%d by %s", off, end, got).isGreaterThanOrEqualTo(end);
    }

    private static void mutate(int port, long seed, AtomicBoolean done, AtomicLong count,
                               ConcurrentLinkedQueue<Throwable> failures) {
        Random rnd = new Random(seed);
        ByteBuffer data = ByteBuffer.allocate(64 * 1024);
        rnd.nextBytes(data.array());
        try (NbdClient c = NbdClient.connect("127.0.0.1", port, "race")) {
            while (!done.get()) {
                long off = REGION + 4096L * rnd.nextInt(256);
                int len = 4096 * (1 + rnd.nextInt(16));
                if (off + len > 2 * REGION) {
                    len = (int) (2 * REGION - off);
                }
                if (rnd.nextBoolean()) {
                    c.trim(off, len);
                } else {
                    c.write(off, data.clear().limit(len), false);
                }
                count.incrementAndGet();
            }
        } catch (Throwable e) {
            failures.add(e);
        }
    }
}
