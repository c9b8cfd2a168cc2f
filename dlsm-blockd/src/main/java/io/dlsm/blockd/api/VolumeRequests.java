package io.dlsm.blockd.api;

/** Request bodies of the volume resource. Boxed fields so that a missing one can be named. */
public final class VolumeRequests {
    private VolumeRequests() {
    }

    public record Create(String name, Long sizeBytes, Boolean readOnly) {
    }

    public record Resize(Long sizeBytes) {
    }

    public record Access(Boolean readOnly) {
    }
}
