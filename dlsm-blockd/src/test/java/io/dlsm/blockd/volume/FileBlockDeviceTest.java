package io.dlsm.blockd.volume;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.block.Extent;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sparse-file device on the real filesystem of the temp dir (holes need ext4/xfs/tmpfs). */
class FileBlockDeviceTest {
    private static final int KIB_64 = 64 * 1024;
    private static final long SIZE = 1 << 20;

    @TempDir
    Path dir;
    private FileBlockDevice device;

    @BeforeEach
    void openDevice() throws Exception {
        device = SparseDevices.create(dir.resolve("dev.img"), SIZE);
    }

    @AfterEach
    void closeDevice() throws Exception {
        device.close();
    }

    private static byte[] pattern(int length) {
        byte[] b = new byte[length];
        new Random(length).nextBytes(b);
        return b;
    }

    private byte[] read(long offset, int length) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(length);
        device.read(offset, b);
        return b.array();
    }

    /** Fills [0, 256K) with data and returns it. */
    private byte[] fillFirst256K() throws Exception {
        byte[] data = pattern(4 * KIB_64);
        device.write(0, ByteBuffer.wrap(data), false);
        return data;
    }

    @Test
    void newDeviceIsOneHoleAndAllocatesNothing() throws Exception {
        assertThat(device.size()).isEqualTo(SIZE);
        assertThat(device.allocatedBytes()).isZero();
        assertThat(device.blockStatus(0, SIZE)).containsExactly(Extent.hole(0, SIZE));
        assertThat(read(0, 4096)).containsOnly(0);
    }

    @Test
    void writeThenReadWithAndWithoutFua() throws Exception {
        byte[] data = pattern(10_000);
        device.write(12_345, ByteBuffer.wrap(data), false);
        device.write(500_000, ByteBuffer.wrap(data), true);
        assertThat(read(12_345, data.length)).isEqualTo(data);
        assertThat(read(500_000, data.length)).isEqualTo(data);
        assertThat(device.allocatedBytes()).isPositive();
    }

    @Test
    void readIfCachedAnswersFromThePageCacheOrLeavesTheBufferAlone() throws Exception {
        byte[] data = fillFirst256K();
        ByteBuffer dst = ByteBuffer.allocateDirect(KIB_64);
        dst.position(100).limit(100 + 4096);
        boolean answered = device.readIfCached(4096, dst);
        // Just written, so cached; a kernel without RWF_NOWAIT for this filesystem declines.
        Assumptions.assumeTrue(answered, "preadv2(RWF_NOWAIT) is not available here");
        assertThat(dst.position()).isEqualTo(100 + 4096);
        byte[] got = new byte[4096];
        dst.position(100);
        dst.get(got);
        assertThat(got).isEqualTo(java.util.Arrays.copyOfRange(data, 4096, 8192));

        device.writeBackAndEvict(0, 4 * KIB_64);
        dst.clear();
        if (device.readIfCached(KIB_64, dst)) {
            // Eviction is advice; if the pages stayed, the answer must still be right.
            assertThat(dst.position()).isEqualTo(KIB_64);
            dst.flip();
            byte[] all = new byte[KIB_64];
            dst.get(all);
            assertThat(all).isEqualTo(java.util.Arrays.copyOfRange(data, KIB_64, 2 * KIB_64));
        } else {
            assertThat(dst.position()).isZero();
        }

        ByteBuffer pastEnd = ByteBuffer.allocateDirect(8192);
        assertThat(device.readIfCached(SIZE - 4096, pastEnd)).isFalse();
        assertThat(pastEnd.position()).isZero();
        assertThat(device.readIfCached(0, ByteBuffer.allocate(4096))).as("heap buffers are not read").isFalse();
    }

    @Test
    void trimPunchesAHoleThatBlockStatusReports() throws Exception {
        fillFirst256K();
        long before = device.allocatedBytes();
        device.trim(KIB_64, KIB_64, false);
        assertThat(device.allocatedBytes()).isEqualTo(before - KIB_64);
        assertThat(device.blockStatus(0, 4 * KIB_64)).containsExactly(
                Extent.data(0, KIB_64), Extent.hole(KIB_64, KIB_64), Extent.data(2 * KIB_64, 2 * KIB_64));
    }

    @Test
    void writeZeroesThatMayPunchLeavesAHoleReadingZero() throws Exception {
        byte[] data = fillFirst256K();
        long before = device.allocatedBytes();
        device.writeZeroes(KIB_64, KIB_64, true, false, true);
        assertThat(read(KIB_64, KIB_64)).containsOnly(0);
        assertThat(read(0, KIB_64)).isEqualTo(java.util.Arrays.copyOf(data, KIB_64));
        assertThat(device.allocatedBytes()).isEqualTo(before - KIB_64);
        assertThat(device.blockStatus(KIB_64, KIB_64)).containsExactly(Extent.hole(KIB_64, KIB_64));
    }

    @Test
    void writeZeroesWithoutPunchingStillReadsZero() throws Exception {
        byte[] data = fillFirst256K();
        device.writeZeroes(1000, 5000, false, false, false);
        byte[] expected = data.clone();
        java.util.Arrays.fill(expected, 1000, 6000, (byte) 0);
        assertThat(read(0, 4 * KIB_64)).isEqualTo(expected);
    }

    @Test
    void unalignedTrimKeepsTheBytesAroundIt() throws Exception {
        byte[] data = fillFirst256K();
        device.trim(100, 4096, false);
        // Trim makes content unspecified only inside the range; bytes outside must survive.
        assertThat(read(0, 100)).isEqualTo(java.util.Arrays.copyOf(data, 100));
        assertThat(read(4196, 1000)).isEqualTo(java.util.Arrays.copyOfRange(data, 4196, 5196));
    }

    @Test
    void resizeGrowsWithAZeroTailThatTakesNoSpace() throws Exception {
        byte[] data = pattern(4096);
        device.write(SIZE - 4096, ByteBuffer.wrap(data), false);
        long allocated = device.allocatedBytes();
        device.resize(2 * SIZE);
        assertThat(device.size()).isEqualTo(2 * SIZE);
        assertThat(read(SIZE - 4096, 4096)).isEqualTo(data);
        assertThat(read(SIZE, 64 * 1024)).containsOnly(0);
        assertThat(device.allocatedBytes()).isEqualTo(allocated);
        assertThat(device.blockStatus(SIZE, SIZE)).containsExactly(Extent.hole(SIZE, SIZE));
    }

    @Test
    void blockStatusIsBoundedForFragmentedFiles() throws Exception {
        byte[] block = pattern(4096);
        for (long off = 0; off < SIZE; off += 8192) {
            device.write(off, ByteBuffer.wrap(block), false);
        }
        List<Extent> extents = device.blockStatus(0, SIZE);
        assertThat(extents).hasSizeLessThanOrEqualTo(FileBlockDevice.MAX_EXTENTS);
        assertThat(extents.get(0)).isEqualTo(Extent.data(0, 4096));
        assertThat(extents.get(1)).isEqualTo(Extent.hole(4096, 4096));
        for (int i = 1; i < extents.size(); i++) {
            assertThat(extents.get(i).offset()).isEqualTo(extents.get(i - 1).end());
        }
    }

    @Test
    void blockStatusStopsAtTheEndOfTheDevice() throws Exception {
        assertThat(device.blockStatus(SIZE - 4096, 1 << 20)).containsExactly(Extent.hole(SIZE - 4096, 4096));
    }

    @Test
    void writeBackAndEvictDropsTheRangeFromThePageCacheAndKeepsItsData() throws Exception {
        byte[] data = fillFirst256K();
        assertThat(SparseDevices.residentBytes(dir.resolve("dev.img"))).isGreaterThanOrEqualTo(4 * KIB_64);
        device.startWriteback(0, 4 * KIB_64);
        device.writeBackAndEvict(0, 4 * KIB_64);
        assertThat(SparseDevices.residentBytes(dir.resolve("dev.img"))).isZero();
        assertThat(read(0, 4 * KIB_64)).isEqualTo(data);
    }

    @Test
    void evictionNeverLosesAWriteMadeAfterTheWritebackStarted() throws Exception {
        fillFirst256K();
        device.startWriteback(0, 4 * KIB_64);
        byte[] rewrite = pattern(KIB_64 + 1);
        device.write(KIB_64, ByteBuffer.wrap(rewrite), false);
        device.writeBackAndEvict(0, 4 * KIB_64);
        assertThat(read(KIB_64, rewrite.length)).isEqualTo(rewrite);
    }

    @Test
    void onlyAnEagerDeviceQueuesBackgroundSyncsOnePerBurstAndNoneForFua() throws Exception {
        java.util.ArrayDeque<Runnable> queued = new java.util.ArrayDeque<>();
        try (FileBlockDevice dev = FileBlockDevice.open(io.dlsm.blockd.posix.LibC.INSTANCE,
                dir.resolve("dev.img"), queued::add)) {
            byte[] data = pattern(KIB_64);
            dev.write(0, ByteBuffer.wrap(data), false);
            assertThat(queued).as("not eager: the next FLUSH does it").isEmpty();
            dev.syncEagerly(true);
            assertThat(queued).as("what is dirty already is synced at once").hasSize(1);
            queued.poll().run();
            dev.write(KIB_64, ByteBuffer.wrap(data), false);
            dev.trim(3 * KIB_64, KIB_64, false);
            assertThat(queued).as("changes while a sync is queued share it").hasSize(1);
            queued.poll().run();
            dev.write(2 * KIB_64, ByteBuffer.wrap(data), true);
            assertThat(queued).as("FUA: fdatasync already ran").isEmpty();
            dev.syncEagerly(false);
            dev.write(2 * KIB_64, ByteBuffer.wrap(data), false);
            assertThat(queued).isEmpty();
            dev.flush();
            ByteBuffer back = ByteBuffer.allocate(KIB_64);
            dev.read(KIB_64, back);
            assertThat(back.array()).isEqualTo(data);
        }
    }

    @Test
    void aSyncQueuedBeforeCloseDoesNothingAfterIt() throws Exception {
        java.util.ArrayDeque<Runnable> queued = new java.util.ArrayDeque<>();
        FileBlockDevice dev = FileBlockDevice.open(io.dlsm.blockd.posix.LibC.INSTANCE,
                dir.resolve("dev.img"), queued::add);
        dev.syncEagerly(true);
        dev.close();
        // The channel is closed: the sync must neither fail later flushes nor touch it.
        queued.poll().run();
        ByteBuffer back = ByteBuffer.allocate(KIB_64);
        device.read(0, back);
        assertThat(back.array()).containsOnly(0);
    }
}
