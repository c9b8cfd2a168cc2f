package io.dlsm.blockd.volume;

import java.time.Instant;

/**
 * What is persisted about a volume beside its data file. {@code fenced} and
 * {@code migrationExport} survive a restart so that a migration source stays fenced and its
 * sink can reconnect to the same export.
 */
public record VolumeRecord(String name, long sizeBytes, boolean readOnly, Instant createdAt,
                           boolean fenced, String migrationExport) {
    public VolumeRecord withSize(long size) {
        return new VolumeRecord(name, size, readOnly, createdAt, fenced, migrationExport);
    }

    public VolumeRecord withReadOnly(boolean ro) {
        return new VolumeRecord(name, sizeBytes, ro, createdAt, fenced, migrationExport);
    }

    public VolumeRecord withFenced(boolean f) {
        return new VolumeRecord(name, sizeBytes, readOnly, createdAt, f, migrationExport);
    }

    public VolumeRecord withMigrationExport(String export) {
        return new VolumeRecord(name, sizeBytes, readOnly, createdAt, fenced, export);
    }
}
