package io.dlsm.blockd.api;

/** Request bodies of the volume resource. Boxed fields so that a missing one can be named. */
public final class VolumeRequests {
    private VolumeRequests() {
    }

    /** {@code source} absent: an empty volume; otherwise a copy of a volume or of one of its snapshots. */
    public record Create(String name, Long sizeBytes, Boolean readOnly, Source source) {
    }

    /** {@code snapshot} absent: the volume's current content (a clone). */
    public record Source(String volume, String snapshot) {
    }

    public record CreateSnapshot(String name) {
    }

    public record Resize(Long sizeBytes) {
    }

    public record Access(Boolean readOnly) {
    }
}
