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
        return FileBlockDevice.open(LibC.INSTANCE, file);
    }
}
