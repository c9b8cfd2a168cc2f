package io.dlsm.blockd.sink;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.api.Json;
import io.dlsm.blockd.block.BlockDevice;
import io.dlsm.blockd.block.Capabilities;
import io.dlsm.blockd.block.Extent;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A guest FLUSH (or FUA write) on a sink is a bitmap commit; it must make the local data
 * durable even when no present/written bit changed since the last commit (a write into a
 * region that is already local changes no bit).
 */
class SinkJournalFlushTest {
    @TempDir
    Path dir;

    @Test
    void everyCommitFlushesTheDataEvenWithoutBitmapChanges() throws Exception {
        SinkJournal journal = new SinkJournal(dir, "vol", Json.newMapper());
        RegionBitmap present = new RegionBitmap(8);
        RegionBitmap written = new RegionBitmap(8);
        CountingDevice local = new CountingDevice();
        present.set(3);
        journal.changed();
        journal.commit(local, present, written, 65536);
        assertThat(local.flushes).isEqualTo(1);
        // The guest overwrites region 3 (already present): no bit changes, then FLUSH.
        journal.commit(local, present, written, 65536);
        assertThat(local.flushes).as("a FLUSH after a write to a present region must reach the disk").isEqualTo(2);
    }

    private static final class CountingDevice implements BlockDevice {
        int flushes;

        @Override
        public long size() {
            return 8 * 65536;
        }

        @Override
        public Capabilities capabilities() {
            return new Capabilities(false, true, true, true, true, false, true, true);
        }

        @Override
        public void read(long offset, ByteBuffer dst) {
            dst.position(dst.limit());
        }

        @Override
        public void write(long offset, ByteBuffer src, boolean fua) {
            src.position(src.limit());
        }

        @Override
        public void flush() {
            flushes++;
        }

        @Override
        public void trim(long offset, long length, boolean fua) {
        }

        @Override
        public void writeZeroes(long offset, long length, boolean mayPunch, boolean fastOnly, boolean fua) {
        }

        @Override
        public List<Extent> blockStatus(long offset, long length) {
            return List.of(Extent.data(offset, length));
        }

        @Override
        public void close() {
        }
    }
}
