package io.dlsm.blockd.posix;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;

/**
 * The few libc calls the JDK does not expose: SEEK_DATA/SEEK_HOLE for block status and
 * fallocate for punching holes and zeroing ranges without writing zeroes, FICLONE for
 * snapshots on filesystems that can share extents, sync_file_range and posix_fadvise so a bulk
 * copy can write behind itself instead of filling the page cache, preadv2 with RWF_NOWAIT to
 * read only what the page cache already holds.
 */
public interface LibC extends Library {
    LibC INSTANCE = Native.load("c", LibC.class);

    int O_RDONLY = 0;
    int O_RDWR = 2;
    int O_CLOEXEC = 0x80000;
    int SEEK_DATA = 3;
    int SEEK_HOLE = 4;
    int FALLOC_FL_KEEP_SIZE = 0x01;
    int FALLOC_FL_PUNCH_HOLE = 0x02;
    int ENXIO = 6;
    int EOPNOTSUPP = 95;
    int ENOSPC = 28;
    int EDQUOT = 122;
    int SYNC_FILE_RANGE_WAIT_BEFORE = 1;
    int SYNC_FILE_RANGE_WRITE = 2;
    int SYNC_FILE_RANGE_WAIT_AFTER = 4;
    int POSIX_FADV_DONTNEED = 4;
    int EAGAIN = 11;
    int EINVAL = 22;
    int ENOSYS = 38;
    /** preadv2 flag: fail with EAGAIN rather than wait for the disk (Linux 4.14). */
    int RWF_NOWAIT = 0x08;
    /** _IOW(0x94, 9, int): share the source's extents with the destination (reflink). */
    long FICLONE = 0x40049409L;

    int open(String path, int flags) throws LastErrorException;

    int close(int fd) throws LastErrorException;

    long lseek(int fd, long offset, int whence) throws LastErrorException;

    int fallocate(int fd, int mode, long offset, long length) throws LastErrorException;

    int ioctl(int fd, long request, int arg) throws LastErrorException;

    int sync_file_range(int fd, long offset, long nbytes, int flags) throws LastErrorException;

    /** {@code iov} points at {@code iovcnt} struct iovec {void *base; size_t len}. */
    long preadv2(int fd, Pointer iov, int iovcnt, long offset, int flags) throws LastErrorException;

    /** Returns the error number instead of setting errno. */
    int posix_fadvise(int fd, long offset, long len, int advice);
}
