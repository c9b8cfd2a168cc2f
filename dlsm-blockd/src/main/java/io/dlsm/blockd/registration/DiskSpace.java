package io.dlsm.blockd.registration;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The capacity and free space of the file system holding a node's data directory: what the
 * backend reports per Cinder pool. Free is what this (unprivileged) process may still use
 * ({@link FileStore#getUsableSpace()}, statvfs' f_bavail), not the root-reserved blocks.
 */
public record DiskSpace(long capacityBytes, long freeBytes) {

    /** How registration learns the space, so tests can hand in their own numbers. */
    @FunctionalInterface
    public interface Probe {
        /** Empty when the file system cannot say; the backend then shows the pool's space unknown. */
        Optional<DiskSpace> probe();
    }

    /** A probe of {@code dataDir}'s file system, asked afresh at every call. */
    public static Probe of(Path dataDir) {
        return () -> {
            try {
                FileStore store = Files.getFileStore(dataDir);
                long total = store.getTotalSpace();
                long free = Math.min(store.getUsableSpace(), total);
                return total > 0 ? Optional.of(new DiskSpace(total, free)) : Optional.empty();
            } catch (IOException | RuntimeException e) {
                return Optional.empty();
            }
        };
    }
}
