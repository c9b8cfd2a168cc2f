package io.dlsm.blockd.volume;

import io.dlsm.blockd.block.BlockDevice;
import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Capabilities;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.block.Extent;
import io.dlsm.blockd.posix.LibC;
import io.dlsm.blockd.posix.SparseFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A volume stored as a sparse file. Data goes through the page cache; FUA and FLUSH are
 * fdatasync, so an acknowledged durable write survives a crash of the daemon or the host.
 *
 * <p>Written pages are handed to the disk at once, on the {@code writeback} executor, instead
 * of when the kernel's dirty thresholds (seconds or gigabytes later) say so. fdatasync writes
 * every dirty page of the file, whoever wrote it: without this a guest's FLUSH after a burst,
 * and the one QEMU sends while the VM is paused for a live migration, waited for all of it
 * (230 ms for a guest writing 30 MB/s on this lab's disk). Durability is unchanged.
 *
 * <p>That is not enough where the disk has a volatile cache: its cache flush costs about as
 * much as writing the data did (1.2 ms per MiB written since the last one, on this lab's
 * virtual disk), whether or not the pages were written back early. So while {@link
 * #syncEagerly} is on, the background step is an fdatasync: each one covers what was written
 * during the previous one, and a FLUSH finds almost nothing to do. The volume store turns it
 * on while a migration is prepared, when the flush QEMU sends with the VM paused is coming.
 */
public final class FileBlockDevice implements BlockDevice {
    private static final Logger log = LoggerFactory.getLogger(FileBlockDevice.class);
    /** Extents per block-status answer: enough for clients, bounded for hostile ranges. */
    static final int MAX_EXTENTS = 1024;
    private static final int ZERO_CHUNK = 1 << 20;

    private final Path path;
    private final FileChannel channel;
    private final SparseFile sparse;
    private volatile long size;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Executor writeback;
    private final AtomicBoolean writebackQueued = new AtomicBoolean();
    /** The span written since writeback was last started; guarded by itself; empty when lo &gt;= hi. */
    private final long[] unstarted = {Long.MAX_VALUE, 0};
    private volatile boolean writebackBroken;
    private volatile boolean syncEagerly;
    /**
     * A failed background fdatasync. Linux reports a writeback error to the first fdatasync
     * after it only, which may have been that one: every later flush must fail instead.
     */
    private volatile IOException backgroundSyncFailure;
    /** Held while the second descriptor is used off the request path, and by close(). */
    private final Object descriptorLock = new Object();

    private FileBlockDevice(Path path, FileChannel channel, SparseFile sparse, long size, Executor writeback) {
        this.path = path;
        this.channel = channel;
        this.sparse = sparse;
        this.size = size;
        this.writeback = writeback;
    }

    /**
     * {@code writeback} starts the disk on freshly written pages (see the class comment): one
     * background thread for the whole daemon; a read-only file may run it inline.
     */
    public static FileBlockDevice open(LibC libc, Path path, Executor writeback) throws IOException {
        FileChannel ch = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            return new FileBlockDevice(path, ch, new SparseFile(libc, path), ch.size(), writeback);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    @Override
    public long size() {
        return size;
    }

    /** Grows or shrinks the file; the new tail reads as zeroes and takes no space. */
    public void resize(long newSize) throws IOException {
        if (newSize < size) {
            channel.truncate(newSize);
        } else if (newSize > size) {
            try (var raf = new java.io.RandomAccessFile(path.toFile(), "rw")) {
                raf.setLength(newSize);
            }
        }
        channel.force(true);
        size = newSize;
    }

    @Override
    public Capabilities capabilities() {
        return new Capabilities(false, true, true, true, true, true, true, true);
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        long pos = offset;
        while (dst.hasRemaining()) {
            int n = channel.read(dst, pos);
            if (n < 0) {
                // Past the file's end (a concurrent shrink): unwritten space reads as zeroes.
                while (dst.hasRemaining()) {
                    dst.put((byte) 0);
                }
                return;
            }
            pos += n;
        }
    }

    /** preadv2(RWF_NOWAIT): answered from the page cache or not at all. */
    @Override
    public boolean readIfCached(long offset, ByteBuffer dst) throws IOException {
        return !closed.get() && offset + dst.remaining() <= size && sparse.readCached(offset, dst);
    }

    @Override
    public void write(long offset, ByteBuffer src, boolean fua) throws IOException {
        long pos = offset;
        while (src.hasRemaining()) {
            pos += channel.write(src, pos);
        }
        if (fua) {
            flush();
        } else {
            written(offset, pos);
        }
    }

    /**
     * Queues [from, to) for writeback. Spans written while a start is queued merge into one
     * sync_file_range: it only visits the dirty pages inside, so a wide span costs no more.
     */
    private void written(long from, long to) {
        if (from >= to || (writebackBroken && !syncEagerly)) {
            return;
        }
        synchronized (unstarted) {
            unstarted[0] = Math.min(unstarted[0], from);
            unstarted[1] = Math.max(unstarted[1], to);
        }
        queueWriteback();
    }

    private void queueWriteback() {
        if (writebackQueued.compareAndSet(false, true)) {
            try {
                writeback.execute(this::startQueuedWriteback);
            } catch (RejectedExecutionException e) {
                // The daemon is stopping: the kernel writes the pages back on its own.
                writebackQueued.set(false);
            }
        }
    }

    private void startQueuedWriteback() {
        // Cleared first: a write landing from here on queues another start.
        writebackQueued.set(false);
        long from;
        long to;
        synchronized (unstarted) {
            from = unstarted[0];
            to = unstarted[1];
            unstarted[0] = Long.MAX_VALUE;
            unstarted[1] = 0;
        }
        boolean sync = syncEagerly;
        if (from >= to && !sync) {
            return;
        }
        // close() waits for this lock, so the descriptor cannot be closed (and its number
        // reused by another file) under the call.
        synchronized (descriptorLock) {
            if (closed.get()) {
                return;
            }
            if (sync) {
                try {
                    channel.force(false);
                } catch (IOException e) {
                    backgroundSyncFailure = e;
                    log.error("{}: background fdatasync failed, every FLUSH fails from now on: {}", path, e.toString());
                }
                return;
            }
            if (writebackBroken) {
                return;
            }
            try {
                sparse.startWriteback(from, to - from);
            } catch (IOException e) {
                // Only the early start is lost; FLUSH still makes the data durable.
                writebackBroken = true;
                log.warn(
                        "{}: no early writeback any more, FLUSH will write all dirty data: {}", path, e.toString());
            }
        }
    }

    @Override
    public void flush() throws IOException {
        IOException earlier = backgroundSyncFailure;
        if (earlier != null) {
            throw new BlockIoException(Errno.EIO, "a background fdatasync of " + path + " failed ("
                    + earlier.getMessage() + "): data written before it may not be on disk; check the disk"
                    + " and restart blockd");
        }
        channel.force(false);
    }

    /**
     * On: written data is made durable in the background as it arrives (see the class
     * comment), starting with whatever is dirty now. Off: writeback is only started early.
     */
    public void syncEagerly(boolean on) {
        syncEagerly = on;
        if (on) {
            queueWriteback();
        }
    }

    @Override
    public void trim(long offset, long length, boolean fua) throws IOException {
        // Trim is advisory: where holes cannot be punched the data simply stays.
        sparse.punchHole(offset, length);
        if (fua) {
            flush();
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayPunch, boolean fastOnly, boolean fua)
            throws IOException {
        if (mayPunch && sparse.punchHole(offset, length) == SparseFile.Result.DONE) {
            if (fua) {
                flush();
            }
            return;
        }
        // NO_HOLE promises allocated space. fallocate(ZERO_RANGE) reserves it but leaves
        // "unwritten" extents that SEEK_HOLE reports as holes, so block status would then
        // contradict the promise: write real zeroes instead, which is slow, hence ENOTSUP for
        // FAST_ZERO as the protocol asks.
        if (fastOnly) {
            throw new BlockIoException(Errno.ENOTSUP,
                    "zeroing without a hole means writing zeroes on " + path + ", which is not fast");
        }
        writeZeroBuffers(offset, length);
        if (fua) {
            flush();
        }
    }

    private void writeZeroBuffers(long offset, long length) throws IOException {
        ByteBuffer zeroes = ByteBuffer.allocate((int) Math.min(ZERO_CHUNK, length));
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            zeroes.clear().limit((int) Math.min(zeroes.capacity(), end - pos));
            write(pos, zeroes, false);
            pos += zeroes.limit();
        }
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) throws IOException {
        long end = Math.min(size, offset + length);
        return sparse.extents(offset, end, MAX_EXTENTS);
    }

    /**
     * One lseek(SEEK_DATA), which stops at the first data. Not blockStatus: its SEEK_HOLE can
     * walk the page cache to the end of freshly written data, per call.
     */
    @Override
    public boolean isHole(long offset, long length) throws IOException {
        return sparse.noDataIn(offset, Math.min(size, offset + length));
    }

    /** See {@link SparseFile#startWriteback}: no durability implied. */
    public void startWriteback(long offset, long length) throws IOException {
        sparse.startWriteback(offset, length);
    }

    /** See {@link SparseFile#writeBackAndEvict}: never discards data. */
    public void writeBackAndEvict(long offset, long length) throws IOException {
        sparse.writeBackAndEvict(offset, length);
    }

    /** Bytes that hold data (not holes), from the filesystem's allocation map. */
    public long allocatedBytes() throws IOException {
        return sparse.dataBytes(size);
    }

    /** For views: -1 when the allocation map cannot be read, rather than failing a listing. */
    public long allocatedBytesOrUnknown() {
        try {
            return allocatedBytes();
        } catch (IOException e) {
            return -1;
        }
    }

    /** Idempotent: a committed sink's file is owned by the sink first and the volume store after. */
    @Override
    public void close() throws IOException {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        synchronized (descriptorLock) {
            try {
                channel.close();
            } finally {
                sparse.close();
            }
        }
    }
}
