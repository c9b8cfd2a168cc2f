package io.dlsm.blockd.volume;

import java.time.Instant;

/** What is persisted about a volume beside its data file. */
public record VolumeRecord(String name, long sizeBytes, boolean readOnly, Instant createdAt) {
    public VolumeRecord withSize(long size) {
        return new VolumeRecord(name, size, readOnly, createdAt);
    }

    public VolumeRecord withReadOnly(boolean ro) {
        return new VolumeRecord(name, sizeBytes, ro, createdAt);
    }
}
