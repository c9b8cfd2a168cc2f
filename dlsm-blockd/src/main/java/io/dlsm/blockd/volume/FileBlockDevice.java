package io.dlsm.blockd.volume;

import io.dlsm.blockd.block.BlockDevice;
import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Capabilities;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.block.Extent;
import io.dlsm.blockd.posix.FullFileSystem;
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
 * <p>A FLUSH pays for everything written since the previous one: fdatasync writes the file's
 * dirty pages and then flushes the disk's cache, which costs about as much again (1.2 ms per
 * MiB written since the last flush on this lab's virtual disk, even for pages already written
 * back). A guest that writes without flushing thus leaves QEMU's stop-time FLUSH, sent while
 * the VM is paused for a live migration, 100+ MiB: 230 ms of downtime at 30 MB/s. While
 * {@link #syncEagerly} is on, the {@code writeback} executor fdatasyncs after writes, each
 * sync covering what arrived during the previous one, so that FLUSH finds almost nothing. The
 * volume store turns it on while a migration is prepared. It is not on all the time: starting
 * writeback early for every write halved buffered sequential writes (nbd-server bench, 2111 to
 * 1026 MB/s) and still left a third of that FLUSH. Durability is unchanged either way.
 */
public final class FileBlockDevice implements BlockDevice {
    private static final Logger log = LoggerFactory.getLogger(FileBlockDevice.class);
    /** Extents per block-status answer: enough for clients, bounded for hostile ranges. */
    static final int MAX_EXTENTS = 1024;
    private static final int ZERO_CHUNK = 1 << 20;
    private static final long SLOW_SYNC_MS = 50;

    private final Path path;
    private final FileChannel channel;
    private final SparseFile sparse;
    private volatile long size;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Executor writeback;
    private final AtomicBoolean syncQueued = new AtomicBoolean();
    private volatile boolean syncEagerly;
    /** A write failed for want of space and none succeeded since: the warning is logged once. */
    private volatile boolean full;
    /**
     * A failed background fdatasync. Linux reports a writeback error to the first fdatasync
     * after it only, which may have been that one: every later flush must fail instead.
     */
    private volatile IOException backgroundSyncFailure;
    /** Held by a background sync and by close(). */
    private final Object descriptorLock = new Object();

    private FileBlockDevice(Path path, FileChannel channel, SparseFile sparse, long size, Executor writeback) {
        this.path = path;
        this.channel = channel;
        this.sparse = sparse;
        this.size = size;
        this.writeback = writeback;
    }

    /**
     * {@code writeback} runs the background syncs of {@link #syncEagerly}: one thread for the
     * whole daemon; a file that is never synced eagerly may run it inline.
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
        try {
            while (src.hasRemaining()) {
                pos += channel.write(src, pos);
            }
        } catch (IOException e) {
            throw fullOrAsIs(e);
        }
        notFull();
        changed(fua);
    }

    /**
     * A full file system (or quota) as ENOSPC with what to do, so that a client pauses and
     * retries rather than failing the guest's I/O; any other failure unchanged.
     */
    private IOException fullOrAsIs(IOException e) {
        IOException out = FullFileSystem.classify(e, path + ": " + (FullFileSystem.errnoOf(e).orElse(Errno.ENOSPC)
                == Errno.EDQUOT ? "disk quota exceeded" : "no space left on its file system") + "; free space in "
                + path.getParent() + " on this node (or raise the quota), then the retried write succeeds");
        if (out != e && !full) {
            // Once per episode: every write fails alike until space is freed.
            full = true;
            log.warn("{}", out.getMessage());
        }
        return out;
    }

    private void notFull() {
        if (full) {
            full = false;
            log.info("{}: writes succeed again, the file system has room", path);
        }
    }

    /** After any change of the data: FUA makes it durable now, eager sync soon. */
    private void changed(boolean fua) throws IOException {
        if (fua) {
            flush();
        } else if (syncEagerly) {
            queueSync();
        }
    }

    private void queueSync() {
        if (syncQueued.compareAndSet(false, true)) {
            try {
                writeback.execute(this::syncInBackground);
            } catch (RejectedExecutionException e) {
                // The daemon is stopping: the next FLUSH writes it.
                syncQueued.set(false);
            }
        }
    }

    private void syncInBackground() {
        // Cleared first: a write landing from here on queues another sync.
        syncQueued.set(false);
        // close() waits for this lock, so the channel is not closed under the call.
        synchronized (descriptorLock) {
            if (closed.get() || !syncEagerly) {
                return;
            }
            long start = System.nanoTime();
            try {
                channel.force(false);
                long ms = (System.nanoTime() - start) / 1_000_000;
                if (ms >= SLOW_SYNC_MS) {
                    // The flush QEMU sends with the VM paused will wait as long for whatever
                    // reached the disk since: worth knowing when a downtime is longer than it should be.
                    log.info("{}: background fdatasync took {} ms", path, ms);
                }
            } catch (IOException e) {
                backgroundSyncFailure = e;
                log.error("{}: background fdatasync failed, every FLUSH fails from now on: {}", path, e.toString());
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
        try {
            channel.force(false);
        } catch (IOException e) {
            throw fullOrAsIs(e);
        }
    }

    /**
     * On: written data is made durable in the background as it arrives (see the class
     * comment), starting with whatever is dirty now. Off: at the next FLUSH or FUA, as ever.
     */
    public void syncEagerly(boolean on) {
        syncEagerly = on;
        if (on) {
            queueSync();
        }
    }

    @Override
    public void trim(long offset, long length, boolean fua) throws IOException {
        // Trim is advisory: where holes cannot be punched the data simply stays.
        punch(offset, length);
        changed(fua);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayPunch, boolean fastOnly, boolean fua)
            throws IOException {
        if (mayPunch && punch(offset, length) == SparseFile.Result.DONE) {
            changed(fua);
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
        changed(fua);
    }

    private SparseFile.Result punch(long offset, long length) throws IOException {
        try {
            return sparse.punchHole(offset, length);
        } catch (IOException e) {
            throw fullOrAsIs(e);
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
