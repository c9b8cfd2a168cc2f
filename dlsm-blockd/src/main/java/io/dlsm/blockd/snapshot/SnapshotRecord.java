package io.dlsm.blockd.snapshot;

import java.time.Instant;

/** What is persisted beside a snapshot's data file; its size is the volume's at that moment. */
public record SnapshotRecord(String volume, String name, long sizeBytes, Instant createdAt) {
}
