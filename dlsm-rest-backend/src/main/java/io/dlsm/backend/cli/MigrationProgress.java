package io.dlsm.backend.cli;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/**
 * The hydration counters of a migration. Times are the backend's ISO-8601 strings, null until
 * reached: t0 the sink exists (proxy phase), t1 the sink is active, t2 every region is local.
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
        String t2) {

    /** What a migration that reported no progress yet shows. */
    public static final MigrationProgress NONE =
            new MigrationProgress(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, null, null, null, null);
}
