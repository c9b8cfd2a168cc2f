package io.dlsm.blockd.sink;

import java.util.EnumSet;
import java.util.Set;

/**
 * Phases of a sink, named after the design's timeline: {@code PROXY} between t0 and t1,
 * {@code ACTIVE} from t1 (source fenced) until every region is local ({@code HYDRATED}), then
 * {@code COMMITTED} at t2. {@code DEGRADED} is ACTIVE with the source unreachable past the
 * retry deadline; {@code ABORTING} copies the destination's own writes back to the source.
 */
public enum SinkState {
    PROXY,
    ACTIVE,
    DEGRADED,
    HYDRATED,
    COMMITTED,
    ABORTING,
    ABORTED;

    private Set<SinkState> next() {
        return switch (this) {
            case PROXY -> EnumSet.of(ACTIVE, ABORTED);
            case ACTIVE -> EnumSet.of(HYDRATED, DEGRADED, ABORTING);
            case DEGRADED -> EnumSet.of(ACTIVE, HYDRATED, ABORTING);
            case HYDRATED -> EnumSet.of(COMMITTED, ABORTING);
            case ABORTING -> EnumSet.of(ABORTED);
            case COMMITTED, ABORTED -> EnumSet.noneOf(SinkState.class);
        };
    }

    public boolean canMoveTo(SinkState target) {
        return next().contains(target);
    }

    /** Whether reads of absent regions are served from a fenced source (t1..t2). */
    public boolean hydrating() {
        return this == ACTIVE || this == DEGRADED;
    }

    public boolean terminal() {
        return this == COMMITTED || this == ABORTED;
    }
}
