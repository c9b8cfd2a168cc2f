package io.dlsm.blockd.volume;

import io.dlsm.blockd.posix.LibC;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;

/** File-backed devices for tests: a sparse file of the given size, all hole, opened as a device. */
public final class SparseDevices {
    private SparseDevices() {
    }

    public static FileBlockDevice create(Path file, long size) throws IOException {
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(size);
        }
        return FileBlockDevice.open(LibC.INSTANCE, file, Runnable::run);
    }

    /** Page-cache residency of a file in bytes, from util-linux's fincore (mincore(2)). */
    public static long residentBytes(Path file) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("fincore", "--bytes", "--noheadings", "--output", "RES", file.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).trim();
        if (p.waitFor() != 0) {
            throw new IOException("fincore " + file + " failed: " + out);
        }
        return Long.parseLong(out);
    }
}
