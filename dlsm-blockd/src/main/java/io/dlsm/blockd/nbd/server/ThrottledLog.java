package io.dlsm.blockd.nbd.server;

import java.util.function.LongSupplier;
import org.slf4j.Logger;

/**
 * One kind of event a hostile client can cause at will (a refused connection, a handshake
 * that timed out): the first in each window is logged as it happens, the rest of the window
 * is counted and reported in one line when the window is over, so a flood costs a few lines
 * a minute instead of one per connection.
 */
final class ThrottledLog {
    private final Logger log;
    private final String what;
    private final long windowNanos;
    private final LongSupplier nanoClock;
    private long windowStart;
    private boolean windowOpen;
    private long suppressed;

    /** {@code what} completes "N connections ... in the last S s", e.g. "refused: all slots taken". */
    ThrottledLog(Logger log, String what, long windowNanos, LongSupplier nanoClock) {
        this.log = log;
        this.what = what;
        this.windowNanos = windowNanos;
        this.nanoClock = nanoClock;
    }

    /** An event; {@code detail} is logged only if it is the first of its window. */
    synchronized void event(String detail) {
        long now = nanoClock.getAsLong();
        flushIfOver(now);
        if (!windowOpen) {
            windowOpen = true;
            windowStart = now;
            log.info("{} ({}); more of these are counted for {} s", what, detail, windowNanos / 1_000_000_000L);
            return;
        }
        suppressed++;
    }

    /** Reports a finished window's count; called on every event and by the server's watchdog. */
    synchronized void flush() {
        flushIfOver(nanoClock.getAsLong());
    }

    private void flushIfOver(long now) {
        if (!windowOpen || now - windowStart < windowNanos) {
            return;
        }
        if (suppressed > 0) {
            log.info("{}: {} more in the last {} s", what, suppressed, (now - windowStart) / 1_000_000_000L);
        }
        windowOpen = false;
        suppressed = 0;
    }
}
