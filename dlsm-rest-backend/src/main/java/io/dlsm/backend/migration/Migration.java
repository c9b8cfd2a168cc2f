package io.dlsm.backend.migration;

import java.time.Instant;

/**
 * One migration of a volume from {@code sourceNode} to {@code targetNode}. Immutable: every
 * change makes a new value, which is persisted before it replaces the old one in memory.
 *
 * @param pendingAction the step still owed (see {@link PendingAction}); NONE when only polling
 * @param switchStarted whether a switch was ever attempted: from then on the target may hold
 *                      the only current copy, which decides how a vanished sink is read
 * @param migrateBack   an abort was asked after the switch and the target could not copy its
 *                      writes back (dm-clone copies the sink): the migration goes on, and once
 *                      COMMITTED the backend migrates the volume back to {@code sourceNode}
 */
public record Migration(String id, String volume, String sourceNode, String targetNode, MigrationPhase phase,
                        SwitchMode switchMode, long bandwidthBytesPerSecond, PendingAction pendingAction,
                        boolean switchStarted, Instant createdAt, Instant updatedAt, String error,
                        MigrationProgress progress, boolean migrateBack) {

    /** Nothing left to do: a terminal phase with no pending step. */
    public boolean finished() {
        return phase.terminal() && pendingAction == PendingAction.NONE;
    }

    public Migration withPhase(MigrationPhase next, Instant now) {
        if (!phase.canMoveTo(next)) {
            throw new IllegalStateException("migration " + id + " cannot go from " + phase + " to " + next);
        }
        return new Migration(id, volume, sourceNode, targetNode, next, switchMode, bandwidthBytesPerSecond,
                pendingAction, switchStarted, createdAt, now, error, progress, migrateBack);
    }

    public Migration withPending(PendingAction action, Instant now) {
        boolean switching = switchStarted || action == PendingAction.SWITCH;
        return new Migration(id, volume, sourceNode, targetNode, phase, switchMode, bandwidthBytesPerSecond, action,
                switching, createdAt, now, error, progress, migrateBack);
    }

    public Migration withError(String message) {
        return new Migration(id, volume, sourceNode, targetNode, phase, switchMode, bandwidthBytesPerSecond,
                pendingAction, switchStarted, createdAt, updatedAt, message, progress, migrateBack);
    }

    public Migration withProgress(MigrationProgress p) {
        return new Migration(id, volume, sourceNode, targetNode, phase, switchMode, bandwidthBytesPerSecond,
                pendingAction, switchStarted, createdAt, updatedAt, error, p, migrateBack);
    }

    public Migration withBandwidth(long bytesPerSecond, Instant now) {
        return new Migration(id, volume, sourceNode, targetNode, phase, switchMode, bytesPerSecond, pendingAction,
                switchStarted, createdAt, now, error, progress, migrateBack);
    }

    /** Marks the migration to be migrated back once COMMITTED (see {@code migrateBack}). */
    public Migration withMigrateBack(Instant now) {
        return new Migration(id, volume, sourceNode, targetNode, phase, switchMode, bandwidthBytesPerSecond,
                pendingAction, switchStarted, createdAt, now, error, progress, true);
    }
}
