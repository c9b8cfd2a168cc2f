package io.dlsm.blockd.sink;

import java.time.Instant;

/**
 * A sink as the control API and metrics show it. {@code condition} says what keeps a
 * hydrating sink from progressing; {@code lastError} then says what to do.
 */
public record SinkStatus(
        String name,
        SinkState state,
        long sizeBytes,
        int regionSize,
        String source,
        long regionsTotal,
        long regionsPresent,
        long regionsWrittenHere,
        long regionsAtRisk,
        double progress,
        long bytesFetchedOnDemand,
        long bytesCopiedInBackground,
        long bytesSkippedAsHoles,
        long bytesOverwrittenNeverFetched,
        long bytesProxiedRead,
        long bytesProxiedWritten,
        long bytesMigratedBack,
        long wireBytesReceived,
        long bandwidthBytesPerSecond,
        double rateBytesPerSecond,
        Double etaSeconds,
        long sourceReconnects,
        Instant t0,
        Instant t1,
        Instant t2,
        String lastError,
        SinkCondition condition) {
}
