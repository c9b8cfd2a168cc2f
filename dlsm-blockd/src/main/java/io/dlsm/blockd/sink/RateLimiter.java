package io.dlsm.blockd.sink;

import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * A token bucket for the background copier's bytes per second, changeable while it runs;
 * 0 means unlimited. The bucket holds at most {@link #BUCKET_SECONDS} worth, so a pause never
 * turns into a burst longer than that above the limit.
 */
public final class RateLimiter {
    static final double BUCKET_SECONDS = 1.0;

    private final LongSupplier nanoClock;
    private long bytesPerSecond;
    private double tokens;
    private long lastRefill;

    public RateLimiter(long bytesPerSecond) {
        this(bytesPerSecond, System::nanoTime);
    }

    RateLimiter(long bytesPerSecond, LongSupplier nanoClock) {
        this.nanoClock = nanoClock;
        this.lastRefill = nanoClock.getAsLong();
        setRate(bytesPerSecond);
    }

    public synchronized void setRate(long bytesPerSecond) {
        if (bytesPerSecond < 0) {
            throw new IllegalArgumentException("bandwidth must be >= 0, got " + bytesPerSecond);
        }
        refill();
        this.bytesPerSecond = bytesPerSecond;
        tokens = Math.min(tokens, capacity());
        notifyAll();
    }

    public synchronized long rate() {
        return bytesPerSecond;
    }

    /** Blocks until {@code bytes} may be sent. */
    public synchronized void acquire(long bytes) throws InterruptedException {
        while (bytesPerSecond > 0) {
            refill();
            // A request larger than the bucket goes through once the bucket is full; the
            // tokens then go negative, so the average still keeps to the limit.
            double need = Math.min(bytes, capacity());
            if (tokens >= need) {
                tokens -= bytes;
                return;
            }
            double missing = need - tokens;
            long waitNanos = (long) (missing * 1e9 / bytesPerSecond);
            TimeUnit.NANOSECONDS.timedWait(this, Math.max(waitNanos, 100_000));
        }
    }

    /**
     * Blocks until {@code bytes} (at most a full bucket) could be acquired at once, without
     * taking them: the copier waits here before it claims regions, so it never keeps the
     * guest waiting on regions it claimed while the limit holds it back.
     */
    public synchronized void awaitAvailable(long bytes) throws InterruptedException {
        while (bytesPerSecond > 0) {
            refill();
            double need = Math.min(bytes, capacity());
            if (tokens >= need) {
                return;
            }
            long waitNanos = (long) ((need - tokens) * 1e9 / bytesPerSecond);
            TimeUnit.NANOSECONDS.timedWait(this, Math.max(waitNanos, 100_000));
        }
    }

    /** Bytes that could be taken at once now (negative: owed by an oversized request). */
    synchronized double available() {
        refill();
        return tokens;
    }

    private double capacity() {
        return bytesPerSecond * BUCKET_SECONDS;
    }

    private void refill() {
        long now = nanoClock.getAsLong();
        if (bytesPerSecond > 0) {
            tokens = Math.min(capacity(), tokens + (now - lastRefill) * bytesPerSecond / 1e9);
        }
        lastRefill = now;
    }
}
