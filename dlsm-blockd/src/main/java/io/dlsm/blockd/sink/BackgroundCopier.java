package io.dlsm.blockd.sink;

import io.dlsm.blockd.block.Extent;
import io.dlsm.blockd.nbd.BufferPool;
import io.dlsm.blockd.nbd.client.NbdClient;
import io.dlsm.blockd.posix.FullFileSystem;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Pulls every region the guest has not touched yet, in order, over its own connection to the
 * source: holes and zeroes reported by {@code BLOCK_STATUS} are marked present without
 * transfer; data is fetched in batches with several requests in flight, paced by a
 * {@link RateLimiter}. While the guest waits for an on-demand fetch the copier keeps at most
 * one request in flight, so the guest's fetch is not queued behind a wall of background reads.
 *
 * <p>When the source cannot be reached the copier pauses and retries with backoff; past the
 * sink's deadline it reports the sink DEGRADED, and it resumes by itself on reconnect.
 */
final class BackgroundCopier implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(BackgroundCopier.class);
    static final int BATCH_BYTES = 1 << 20;
    /** Batch size while the guest is fetching: a big background read delays its fetch. */
    static final int GUEST_ACTIVE_BATCH_BYTES = 64 << 10;
    /** How long after an on-demand fetch the guest counts as active. */
    private static final long GUEST_ACTIVE_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    static final int IN_FLIGHT = 16;
    /**
     * Background bytes in flight are capped at what the link delivered in this long: a region
     * the copier has claimed makes the guest's writes to it wait until its data arrives, so a
     * queue of claimed requests deeper than the link drains quickly is the guest's loss (over a
     * 200 Mbit/s link, 16 MiB in flight held a write up to 0.7 s). Far more than the
     * bandwidth-delay product of the links a cloud's compute nodes share.
     */
    private static final long WINDOW_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
    static final long MIN_WINDOW_BYTES = 1 << 20;
    static final long MAX_WINDOW_BYTES = (long) IN_FLIGHT * BATCH_BYTES;
    /** How much of the source one BLOCK_STATUS query covers. */
    private static final long STATUS_WINDOW = 256L << 20;
    private static final long MAX_BACKOFF_MS = 1000;

    private final Sink sink;
    private final SourceLink link;
    private final BufferPool buffers;
    private final RateLimiter limiter;
    private final Duration deadline;
    private final Semaphore inFlight = new Semaphore(IN_FLIGHT);
    private final AtomicReference<IOException> asyncFailure = new AtomicReference<>();
    private volatile boolean stopped;
    private volatile Thread thread;
    private final RateMeter meter = new RateMeter();
    /** Data bytes that crossed the wire: sizes the in-flight window. */
    private final RateMeter wireMeter = new RateMeter();
    private final Object window = new Object();
    /** Guarded by {@link #window}. */
    private long inFlightBytes;
    /**
     * Stores fetched data, so the connection's reader thread goes back to receiving at once
     * instead of waiting for the local write.
     */
    private final java.util.concurrent.ExecutorService store;
    /** Touched only by {@link #store}'s thread. */
    private final WriteBehind writeBehind;

    BackgroundCopier(Sink sink, SourceLink link, BufferPool buffers, RateLimiter limiter, Duration deadline) {
        this.sink = sink;
        this.link = link;
        this.buffers = buffers;
        this.limiter = limiter;
        this.deadline = deadline;
        this.writeBehind = new WriteBehind(sink.name(), sink.local());
        this.store = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "copier-store-" + sink.name());
            t.setDaemon(true);
            return t;
        });
    }

    void start() {
        Thread t = new Thread(this, "copier-" + sink.name());
        t.setDaemon(true);
        thread = t;
        t.start();
    }

    void stop() {
        stopped = true;
        Thread t = thread;
        if (t != null) {
            t.interrupt();
            try {
                t.join(TimeUnit.SECONDS.toMillis(30));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        link.close();
        store.shutdown();
    }

    /** See {@link SourceLink#repoint}: the copier's next attempt goes to the new address. */
    void repoint(SinkRecord.SourceAddress moved) {
        link.repoint(moved);
    }

    RateLimiter limiter() {
        return limiter;
    }

    /** Hydration rate over the last few seconds, bytes per second. */
    double rate() {
        return meter.rate();
    }

    @Override
    public void run() {
        long failingSince = 0;
        long backoff = 20;
        while (!stopped && !sink.present().full()) {
            try {
                NbdClient client = link.client();
                sweep(client);
                drain();
                IOException failed = asyncFailure.getAndSet(null);
                if (failed != null) {
                    throw failed;
                }
                failingSince = 0;
                backoff = 20;
                sink.recovered();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (IOException | RuntimeException e) {
                if (stopped) {
                    return;
                }
                if (FullFileSystem.errnoOf(e).isPresent()) {
                    // This node's disk, not the source: nothing to reconnect, no deadline to
                    // degrade at (the source still holds every region). Retry until there is room.
                    if (sink.noSpace((IOException) (e instanceof IOException ? e : new IOException(e)))) {
                        log.warn("sink {}: background copy paused: {}", sink.name(), sink.problem());
                    }
                    if (!sleep(MAX_BACKOFF_MS)) {
                        return;
                    }
                    continue;
                }
                long now = System.nanoTime();
                if (failingSince == 0) {
                    failingSince = now;
                    log.warn("sink {}: background copy paused, source unreachable: {}", sink.name(), e.toString());
                }
                if (now - failingSince > deadline.toNanos()) {
                    sink.degrade(e.getMessage());
                }
                if (!sleep(backoff)) {
                    return;
                }
                backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
                try {
                    link.reconnect();
                } catch (IOException ignored) {
                    // the next round tries again
                }
            }
        }
        try {
            drain();
            finishWriteBehind();
            sink.checkHydrated();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException | RuntimeException e) {
            log.warn("sink {}: could not complete hydration: {}", sink.name(), e.toString());
        }
    }

    /** On the store thread, which owns the write-behind window; skipped once stopped. */
    private void finishWriteBehind() throws InterruptedException {
        try {
            store.submit(writeBehind::finish).get();
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // stop() shut the store down: the sink is closing and its cache footprint is moot
        } catch (java.util.concurrent.ExecutionException e) {
            log.warn("sink {}: write-behind did not finish: {}", sink.name(), e.getCause().toString());
        }
    }

    /** One pass over the absent regions, in order. */
    private void sweep(NbdClient client) throws IOException, InterruptedException {
        RegionBitmap present = sink.present();
        long r = present.nextClear(0);
        while (r >= 0 && !stopped) {
            if (asyncFailure.get() != null) {
                return;
            }
            long windowStart = sink.regionStart(r);
            long windowEnd = Math.min(sink.size(), windowStart + STATUS_WINDOW);
            List<Extent> zeroes = client.canBlockStatus() ? zeroExtents(client, windowStart, windowEnd) : List.of();
            long lastRegion = sink.regionOf(windowEnd - 1);
            int zi = 0;
            Batch batch = null;
            for (long k = r; k <= lastRegion && !stopped; k++) {
                long start = sink.regionStart(k);
                while (zi < zeroes.size() && zeroes.get(zi).end() <= start) {
                    zi++;
                }
                if (coveredByZeroes(zeroes, zi, start, sink.regionEnd(k))) {
                    batch = flush(client, batch, zeroes);
                    CompletableFuture<Void> claim = new CompletableFuture<>();
                    if (sink.tryClaim(k, claim)) {
                        skipHole(k, claim);
                    }
                    continue;
                }
                if (batch != null && (batch.end != k
                        || sink.regionEnd(k) - sink.regionStart(batch.start) > batchLimit())) {
                    batch = flush(client, batch, zeroes);
                }
                if (batch == null) {
                    // Wait for the window and the bandwidth limit before claiming: a claimed
                    // region blocks every guest read and write of it until the fetch is done.
                    awaitWindowRoom(batchLimit());
                    limiter.awaitAvailable(BATCH_BYTES);
                    CompletableFuture<Void> claim = new CompletableFuture<>();
                    if (sink.tryClaim(k, claim)) {
                        batch = new Batch(k, claim);
                    }
                } else if (sink.tryClaim(k, batch.claim)) {
                    batch.end = k + 1;
                } else {
                    batch = flush(client, batch, zeroes);
                }
            }
            flush(client, batch, zeroes);
            r = lastRegion + 1 < present.regions() ? present.nextClear(lastRegion + 1) : -1;
        }
    }

    /** Contiguous claimed regions [start, end) fetched with one read. */
    private static final class Batch {
        final long start;
        final CompletableFuture<Void> claim;
        long end;

        Batch(long start, CompletableFuture<Void> claim) {
            this.start = start;
            this.end = start + 1;
            this.claim = claim;
        }
    }

    private Batch flush(NbdClient client, Batch batch, List<Extent> zeroes) throws InterruptedException {
        if (batch != null) {
            fetch(client, batch.start, batch.end, batch.claim, zeroes);
        }
        return null;
    }

    private List<Extent> zeroExtents(NbdClient client, long start, long end) throws IOException {
        List<Extent> out = new ArrayList<>();
        long pos = start;
        while (pos < end) {
            List<Extent> got = client.blockStatus(pos, end - pos);
            if (got.isEmpty()) {
                break;
            }
            for (Extent e : got) {
                if (e.zero()) {
                    out.add(e);
                }
                pos = Math.max(pos, e.end());
            }
        }
        return out;
    }

    private static boolean coveredByZeroes(List<Extent> zeroes, int from, long start, long end) {
        long pos = start;
        for (int i = from; i < zeroes.size() && pos < end; i++) {
            Extent e = zeroes.get(i);
            if (e.offset() > pos) {
                return false;
            }
            pos = Math.max(pos, e.end());
        }
        return pos >= end;
    }

    /** The source holds zeroes here: make the local region zero (it may hold a stale fetch). */
    private void skipHole(long k, CompletableFuture<Void> claim) throws IOException {
        long start = sink.regionStart(k);
        long len = sink.regionEnd(k) - start;
        try {
            sink.local().writeZeroes(start, len, true, false, false);
            sink.markPresent(k);
            sink.counters.skippedHoles.add(len);
            meter.add(len);
        } finally {
            sink.release(k, claim);
            claim.complete(null);
        }
        sink.checkHydrated();
    }

    /**
     * Fetches claimed regions [from, to) asynchronously: only their data extents cross the
     * network, zero extents inside them are zeroed locally. Completion stores the data, marks
     * the regions present and releases the claim.
     */
    private void fetch(NbdClient client, long from, long to, CompletableFuture<Void> claim, List<Extent> zeroes)
            throws InterruptedException {
        long off = sink.regionStart(from);
        long end = sink.regionEnd(to - 1);
        int len = (int) (end - off);
        List<long[]> data = dataRanges(off, end, zeroes);
        long dataBytes = data.stream().mapToLong(r -> r[1] - r[0]).sum();
        limiter.acquire(dataBytes);
        // Yield to the guest: while it waits for a fetch, keep only one request of ours queued.
        int bound = 0;
        while (sink.onDemandInFlight() > 0 && inFlight.availablePermits() < IN_FLIGHT - 1 && bound++ < 1000) {
            Thread.sleep(1);
        }
        inFlight.acquire();
        enterWindow(dataBytes);
        ByteBuffer buf = buffers.acquire(len);
        List<CompletableFuture<Void>> reads = new ArrayList<>();
        try {
            for (long[] r : data) {
                reads.add(client.readAsync(r[0], buf.slice((int) (r[0] - off), (int) (r[1] - r[0]))));
            }
        } catch (RuntimeException e) {
            reads.add(CompletableFuture.failedFuture(e));
        }
        CompletableFuture.allOf(reads.toArray(CompletableFuture[]::new)).whenCompleteAsync((ok, failure) -> {
            boolean stored = false;
            try {
                if (failure == null) {
                    long pos = off;
                    for (long[] r : data) {
                        if (r[0] > pos) {
                            sink.local().writeZeroes(pos, r[0] - pos, true, false, false);
                        }
                        sink.local().write(r[0], buf.slice((int) (r[0] - off), (int) (r[1] - r[0])), false);
                        pos = r[1];
                    }
                    if (pos < end) {
                        sink.local().writeZeroes(pos, end - pos, true, false, false);
                    }
                    for (long k = from; k < to; k++) {
                        sink.markPresent(k);
                    }
                    sink.spaceAvailable();
                    sink.counters.copiedInBackground.add(dataBytes);
                    wireMeter.add(dataBytes);
                    sink.counters.skippedHoles.add(len - dataBytes);
                    meter.add(len);
                    stored = true;
                } else {
                    asyncFailure.compareAndSet(null, failure instanceof IOException io ? io
                            : new IOException(failure.getMessage(), failure));
                }
            } catch (IOException | RuntimeException e) {
                asyncFailure.compareAndSet(null, e instanceof IOException io ? io : new IOException(e));
            } finally {
                for (long k = from; k < to; k++) {
                    sink.release(k, claim);
                }
                claim.complete(null);
                buffers.release(buf);
                leaveWindow(dataBytes);
            }
            // After the claims are released: waiting for writeback must not hold up the guest.
            try {
                if (stored) {
                    writeBehind.stored(off, len);
                }
            } finally {
                inFlight.release();
            }
        }, store);
    }

    /** Current cap on background bytes in flight. */
    long windowBytes() {
        return windowFor(wireMeter.rate());
    }

    /** The window for a link delivering {@code bytesPerSecond}. */
    static long windowFor(double bytesPerSecond) {
        long byRate = (long) (bytesPerSecond * WINDOW_NANOS / 1e9);
        return Math.max(MIN_WINDOW_BYTES, Math.min(MAX_WINDOW_BYTES, byRate));
    }

    /** Waits until a batch of {@code bytes} fits in the window (one batch always may go). */
    private void awaitWindowRoom(long bytes) throws InterruptedException {
        synchronized (window) {
            while (!stopped && inFlightBytes > 0 && inFlightBytes + bytes > windowBytes()) {
                window.wait(10);
            }
        }
    }

    private void enterWindow(long bytes) {
        synchronized (window) {
            inFlightBytes += bytes;
        }
    }

    private void leaveWindow(long bytes) {
        synchronized (window) {
            inFlightBytes -= bytes;
            window.notifyAll();
        }
    }

    private int batchLimit() {
        return System.nanoTime() - sink.lastOnDemandFetchNanos() < GUEST_ACTIVE_NANOS
                ? GUEST_ACTIVE_BATCH_BYTES : BATCH_BYTES;
    }

    /** [off, end) minus the zero extents, as sorted [start, end) pairs. */
    static List<long[]> dataRanges(long off, long end, List<Extent> zeroes) {
        List<long[]> out = new ArrayList<>();
        long pos = off;
        for (Extent z : zeroes) {
            if (z.end() <= pos) {
                continue;
            }
            if (z.offset() >= end) {
                break;
            }
            if (z.offset() > pos) {
                out.add(new long[] {pos, z.offset()});
            }
            pos = Math.max(pos, z.end());
            if (pos >= end) {
                break;
            }
        }
        if (pos < end) {
            out.add(new long[] {pos, end});
        }
        return out;
    }

    private void drain() throws InterruptedException {
        inFlight.acquire(IN_FLIGHT);
        inFlight.release(IN_FLIGHT);
    }

    private boolean sleep(long ms) {
        try {
            Thread.sleep(ms);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Bytes per second over a sliding window of a few seconds. */
    static final class RateMeter {
        private static final long WINDOW_NANOS = TimeUnit.SECONDS.toNanos(3);
        private final long[] times = new long[256];
        private final long[] bytes = new long[256];
        private int head;
        private int count;

        synchronized void add(long n) {
            times[head] = System.nanoTime();
            bytes[head] = n;
            head = (head + 1) % times.length;
            count = Math.min(count + 1, times.length);
        }

        synchronized double rate() {
            long now = System.nanoTime();
            long total = 0;
            long oldest = now;
            for (int i = 0; i < count; i++) {
                int idx = (head - 1 - i + times.length) % times.length;
                if (now - times[idx] > WINDOW_NANOS) {
                    break;
                }
                total += bytes[idx];
                oldest = times[idx];
            }
            long span = Math.max(now - oldest, TimeUnit.MILLISECONDS.toNanos(200));
            return total * 1e9 / span;
        }
    }
}
