package io.dlsm.backend.migration;

/**
 * The step the orchestrator still owes a migration. Persisted before the step starts, so a
 * restarted backend knows what to re-drive; every step is idempotent on the blockd side.
 */
public enum PendingAction {
    NONE,
    /** Open the source's migration export, create the PROXY sink on the target. */
    PREPARE,
    /** Fence the source, activate the sink. */
    SWITCH,
    /** Abort the sink (copying destination writes back), close the export, unfence: ends ABORTED. */
    ABORT,
    /** Same as ABORT, after a failed prepare: ends FAILED. */
    ROLLBACK,
    /** COMMITTED: close the migration export and delete the source copy. */
    DELETE_SOURCE,
    /**
     * COMMITTED with {@link Migration#migrateBack()}: start a migration of the volume back to
     * this migration's source node and switch it (nobody writes on the target any more).
     */
    MIGRATE_BACK
}
