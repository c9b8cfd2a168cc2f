package io.dlsm.backend.migration;

/** Body of {@code POST /v1/migrations}. */
public record MigrationRequest(String volume, String targetNode, Long bandwidthBytesPerSecond,
                               SwitchMode switchMode) {
}
