package io.dlsm.blockd.sink;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dlsm.blockd.block.BlockDevice;
import io.dlsm.blockd.state.AtomicFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32C;

/**
 * Persists a sink: its record ({@code NAME.json}) and its present/written bitmaps
 * ({@code NAME.bitmap}). The rule of docs/design.md ("FLUSH and FUA") lives here: the local data is made
 * durable before any bitmap that describes it is written, so a region is never recorded as
 * present unless its bytes are on disk.
 */
final class SinkJournal {
    private static final long MAGIC = 0x444c534d424d5031L; // "DLSMBMP1"
    private static final int HEADER = 8 + 4 + 8;

    private final Path recordFile;
    private final Path bitmapFile;
    private final ObjectMapper json;
    /** Bits set so far (present or written); compared with what the last commit covered. */
    private final AtomicLong changes = new AtomicLong();
    private long committedChanges;
    private long commits;

    SinkJournal(Path dir, String name, ObjectMapper json) {
        this.recordFile = dir.resolve(name + ".json");
        this.bitmapFile = dir.resolve(name + ".bitmap");
        this.json = json;
    }

    void saveRecord(SinkRecord record) throws IOException {
        AtomicFile.write(recordFile, json.writeValueAsBytes(record));
    }

    SinkRecord loadRecord() throws IOException {
        return json.readValue(recordFile.toFile(), SinkRecord.class);
    }

    /** Called after a bit was set (never before: see {@link #commit}). */
    void changed() {
        changes.incrementAndGet();
    }

    /**
     * Makes every bit set so far durable, data first. Bits are set only after the data they
     * describe was written locally, so flushing after taking the snapshot covers them all.
     */
    synchronized void commit(BlockDevice local, RegionBitmap present, RegionBitmap written, int regionSize)
            throws IOException {
        long target = changes.get();
        if (target == committedChanges && Files.exists(bitmapFile)) {
            // No bit changed, but the guest may have written regions already local: a FLUSH
            // or FUA still owes it durable data.
            local.flush();
            return;
        }
        ByteBuffer b = ByteBuffer.allocate(HEADER + present.byteSize() + written.byteSize() + 4);
        b.putLong(MAGIC).putInt(regionSize).putLong(present.regions());
        present.writeTo(b);
        written.writeTo(b);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        local.flush();
        AtomicFile.write(bitmapFile, b.array());
        committedChanges = target;
        commits++;
    }

    synchronized long commits() {
        return commits;
    }

    /** Loads committed bitmaps; a missing file means nothing was committed yet. */
    void loadBitmaps(RegionBitmap present, RegionBitmap written, int regionSize) throws IOException {
        if (!Files.exists(bitmapFile)) {
            return;
        }
        byte[] all = Files.readAllBytes(bitmapFile);
        ByteBuffer b = ByteBuffer.wrap(all);
        int expected = HEADER + present.byteSize() + written.byteSize() + 4;
        if (all.length != expected || b.getLong() != MAGIC || b.getInt() != regionSize
                || b.getLong() != present.regions()) {
            throw new IOException(bitmapFile + " does not match this sink (size, region size or format)");
        }
        CRC32C crc = new CRC32C();
        crc.update(all, 0, all.length - 4);
        if ((int) crc.getValue() != ByteBuffer.wrap(all, all.length - 4, 4).getInt()) {
            throw new IOException(bitmapFile + " is corrupt (checksum mismatch); refusing to guess which regions are local");
        }
        present.readFrom(b);
        written.readFrom(b);
    }

    void delete() throws IOException {
        AtomicFile.delete(bitmapFile);
        AtomicFile.delete(recordFile);
    }
}
