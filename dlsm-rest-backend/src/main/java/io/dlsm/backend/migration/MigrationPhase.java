package io.dlsm.backend.migration;

import java.util.EnumSet;
import java.util.Set;

/**
 * The phases a client sees, following the target sink: PREPARED (proxy, t0..t1), ACTIVE or
 * DEGRADED (hydrating, t1..t2), HYDRATED, then COMMITTED (t2); or ABORTED on request, FAILED
 * when preparing could not be done. Phases may be skipped (a small volume hydrates between two
 * polls), never reversed, except DEGRADED and ACTIVE, which alternate with the source's health.
 */
public enum MigrationPhase {
    PREPARED,
    ACTIVE,
    DEGRADED,
    HYDRATED,
    COMMITTED,
    ABORTED,
    FAILED;

    private Set<MigrationPhase> next() {
        return switch (this) {
            case PREPARED -> EnumSet.of(ACTIVE, DEGRADED, HYDRATED, COMMITTED, ABORTED, FAILED);
            case ACTIVE -> EnumSet.of(DEGRADED, HYDRATED, COMMITTED, ABORTED, FAILED);
            case DEGRADED -> EnumSet.of(ACTIVE, HYDRATED, COMMITTED, ABORTED, FAILED);
            case HYDRATED -> EnumSet.of(COMMITTED, ABORTED, FAILED);
            case COMMITTED, ABORTED, FAILED -> EnumSet.noneOf(MigrationPhase.class);
        };
    }

    public boolean canMoveTo(MigrationPhase target) {
        return target == this || next().contains(target);
    }

    public boolean terminal() {
        return this == COMMITTED || this == ABORTED || this == FAILED;
    }

    /** After t1: the target holds the only writable copy, so losing the sink would lose data. */
    public boolean switched() {
        return this == ACTIVE || this == DEGRADED || this == HYDRATED || this == COMMITTED;
    }
}
