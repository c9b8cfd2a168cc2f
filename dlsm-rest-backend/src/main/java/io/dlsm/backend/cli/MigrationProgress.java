package io.dlsm.backend.cli;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/**
 * The hydration counters of a migration. Times are the backend's ISO-8601 strings, null until
 * reached: t0 the sink exists (proxy phase), t1 the sink is active, t2 every region is local.
 * {@code condition}: what keeps the target from progressing (OK, NO_SPACE, SOURCE_UNREACHABLE;
 * null from an older backend), {@code conditionMessage} the target's word on what to do.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record MigrationProgress(
        long regionsTotal,
        long regionsPresent,
        double ratio,
        long bytesFetchedOnDemand,
        long bytesCopiedInBackground,
        long bytesSkippedAsHoles,
        long bytesOverwrittenNeverFetched,
        long wireBytesReceived,
        long allocatedBytes,
        double rateBytesPerSecond,
        Double etaSeconds,
        String t0,
        String t1,
        String t2,
        String condition,
        String conditionMessage) {

    /** What a migration that reported no progress yet shows. */
    public static final MigrationProgress NONE =
            new MigrationProgress(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, null, null, null, null, null, null);

    /** Whether the target reported something in the way (NO_SPACE, SOURCE_UNREACHABLE). */
    public boolean stalled() {
        return condition != null && !condition.equals("OK");
    }
}
