package io.dlsm.blockd.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dlsm.blockd.api.Json;
import io.dlsm.blockd.nbd.BufferPool;
import io.dlsm.blockd.nbd.client.NbdClient;
import io.dlsm.blockd.nbd.server.ExportRegistry;
import io.dlsm.blockd.nbd.server.NbdServer;
import io.dlsm.blockd.posix.LibC;
import io.dlsm.blockd.volume.Volume;
import io.dlsm.blockd.volume.VolumeException;
import io.dlsm.blockd.volume.AutoFenceListener;
import io.dlsm.blockd.volume.VolumeStore;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(60)
class SnapshotStoreTest {
    private static final long MIB = 1 << 20;
    private static final int BLOCK = 4096;

    @TempDir
    Path dataDir;
    private ExportRegistry exports;
    private VolumeStore volumes;
    private SnapshotStore snapshots;

    @BeforeEach
    void open() throws Exception {
        exports = new ExportRegistry();
        volumes = new VolumeStore(dataDir, LibC.INSTANCE, exports, Json.newMapper(), Clock.systemUTC(), Runnable::run,
                AutoFenceListener.NONE);
        volumes.open();
        snapshots = new SnapshotStore(dataDir, LibC.INSTANCE, exports, volumes, Json.newMapper(), Clock.systemUTC());
        snapshots.open();
    }

    @AfterEach
    void close() throws Exception {
        snapshots.close();
        volumes.close();
    }

    private void reopen() throws Exception {
        close();
        open();
    }

    /** Writes {@code value} over [offset, offset+length) of a volume's device. */
    private void fill(String volume, long offset, int length, int value) throws Exception {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) value);
        volumes.device(volume).write(offset, ByteBuffer.wrap(b), false);
    }

    private static byte[] contents(Path file) throws Exception {
        return Files.readAllBytes(file);
    }

    private Path snapshotFile(String volume, String snap) {
        return dataDir.resolve("snapshots").resolve(volume).resolve(snap + ".img");
    }

    @Test
    void snapshotIsASparseCopyWithTheSameContentAndAllocation() throws Exception {
        volumes.create("v", 16 * MIB, false);
        fill("v", 0, BLOCK, 1);
        fill("v", 5 * MIB, 3 * BLOCK, 2);
        fill("v", 16 * MIB - BLOCK, BLOCK, 3);

        Snapshot s = snapshots.create("v", "s1");

        assertThat(s.sizeBytes()).isEqualTo(16 * MIB);
        assertThat(s.exportName()).isEqualTo("v@snap-s1");
        long allocated = volumes.get("v").allocatedBytes();
        assertThat(allocated).isBetween(5L * BLOCK, 1L * MIB);
        assertThat(s.allocatedBytes()).isEqualTo(allocated);
        assertThat(contents(snapshotFile("v", "s1"))).isEqualTo(contents(volumes.dataFileOf("v")));
    }

    @Test
    void snapshotKeepsItsPointInTimeAndIsExportedReadOnly() throws Exception {
        volumes.create("v", MIB, false);
        fill("v", 0, BLOCK, 7);
        snapshots.create("v", "before");
        fill("v", 0, BLOCK, 8);

        byte[] snap = contents(snapshotFile("v", "before"));
        assertThat(snap[0]).isEqualTo((byte) 7);
        assertThat(contents(volumes.dataFileOf("v"))[0]).isEqualTo((byte) 8);
        assertThat(exports.lookup("v@snap-before")).hasValueSatisfying(e -> assertThat(e.readOnly()).isTrue());
    }

    @Test
    void volumesMadeFromASnapshotOrAVolumeAreIndependentGrownCopies() throws Exception {
        volumes.create("v", MIB, false);
        fill("v", 4 * BLOCK, BLOCK, 1);
        snapshots.create("v", "s");
        fill("v", 4 * BLOCK, BLOCK, 2);

        Volume fromSnap = snapshots.restore("v", "s", "from-snap", 2 * MIB);
        Volume clone = volumes.createCopy("clone", MIB, "v");

        assertThat(fromSnap.sizeBytes()).isEqualTo(2 * MIB);
        assertThat(Files.size(volumes.dataFileOf("from-snap"))).isEqualTo(2 * MIB);
        assertThat(contents(volumes.dataFileOf("from-snap"))[4 * BLOCK]).isEqualTo((byte) 1);
        assertThat(contents(volumes.dataFileOf("clone"))[4 * BLOCK]).isEqualTo((byte) 2);
        assertThat(clone.allocatedBytes()).isEqualTo(volumes.get("v").allocatedBytes());
        fill("clone", 4 * BLOCK, BLOCK, 3);
        assertThat(contents(volumes.dataFileOf("v"))[4 * BLOCK]).isEqualTo((byte) 2);
        assertThat(exports.lookup("clone")).isPresent();
    }

    @Test
    void copiesSmallerThanTheSourceAreRefused() throws Exception {
        volumes.create("v", MIB, false);
        snapshots.create("v", "s");
        assertThatThrownBy(() -> snapshots.restore("v", "s", "small", MIB / 2))
                .isInstanceOfSatisfying(VolumeException.class,
                        e -> assertThat(e.kind()).isEqualTo(VolumeException.Kind.INVALID));
        assertThatThrownBy(() -> volumes.createCopy("small", MIB / 2, "v"))
                .isInstanceOfSatisfying(VolumeException.class,
                        e -> assertThat(e.kind()).isEqualTo(VolumeException.Kind.INVALID));
        assertThat(volumes.exists("small")).isFalse();
        assertThat(Files.exists(volumes.dataFileOf("small"))).isFalse();
    }

    @Test
    void aVolumeWithSnapshotsCannotBeDeletedUntilTheyAre() throws Exception {
        volumes.create("v", MIB, false);
        snapshots.create("v", "a");
        snapshots.create("v", "b");

        assertThatThrownBy(() -> volumes.delete("v"))
                .isInstanceOfSatisfying(VolumeException.class, e -> {
                    assertThat(e.kind()).isEqualTo(VolumeException.Kind.CONFLICT);
                    assertThat(e.getMessage()).contains("a, b");
                });
        snapshots.delete("v", "a");
        snapshots.delete("v", "b");
        volumes.delete("v");
        assertThat(exports.lookup("v@snap-a")).isEmpty();
        assertThat(Files.exists(snapshotFile("v", "a"))).isFalse();
    }

    @Test
    void unknownNamesAndDuplicatesAreExplained() throws Exception {
        volumes.create("v", MIB, false);
        snapshots.create("v", "s");
        assertThatThrownBy(() -> snapshots.create("v", "s")).isInstanceOfSatisfying(VolumeException.class,
                e -> assertThat(e.kind()).isEqualTo(VolumeException.Kind.ALREADY_EXISTS));
        assertThatThrownBy(() -> snapshots.create("ghost", "s")).isInstanceOfSatisfying(VolumeException.class,
                e -> assertThat(e.kind()).isEqualTo(VolumeException.Kind.NOT_FOUND));
        assertThatThrownBy(() -> snapshots.delete("v", "ghost")).isInstanceOfSatisfying(VolumeException.class,
                e -> assertThat(e.details()).containsEntry("snapshot", "ghost"));
        assertThatThrownBy(() -> snapshots.create("v", "../x")).isInstanceOfSatisfying(VolumeException.class,
                e -> assertThat(e.kind()).isEqualTo(VolumeException.Kind.INVALID));
    }

    @Test
    void snapshotsSurviveARestartAndIncompleteOnesAreRemoved() throws Exception {
        volumes.create("v", MIB, false);
        fill("v", 0, BLOCK, 9);
        snapshots.create("v", "kept");
        Files.write(snapshotFile("v", "torn"), new byte[BLOCK]);

        reopen();

        assertThat(snapshots.list("v")).extracting(Snapshot::name).containsExactly("kept");
        assertThat(Files.exists(snapshotFile("v", "torn"))).isFalse();
        assertThat(exports.lookup("v@snap-kept")).isPresent();
        assertThatThrownBy(() -> volumes.delete("v")).isInstanceOf(VolumeException.class);
    }

    /**
     * Writers hammer the volume over NBD while snapshots are taken. Every 4 KiB block of each
     * snapshot must hold one whole write (no torn blocks), not older than the last write
     * acknowledged before the snapshot started, not newer than the last one sent before it ended.
     */
    @Test
    void writesRacingASnapshotAreEntirelyInOrEntirelyOut() throws Exception {
        int blocks = 64;
        volumes.create("v", (long) blocks * BLOCK, false);
        ExecutorService workers = Executors.newFixedThreadPool(4);
        ExecutorService writers = Executors.newFixedThreadPool(2);
        NbdServer nbd = new NbdServer(exports, workers, new BufferPool(MIB), 8);
        AtomicIntegerArray acked = new AtomicIntegerArray(blocks);
        AtomicIntegerArray sent = new AtomicIntegerArray(blocks);
        AtomicBoolean stop = new AtomicBoolean();
        try {
            InetSocketAddress address = nbd.start(new InetSocketAddress("127.0.0.1", 0));
            for (int w = 0; w < 2; w++) {
                int first = w;
                writers.submit(() -> {
                    try (NbdClient c = NbdClient.connect("127.0.0.1", address.getPort(), "v")) {
                        int gen = 0;
                        while (!stop.get()) {
                            gen++;
                            for (int b = first; b < blocks; b += 2) {
                                sent.set(b, gen);
                                c.write((long) b * BLOCK, ByteBuffer.wrap(block(b, gen)), false);
                                acked.set(b, gen);
                            }
                        }
                    }
                    return null;
                });
            }
            // Until every block has been written once: a snapshot taken before that tests less.
            long started = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
            for (int b = 0; b < blocks; b++) {
                while (acked.get(b) == 0) {
                    assertThat(System.nanoTime()).as("block %d written within 60 s", b).isLessThan(started);
                    Thread.sleep(1);
                }
            }
            for (int round = 0; round < 5; round++) {
                int[] floor = new int[blocks];
                for (int b = 0; b < blocks; b++) {
                    floor[b] = acked.get(b);
                }
                snapshots.create("v", "s" + round);
                int[] ceiling = new int[blocks];
                for (int b = 0; b < blocks; b++) {
                    ceiling[b] = sent.get(b);
                }
                byte[] snap = contents(snapshotFile("v", "s" + round));
                for (int b = 0; b < blocks; b++) {
                    byte[] got = Arrays.copyOfRange(snap, b * BLOCK, (b + 1) * BLOCK);
                    int gen = generationOf(got, b);
                    assertThat(gen).as("snapshot s%d block %d", round, b).isBetween(floor[b], ceiling[b]);
                }
            }
        } finally {
            stop.set(true);
            writers.shutdown();
            assertThat(writers.awaitTermination(20, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
            nbd.close();
            workers.shutdownNow();
        }
    }

    /** A block tagged with its index and generation in every 8 bytes, so a torn block is visible. */
    private static byte[] block(int index, int gen) {
        ByteBuffer b = ByteBuffer.allocate(BLOCK);
        while (b.hasRemaining()) {
            b.putInt(index).putInt(gen);
        }
        return b.array();
    }

    /** The generation a block holds, 0 if never written; fails on a mixed (torn) block. */
    private static int generationOf(byte[] got, int index) {
        if (Arrays.equals(got, new byte[BLOCK])) {
            return 0;
        }
        int gen = ByteBuffer.wrap(got).getInt(4);
        assertThat(got).as("block %d is one whole write of generation %d", index, gen).isEqualTo(block(index, gen));
        return gen;
    }
}
