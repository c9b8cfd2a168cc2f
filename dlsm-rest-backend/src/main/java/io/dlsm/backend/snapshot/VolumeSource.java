package io.dlsm.backend.snapshot;

/** What a new volume is filled from: {@code volume}'s current content, or its {@code snapshot}. */
public record VolumeSource(String volume, String snapshot) {
}
