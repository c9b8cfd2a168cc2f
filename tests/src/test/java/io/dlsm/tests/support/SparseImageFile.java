package io.dlsm.tests.support;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A local raw image with seeded random data in some extents and holes everywhere else, the
 * input real peers copy into an export. Extents are 64 KiB-aligned so any filesystem's and
 * any peer's allocation granularity reports exactly this layout.
 */
public final class SparseImageFile {
    public record Extent(long offset, long length) {
    }

    private SparseImageFile() {
    }

    /**
     * Writes {@code size} bytes to {@code file}: {@code dataExtents} filled with random bytes
     * from {@code seed}, the rest left as holes. Returns the data extents, sorted.
     */
    public static List<Extent> create(Path file, long size, long seed, List<Extent> dataExtents) throws IOException {
        Random random = new Random(seed);
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(size);
            for (Extent e : dataExtents) {
                byte[] chunk = new byte[(int) e.length()];
                random.nextBytes(chunk);
                raf.seek(e.offset());
                raf.write(chunk);
            }
        }
        List<Extent> sorted = new ArrayList<>(dataExtents);
        sorted.sort((a, b) -> Long.compare(a.offset(), b.offset()));
        return sorted;
    }

    /** A 64 MiB layout: data at the start, the end, across the 32 MiB boundary, and small islands. */
    public static List<Extent> typicalLayout64MiB() {
        long mib = 1L << 20;
        long kib64 = 64 * 1024;
        return List.of(
                new Extent(0, mib),
                new Extent(3 * mib, kib64),
                new Extent(5 * mib + kib64, 3 * kib64),
                new Extent(32 * mib - 2 * kib64, 4 * kib64),
                new Extent(40 * mib, 2 * mib),
                new Extent(64 * mib - kib64, kib64));
    }
}
