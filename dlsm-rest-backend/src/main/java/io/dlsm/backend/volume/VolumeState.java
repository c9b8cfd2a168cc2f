package io.dlsm.backend.volume;

/** MIGRATING from the creation of a migration until it is COMMITTED, ABORTED or FAILED. */
public enum VolumeState {
    AVAILABLE,
    MIGRATING
}
