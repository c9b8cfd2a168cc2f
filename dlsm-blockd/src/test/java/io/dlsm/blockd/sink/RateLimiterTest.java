package io.dlsm.blockd.sink;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The bucket's arithmetic on a clock the test moves; nothing here waits. */
class RateLimiterTest {
    private static final long RATE = 50_000_000;
    private final AtomicLong now = new AtomicLong(1_000_000_000L);

    private void advance(long millis) {
        now.addAndGet(TimeUnit.MILLISECONDS.toNanos(millis));
    }

    @Test
    void startsEmptyAndFillsAtTheRate() {
        RateLimiter limiter = new RateLimiter(RATE, now::get);
        assertThat(limiter.available()).isZero();
        advance(10);
        assertThat(limiter.available()).isCloseTo(RATE * 0.010, within(1.0));
    }

    @Test
    void longIdleSinceCreationLeavesOnlyAShortBurst() throws Exception {
        RateLimiter limiter = new RateLimiter(RATE, now::get);
        // The sink waits in PROXY for the VM's memory to move, then activates: one bucket, no more.
        advance(30_000);
        assertThat(limiter.available()).isEqualTo(RATE * RateLimiter.BUCKET_SECONDS);
        limiter.acquire((long) (RATE * RateLimiter.BUCKET_SECONDS));
        assertThat(limiter.available()).isZero();
    }

    @Test
    void requestLargerThanTheBucketGoesThroughWhenFullAndIsPaidBack() throws Exception {
        RateLimiter limiter = new RateLimiter(RATE, now::get);
        advance(2_000);
        long big = (long) (2 * RATE * RateLimiter.BUCKET_SECONDS);
        limiter.acquire(big);
        double owed = RATE * RateLimiter.BUCKET_SECONDS - big;
        assertThat(limiter.available()).isCloseTo(owed, within(1.0));
        // Paid back at the rate before anything else goes.
        advance((long) (-owed * 1000 / RATE));
        assertThat(limiter.available()).isCloseTo(0, within(RATE / 1000.0));
    }

    @Test
    void loweringTheRateShrinksTheBucketAtOnceAndZeroMeansUnlimited() throws Exception {
        RateLimiter limiter = new RateLimiter(RATE, now::get);
        advance(1_000);
        limiter.setRate(RATE / 10);
        assertThat(limiter.available()).isEqualTo(RATE / 10 * RateLimiter.BUCKET_SECONDS);
        limiter.setRate(0);
        limiter.acquire(1L << 40);
        limiter.awaitAvailable(1L << 40);
        assertThat(limiter.rate()).isZero();
    }
}
