package io.dlsm.blockd.posix;

import com.sun.jna.LastErrorException;
import io.dlsm.blockd.block.Extent;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * Copies a sparse file into a new file without allocating its holes: snapshots and clones of
 * a mostly empty volume must not cost the volume's full size. A reflink (FICLONE) is tried
 * first because it is instant and shares blocks on btrfs/XFS; where the filesystem cannot
 * (ext4), only the data extents SEEK_DATA/SEEK_HOLE report are read and written.
 * The caller keeps writers away from the source for the duration.
 */
public final class SparseCopy {
    private static final int CHUNK = 1 << 20;
    private static final int EXTENTS_PER_QUERY = 1024;

    /** How the copy was made, for logs and tests. */
    public enum Method { REFLINK, SPARSE }

    private SparseCopy() {
    }

    /**
     * Copies the first {@code size} bytes of {@code source} into {@code target}, which must not
     * exist yet; the target is {@code size} bytes long and fsynced when this returns.
     */
    public static Method copy(LibC libc, Path source, Path target, long size) throws IOException {
        try (FileChannel out = FileChannel.open(target, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            out.force(true);
        }
        Method method = tryReflink(libc, source, target) ? Method.REFLINK : Method.SPARSE;
        if (method == Method.SPARSE) {
            copyDataExtents(libc, source, target, size);
        }
        // A reflink copies the whole source; the target's length is ours to set either way.
        try (RandomAccessFile raf = new RandomAccessFile(target.toFile(), "rw")) {
            raf.setLength(size);
            raf.getFD().sync();
        }
        return method;
    }

    private static boolean tryReflink(LibC libc, Path source, Path target) throws IOException {
        int src = open(libc, source, LibC.O_RDONLY);
        try {
            int dst = open(libc, target, LibC.O_RDWR);
            try {
                libc.ioctl(dst, LibC.FICLONE, src);
                return true;
            } catch (LastErrorException e) {
                // EOPNOTSUPP/EINVAL/EXDEV: this filesystem cannot share extents; copy instead.
                return false;
            } finally {
                libc.close(dst);
            }
        } finally {
            libc.close(src);
        }
    }

    private static int open(LibC libc, Path path, int flags) throws IOException {
        try {
            return libc.open(path.toString(), flags | LibC.O_CLOEXEC);
        } catch (LastErrorException e) {
            throw new IOException("cannot open " + path + ": errno " + e.getErrorCode(), e);
        }
    }

    private static void copyDataExtents(LibC libc, Path source, Path target, long size) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
        try (SparseFile map = new SparseFile(libc, source);
             FileChannel in = FileChannel.open(source, StandardOpenOption.READ);
             FileChannel out = FileChannel.open(target, StandardOpenOption.WRITE)) {
            long end = Math.min(size, in.size());
            long pos = 0;
            while (pos < end) {
                List<Extent> extents = map.extents(pos, end, EXTENTS_PER_QUERY);
                for (Extent e : extents) {
                    if (!e.hole()) {
                        copyRange(in, out, e.offset(), e.length(), buf);
                    }
                    pos = e.offset() + e.length();
                }
            }
        }
    }

    private static void copyRange(FileChannel in, FileChannel out, long offset, long length, ByteBuffer buf)
            throws IOException {
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            buf.clear().limit((int) Math.min(buf.capacity(), end - pos));
            int n = in.read(buf, pos);
            if (n < 0) {
                return;
            }
            buf.flip();
            while (buf.hasRemaining()) {
                out.write(buf, pos + buf.position());
            }
            pos += n;
        }
    }
}
