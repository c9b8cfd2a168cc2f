package io.dlsm.backend.node;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.time.Instant;

/**
 * The part of blockd's sink view the orchestration needs: its state
 * (PROXY|ACTIVE|DEGRADED|HYDRATED|COMMITTED|ABORTING|ABORTED), progress counters, and what keeps
 * it from progressing ({@code condition} OK|SOURCE_UNREACHABLE|NO_SPACE, null from an older
 * blockd; {@code lastError} then says what to do), and the source it reads
 * ({@code nbd://HOST:PORT/EXPORT}).
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record BlockdSink(String name, String state, long regionsTotal, long regionsPresent, double progress,
                         long bytesFetchedOnDemand, long bytesCopiedInBackground, long bytesSkippedAsHoles,
                         long bytesOverwrittenNeverFetched, long wireBytesReceived, double rateBytesPerSecond,
                         Double etaSeconds, Instant t0, Instant t1, Instant t2, String lastError,
                         String condition, String source) {
}
