package io.dlsm.backend.migration;

import io.dlsm.backend.node.BlockdSink;
import java.time.Instant;

/**
 * Hydration progress as the target sink reports it, plus the source's allocated bytes.
 * {@code condition} is the sink's (OK, SOURCE_UNREACHABLE, NO_SPACE; null before it reported
 * one) and {@code conditionMessage} the sink's word on it when it is not OK: which node, what
 * to do.
 */
public record MigrationProgress(long regionsTotal, long regionsPresent, double ratio, long bytesFetchedOnDemand,
                                long bytesCopiedInBackground, long bytesSkippedAsHoles,
                                long bytesOverwrittenNeverFetched, long wireBytesReceived, long allocatedBytes,
                                double rateBytesPerSecond, Double etaSeconds, Instant t0, Instant t1, Instant t2,
                                String condition, String conditionMessage) {

    public static MigrationProgress none(long allocatedBytes) {
        return new MigrationProgress(0, 0, 0, 0, 0, 0, 0, 0, allocatedBytes, 0, null, null, null, null, null, null);
    }

    /** {@code node}: the target's name, for the message. */
    public static MigrationProgress of(BlockdSink s, long allocatedBytes, String node) {
        boolean ok = s.condition() == null || s.condition().equals("OK");
        return new MigrationProgress(s.regionsTotal(), s.regionsPresent(), s.progress(), s.bytesFetchedOnDemand(),
                s.bytesCopiedInBackground(), s.bytesSkippedAsHoles(), s.bytesOverwrittenNeverFetched(),
                s.wireBytesReceived(), allocatedBytes, s.rateBytesPerSecond(), s.etaSeconds(), s.t0(), s.t1(), s.t2(),
                s.condition(), ok ? null : "node '" + node + "': " + s.lastError());
    }

    public MigrationProgress withAllocated(long bytes) {
        return new MigrationProgress(regionsTotal, regionsPresent, ratio, bytesFetchedOnDemand, bytesCopiedInBackground,
                bytesSkippedAsHoles, bytesOverwrittenNeverFetched, wireBytesReceived, bytes, rateBytesPerSecond,
                etaSeconds, t0, t1, t2, condition, conditionMessage);
    }

    /** Once committed the sink is gone; the final counters are what the last poll saw, complete. */
    public MigrationProgress completed() {
        return new MigrationProgress(regionsTotal, regionsTotal, 1.0, bytesFetchedOnDemand, bytesCopiedInBackground,
                bytesSkippedAsHoles, bytesOverwrittenNeverFetched, wireBytesReceived, allocatedBytes, 0, 0.0, t0, t1,
                t2, "OK", null);
    }
}
