package io.dlsm.blockd.sink;

import java.util.concurrent.atomic.LongAdder;

/** Byte counters of one sink; they only grow, so progress never goes backwards. */
final class SinkCounters {
    final LongAdder fetchedOnDemand = new LongAdder();
    final LongAdder copiedInBackground = new LongAdder();
    final LongAdder skippedHoles = new LongAdder();
    final LongAdder overwrittenNeverFetched = new LongAdder();
    final LongAdder proxiedReads = new LongAdder();
    final LongAdder proxiedWrites = new LongAdder();
    final LongAdder migratedBack = new LongAdder();
    final LongAdder onDemandFetches = new LongAdder();

    /** Bytes of data that crossed the network from the source after activation. */
    long wireBytesReceived() {
        return fetchedOnDemand.sum() + copiedInBackground.sum();
    }
}
