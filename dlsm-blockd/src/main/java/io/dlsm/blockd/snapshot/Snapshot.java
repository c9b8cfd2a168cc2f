package io.dlsm.blockd.snapshot;

import java.time.Instant;

/** A snapshot as the control API shows it; {@code exportName} serves it read-only over NBD. */
public record Snapshot(String volume, String name, long sizeBytes, long allocatedBytes, String exportName,
                       Instant createdAt) {
}
