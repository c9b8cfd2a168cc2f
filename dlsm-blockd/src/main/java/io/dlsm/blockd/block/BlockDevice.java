package io.dlsm.blockd.block;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A byte-addressed store that can be exported over NBD: a local volume, or a migration sink.
 * Callers validate ranges before calling; implementations may still fail with
 * {@link BlockIoException} carrying the errno to report.
 */
public interface BlockDevice extends Closeable {
    long size();

    Capabilities capabilities();

    /** Fills {@code dst} from its position to its limit with the bytes at {@code offset}. */
    void read(long offset, ByteBuffer dst) throws IOException;

    /**
     * Like {@link #read}, but only if the read cannot wait for anything: every byte is already
     * in memory here (for a file, in the page cache) and no other node is involved. Returns
     * false when it would have to wait, with {@code dst}'s position unchanged (its bytes may
     * have been overwritten); the caller then calls {@link #read}, typically on another thread.
     * A server uses it to answer cached reads on the thread that received them instead of
     * handing them to a worker. The default never reads: a device that may wait on another
     * node (a remote device; a migration sink for what it has not fetched) must never claim a
     * read cannot wait.
     */
    default boolean readIfCached(long offset, ByteBuffer dst) throws IOException {
        return false;
    }

    /** Writes {@code src}'s remaining bytes at {@code offset}; durable before return if fua. */
    void write(long offset, ByteBuffer src, boolean fua) throws IOException;

    /** Makes every completed write durable. */
    void flush() throws IOException;

    /** The range's content becomes unspecified and its space may be released. */
    void trim(long offset, long length, boolean fua) throws IOException;

    /**
     * The range reads as zeroes afterwards. {@code mayPunch}: space may be released (no
     * NBD_CMD_FLAG_NO_HOLE). {@code fastOnly}: fail with ENOTSUP instead of writing zeroes
     * slowly (NBD_CMD_FLAG_FAST_ZERO).
     */
    void writeZeroes(long offset, long length, boolean mayPunch, boolean fastOnly, boolean fua)
            throws IOException;

    /**
     * Allocation state from {@code offset}: contiguous extents, the first starting at offset,
     * together covering at least one byte and at most up to {@code offset + length}.
     */
    List<Extent> blockStatus(long offset, long length) throws IOException;

    /**
     * True only if the whole range certainly holds no data and reads as zeroes, found out
     * cheaply and locally; false when it holds data or when finding out would cost a round
     * trip. A server asks before a large read, to answer a hole without sending zeroes.
     */
    default boolean isHole(long offset, long length) throws IOException {
        return false;
    }
}
