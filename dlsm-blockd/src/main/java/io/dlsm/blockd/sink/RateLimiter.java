package io.dlsm.blockd.sink;

import java.util.concurrent.TimeUnit;

/**
 * A token bucket for the background copier's bytes per second, changeable while it runs;
 * 0 means unlimited. The bucket holds at most one second's worth, so a pause never turns
 * into a burst above the limit.
 */
public final class RateLimiter {
    private long bytesPerSecond;
    private double tokens;
    private long lastRefill = System.nanoTime();

    public RateLimiter(long bytesPerSecond) {
        setRate(bytesPerSecond);
    }

    public synchronized void setRate(long bytesPerSecond) {
        if (bytesPerSecond < 0) {
            throw new IllegalArgumentException("bandwidth must be >= 0, got " + bytesPerSecond);
        }
        refill();
        this.bytesPerSecond = bytesPerSecond;
        tokens = Math.min(tokens, bytesPerSecond);
        notifyAll();
    }

    public synchronized long rate() {
        return bytesPerSecond;
    }

    /** Blocks until {@code bytes} may be sent. */
    public synchronized void acquire(long bytes) throws InterruptedException {
        while (bytesPerSecond > 0) {
            refill();
            // A request larger than the bucket goes through once the bucket is full.
            long need = Math.min(bytes, bytesPerSecond);
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
            long need = Math.min(bytes, bytesPerSecond);
            if (tokens >= need) {
                return;
            }
            long waitNanos = (long) ((need - tokens) * 1e9 / bytesPerSecond);
            TimeUnit.NANOSECONDS.timedWait(this, Math.max(waitNanos, 100_000));
        }
    }

    private void refill() {
        long now = System.nanoTime();
        if (bytesPerSecond > 0) {
            tokens = Math.min(bytesPerSecond, tokens + (now - lastRefill) * bytesPerSecond / 1e9);
        }
        lastRefill = now;
    }
}
