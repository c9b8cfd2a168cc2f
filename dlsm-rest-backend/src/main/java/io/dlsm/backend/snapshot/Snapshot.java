package io.dlsm.backend.snapshot;

import java.time.Instant;

/** A point-in-time, read-only copy of a volume, kept on {@code node} (the volume's node when taken). */
public record Snapshot(String name, String volume, long sizeBytes, String node, Instant createdAt) {
}
