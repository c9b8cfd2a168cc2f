package io.dlsm.blockd.sink;

import static io.dlsm.blockd.sink.TwoNodes.REGION;
import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.nbd.client.NbdClient;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.BitSet;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A whole migration in one JVM: seeded data and holes on the source, a throttled hydration
 * read through the sink while it runs, then the committed volume. Every byte read equals the
 * source; only allocated data crosses the wire; holes are skipped.
 */
@Timeout(180)
class SinkHydrationTest {
    private static final long SIZE = 32L << 20;

    @TempDir
    Path dir;

    @Test
    void hydratesBitExactAndSkipsHoles() throws Exception {
        long seed = TwoNodes.seed(getClass());
        Random rnd = new Random(seed);
        try (TwoNodes nodes = new TwoNodes(dir)) {
            TwoNodes.SourceImage img = nodes.createSourceVolume("vol", SIZE, rnd, 0.4);
            long allocated = nodes.source.volumes().get("vol").allocatedBytes();
            SinkStatus activated = nodes.migrate("vol", 4L << 20, null, true);
            assertThat(activated.state()).isIn(SinkState.ACTIVE, SinkState.HYDRATED, SinkState.COMMITTED);

            BitSet holesReadOnDemand = new BitSet();
            int reads = 0;
            try (NbdClient guest = nodes.connectDest("vol")) {
                // Random reads while the copier runs: on-demand fetches of absent regions.
                while (nodes.sink("vol").state() == SinkState.ACTIVE && reads < 80) {
                    int len = 1 + rnd.nextInt(REGION + REGION / 2);
                    long off = (long) (rnd.nextDouble() * (SIZE - len));
                    byte[] got = TwoNodes.read(guest, off, len);
                    for (long r = off / REGION; r <= (off + len - 1) / REGION; r++) {
                        if (!img.dataRegions().get((int) r)) {
                            holesReadOnDemand.set((int) r);
                        }
                    }
                    assertThat(TwoNodes.firstDifference(got, slice(img.bytes(), off, len), 0, len))
                            .as("seed=%d: first differing byte of the read at %d+%d during hydration", seed, off, len)
                            .isEqualTo(-1);
                    reads++;
                }
                nodes.dest.sinks().setBandwidth("vol", 0L);
                SinkStatus done = nodes.awaitState("vol", SinkState.COMMITTED, Duration.ofSeconds(180));
                System.out.println("hydration: allocated=" + allocated + " data=" + img.dataBytes() + " reads="
                        + reads + " holeRegionsReadOnDemand=" + holesReadOnDemand.cardinality() + " "
                        + TwoNodes.numbers(done));

                byte[] all = TwoNodes.readAll(guest);
                assertThat(TwoNodes.firstDifference(all, img.bytes(), 0, all.length))
                        .as("seed=%d: first differing byte after commit (connection from ACTIVE)", seed).isEqualTo(-1);

                assertThat(done.regionsPresent()).isEqualTo(done.regionsTotal());
                assertThat(done.bytesSkippedAsHoles()).as("seed=%d", seed).isPositive();
                assertThat(TwoNodes.accountedBytes(done)).as("seed=%d: each region present exactly once", seed)
                        .isEqualTo(SIZE);
                // Only the source's allocated data travels, also for hole regions a guest read
                // asked for before the copier skipped them: on-demand fetches ask BLOCK_STATUS.
                assertThat(done.wireBytesReceived()).as("seed=%d: wire bytes vs allocated %d (%d hole regions read"
                        + " on demand)", seed, allocated, holesReadOnDemand.cardinality())
                        .isLessThanOrEqualTo((long) (1.01 * allocated));

                // COMMITTED is reported before the commit's file moves end; wait for them.
                TwoNodes.await("the commit to finish", Duration.ofSeconds(30), () -> sinkFiles(nodes).isEmpty());
                // The guest goes on writing the committed volume through the same connection.
                byte[] tail = new byte[4096];
                rnd.nextBytes(tail);
                TwoNodes.write(guest, 4096, tail, 0, tail.length, true);
                guest.flush();
                System.arraycopy(tail, 0, img.bytes(), 4096, tail.length);
            }
            // A committed sink leaves no journal behind: a later sink of the same name (the
            // volume migrating back here one day) must not start from a stale bitmap.
            assertThat(sinkFiles(nodes)).as("files left in sinks/").isEmpty();
            assertThat(nodes.dest.volumes().exists("vol")).isTrue();
            try (NbdClient fresh = nodes.connectDest("vol")) {
                byte[] all = TwoNodes.readAll(fresh);
                assertThat(TwoNodes.firstDifference(all, img.bytes(), 0, all.length))
                        .as("seed=%d: first differing byte through a new connection after commit", seed).isEqualTo(-1);
            }
            // The committed volume survives a restart of the destination as an ordinary volume.
            nodes.restartDest();
            try (NbdClient fresh = nodes.connectDest("vol")) {
                byte[] all = TwoNodes.readAll(fresh);
                assertThat(TwoNodes.firstDifference(all, img.bytes(), 0, all.length))
                        .as("seed=%d: first differing byte after a restart", seed).isEqualTo(-1);
            }
        }
    }

    private static java.util.List<String> sinkFiles(TwoNodes nodes) {
        try (var left = java.nio.file.Files.list(nodes.destDir.resolve("sinks"))) {
            return left.map(p -> p.getFileName().toString()).toList();
        } catch (java.io.IOException e) {
            throw TwoNodes.unchecked(e);
        }
    }

    static byte[] slice(byte[] a, long off, int len) {
        byte[] out = new byte[len];
        System.arraycopy(a, (int) off, out, 0, len);
        return out;
    }

    @Test
    void readsWithoutWaitingOnlyWhatIsPresentOnceActive() throws Exception {
        Random rnd = new Random(TwoNodes.seed(getClass()));
        try (TwoNodes nodes = new TwoNodes(dir)) {
            TwoNodes.SourceImage img = nodes.createSourceVolume("vol", SIZE, rnd, 0);
            // 1 B/s: the copier takes one batch from the start of the volume, then waits for days.
            nodes.createSink("vol", nodes.openMigrationExport("vol"), 1, null, false);
            Sink sink = nodes.sinkDevice("vol");
            long far = 100L * REGION;
            ByteBuffer dst = ByteBuffer.allocateDirect(4096);
            assertThat(sink.readIfCached(far, dst)).as("PROXY: the answer is on the source").isFalse();

            nodes.source.volumes().fence("vol");
            nodes.dest.sinks().activate("vol", false);
            assertThat(sink.readIfCached(far, dst.clear())).as("absent region").isFalse();
            assertThat(dst.position()).isZero();
            try (NbdClient guest = nodes.connectDest("vol")) {
                TwoNodes.read(guest, far, 4096);
            }
            assertThat(sink.readIfCached(far + REGION - 2048, dst.clear()))
                    .as("a range running into the next, absent region").isFalse();
            boolean answered = sink.readIfCached(far + 512, dst.clear());
            // Just fetched, so cached; a kernel without RWF_NOWAIT for this filesystem declines.
            Assumptions.assumeTrue(answered, "preadv2(RWF_NOWAIT) is not available here");
            byte[] got = new byte[4096];
            dst.flip().get(got);
            assertThat(got).isEqualTo(slice(img.bytes(), far + 512, 4096));
        }
    }

    @Test
    void recordChangeCannotUndoATransitionMadeWhileItIsComputed() throws Exception {
        try (TwoNodes nodes = new TwoNodes(dir)) {
            nodes.createSourceVolume("vol", SIZE, new Random(1), 0);
            nodes.createSink("vol", nodes.openMigrationExport("vol"), 1, null, false);
            nodes.source.volumes().fence("vol");
            nodes.dest.sinks().activate("vol", false);
            Sink sink = nodes.sinkDevice("vol");
            Thread[] hydrating = new Thread[1];
            sink.updateRecord(r -> {
                // Hydration completing on another thread while the new bandwidth is worked out.
                hydrating[0] = new Thread(() -> {
                    try {
                        sink.transition(SinkState.HYDRATED);
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
                hydrating[0].start();
                return r.withBandwidth(123);
            });
            hydrating[0].join(10_000);
            assertThat(hydrating[0].isAlive()).isFalse();
            assertThat(sink.state()).isEqualTo(SinkState.HYDRATED);
            assertThat(sink.record().bandwidthBytesPerSecond()).isEqualTo(123);
        }
    }
}
