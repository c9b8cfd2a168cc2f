package io.dlsm.blockd.posix;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Extent;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A second descriptor on a volume file for the operations that work on the inode rather
 * than on bytes: allocation queries, hole punching and page-cache write-behind. A separate
 * descriptor is safe because SEEK_DATA/SEEK_HOLE, fallocate, sync_file_range and
 * posix_fadvise act on the file, not on the descriptor's position.
 */
public final class SparseFile implements Closeable {
    private final LibC libc;
    private final Path path;
    private final int fd;
    /** One struct iovec per thread for {@link #readCached}. */
    private static final ThreadLocal<Memory> IOVEC = ThreadLocal.withInitial(() -> new Memory(2L * Native.POINTER_SIZE));
    /** Set once preadv2(RWF_NOWAIT) turned out not to be available here. */
    private volatile boolean noWaitUnsupported;

    public SparseFile(LibC libc, Path path) throws IOException {
        this.libc = libc;
        this.path = path;
        try {
            this.fd = libc.open(path.toString(), LibC.O_RDWR | LibC.O_CLOEXEC);
        } catch (LastErrorException e) {
            throw new IOException("cannot open " + path + ": errno " + e.getErrorCode(), e);
        }
    }

    /** Outcome of a fallocate request the filesystem may not support. */
    public enum Result { DONE, UNSUPPORTED }

    public Result punchHole(long offset, long length) throws IOException {
        return fallocate(LibC.FALLOC_FL_PUNCH_HOLE | LibC.FALLOC_FL_KEEP_SIZE, offset, length);
    }

    private Result fallocate(int mode, long offset, long length) throws IOException {
        try {
            libc.fallocate(fd, mode, offset, length);
            return Result.DONE;
        } catch (LastErrorException e) {
            if (e.getErrorCode() == LibC.EOPNOTSUPP) {
                return Result.UNSUPPORTED;
            }
            if (FullFileSystem.errnoOf(e).isPresent()) {
                throw new BlockIoException(FullFileSystem.errnoOf(e).get(), "fallocate(" + mode + ") on " + path
                        + ": " + (e.getErrorCode() == LibC.ENOSPC ? "no space left on its file system"
                        : "disk quota exceeded"), e);
            }
            throw new IOException("fallocate(" + mode + ") on " + path + " failed: errno "
                    + e.getErrorCode(), e);
        }
    }

    /**
     * Data and hole extents of [offset, end), end &lt;= file size, at most {@code maxExtents}
     * of them; the last one may stop short of {@code end}. Contiguous from {@code offset},
     * each of positive length, even while others punch holes and write: SEEK_DATA then
     * SEEK_HOLE are two looks at a file that may change between them, so SEEK_HOLE can land
     * on the very offset SEEK_DATA just called data (a hole punched in between). Such a
     * position is looked at again; should it keep changing, it is reported as data up to the
     * next page, which is always a true answer (data only says "may hold data", and zeroes
     * are data too).
     */
    public List<Extent> extents(long offset, long end, int maxExtents) throws IOException {
        List<Extent> out = new ArrayList<>();
        long pos = offset;
        int raced = 0;
        while (pos < end && out.size() < maxExtents) {
            long data = seek(pos, LibC.SEEK_DATA);
            if (data < 0 || data >= end) {
                out.add(Extent.hole(pos, end - pos));
                break;
            }
            if (data > pos) {
                out.add(Extent.hole(pos, data - pos));
                pos = data;
                continue;
            }
            long hole = seek(pos, LibC.SEEK_HOLE);
            long stop = hole < 0 ? end : Math.min(hole, end);
            if (stop <= pos) {
                if (++raced < MAX_RACED_LOOKS) {
                    continue;
                }
                stop = Math.min(end, (pos / PAGE + 1) * PAGE);
            }
            raced = 0;
            out.add(Extent.data(pos, stop - pos));
            pos = stop;
        }
        return out;
    }

    /** Granule of the conservative answer for a position whose allocation keeps changing. */
    private static final long PAGE = 4096;
    /** Looks at one position before it is given up on as changing too fast to tell. */
    private static final int MAX_RACED_LOOKS = 16;

    /** Whether [offset, end) holds no data at all. */
    public boolean noDataIn(long offset, long end) throws IOException {
        long data = seek(offset, LibC.SEEK_DATA);
        return data < 0 || data >= end;
    }

    /** Total length of the data extents of [0, end). */
    public long dataBytes(long end) throws IOException {
        long total = 0;
        long pos = 0;
        while (pos < end) {
            long data = seek(pos, LibC.SEEK_DATA);
            if (data < 0 || data >= end) {
                break;
            }
            long hole = seek(data, LibC.SEEK_HOLE);
            long stop = hole < 0 ? end : Math.min(hole, end);
            total += stop - data;
            pos = stop;
        }
        return total;
    }

    /**
     * Starts writeback of the range's dirty pages without waiting. Says nothing about
     * durability: it neither flushes the device cache nor the file's metadata.
     */
    public void startWriteback(long offset, long length) throws IOException {
        syncFileRange(offset, length, LibC.SYNC_FILE_RANGE_WRITE);
    }

    /**
     * Waits until the range's pages are written back, then drops them from the page cache.
     * Pages dirtied again meanwhile stay cached (DONTNEED never discards dirty data).
     */
    public void writeBackAndEvict(long offset, long length) throws IOException {
        syncFileRange(offset, length, LibC.SYNC_FILE_RANGE_WAIT_BEFORE | LibC.SYNC_FILE_RANGE_WRITE
                | LibC.SYNC_FILE_RANGE_WAIT_AFTER);
        int err = libc.posix_fadvise(fd, offset, length, LibC.POSIX_FADV_DONTNEED);
        if (err != 0) {
            throw new IOException("posix_fadvise(DONTNEED) on " + path + " failed: errno " + err);
        }
    }

    private void syncFileRange(long offset, long length, int flags) throws IOException {
        try {
            libc.sync_file_range(fd, offset, length, flags);
        } catch (LastErrorException e) {
            throw new IOException("sync_file_range(" + flags + ") on " + path + " failed: errno "
                    + e.getErrorCode(), e);
        }
    }

    /**
     * Fills {@code dst} (a direct buffer) from its position to its limit with the bytes at
     * {@code offset}, but only if the page cache holds all of them: preadv2(RWF_NOWAIT), which
     * never waits for the disk. Returns false, position unchanged, if any byte would have to
     * be read from the disk, if the range reaches past the end of the file, or if the kernel or
     * filesystem cannot read without waiting; the caller then reads the ordinary way.
     */
    public boolean readCached(long offset, ByteBuffer dst) throws IOException {
        int want = dst.remaining();
        if (noWaitUnsupported || !dst.isDirect() || want == 0) {
            return false;
        }
        Memory iov = IOVEC.get();
        iov.setPointer(0, Native.getDirectBufferPointer(dst).share(dst.position()));
        if (Native.SIZE_T_SIZE == 8) {
            iov.setLong(Native.POINTER_SIZE, want);
        } else {
            iov.setInt(Native.POINTER_SIZE, want);
        }
        long n;
        try {
            n = libc.preadv2(fd, iov, 1, offset, LibC.RWF_NOWAIT);
        } catch (LastErrorException e) {
            if (e.getErrorCode() == LibC.EAGAIN) {
                return false;
            }
            if (e.getErrorCode() == LibC.EOPNOTSUPP || e.getErrorCode() == LibC.EINVAL
                    || e.getErrorCode() == LibC.ENOSYS) {
                noWaitUnsupported = true;
                return false;
            }
            throw new IOException("preadv2 on " + path + " failed: errno " + e.getErrorCode(), e);
        } catch (UnsatisfiedLinkError e) {
            noWaitUnsupported = true;
            return false;
        }
        if (n != want) {
            // Partly cached, or the end of the file: the ordinary read sorts it out.
            return false;
        }
        dst.position(dst.position() + want);
        return true;
    }

    /** -1 when there is no data at or after pos (ENXIO). */
    private long seek(long pos, int whence) throws IOException {
        try {
            return libc.lseek(fd, pos, whence);
        } catch (LastErrorException e) {
            if (e.getErrorCode() == LibC.ENXIO) {
                return -1;
            }
            throw new IOException("lseek on " + path + " failed: errno " + e.getErrorCode(), e);
        }
    }

    @Override
    public void close() throws IOException {
        try {
            libc.close(fd);
        } catch (LastErrorException e) {
            throw new IOException("close " + path + ": errno " + e.getErrorCode(), e);
        }
    }
}
