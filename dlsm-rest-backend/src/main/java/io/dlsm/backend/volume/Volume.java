package io.dlsm.backend.volume;

import java.time.Instant;

/** A volume and the node that holds its authoritative copy. */
public record Volume(String name, long sizeBytes, String node, VolumeState state, String migrationId,
                     Instant createdAt) {

    public Volume withSize(long newSize) {
        return new Volume(name, newSize, node, state, migrationId, createdAt);
    }

    public Volume migrating(String id) {
        return new Volume(name, sizeBytes, node, VolumeState.MIGRATING, id, createdAt);
    }

    public Volume available(String onNode) {
        return new Volume(name, sizeBytes, onNode, VolumeState.AVAILABLE, null, createdAt);
    }
}
