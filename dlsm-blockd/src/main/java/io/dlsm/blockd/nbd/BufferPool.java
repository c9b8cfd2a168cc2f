package io.dlsm.blockd.nbd;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Direct buffers in power-of-two size classes, reused across requests: allocating a direct
 * buffer per request costs more than the I/O it carries. Cached memory is capped; beyond
 * the cap released buffers are left to the garbage collector. The pool counts the bytes it
 * has handed out and not yet got back ({@link #inUseBytes}), so a leak or an unbounded
 * allocation shows in the metrics and in tests.
 */
public final class BufferPool {
    private static final int MIN_SHIFT = 12;
    private static final int MAX_SHIFT = 25;

    private final ConcurrentLinkedQueue<ByteBuffer>[] classes;
    private final long maxCachedBytes;
    private final AtomicLong cachedBytes = new AtomicLong();
    private final AtomicLong inUseBytes = new AtomicLong();

    @SuppressWarnings("unchecked")
    public BufferPool(long maxCachedBytes) {
        this.maxCachedBytes = maxCachedBytes;
        this.classes = new ConcurrentLinkedQueue[MAX_SHIFT - MIN_SHIFT + 1];
        for (int i = 0; i < classes.length; i++) {
            classes[i] = new ConcurrentLinkedQueue<>();
        }
    }

    /** A cleared buffer whose limit is exactly {@code size} (at most 32 MiB). */
    public ByteBuffer acquire(int size) {
        if (size > (1 << MAX_SHIFT)) {
            throw new IllegalArgumentException("buffer of " + size + " bytes exceeds the pool's maximum");
        }
        int cls = sizeClass(size);
        inUseBytes.addAndGet(1L << (cls + MIN_SHIFT));
        ByteBuffer b = classes[cls].poll();
        if (b != null) {
            cachedBytes.addAndGet(-b.capacity());
        } else {
            b = ByteBuffer.allocateDirect(1 << (cls + MIN_SHIFT));
        }
        b.clear().limit(size);
        return b;
    }

    public void release(ByteBuffer b) {
        if (b == null || !b.isDirect() || Integer.bitCount(b.capacity()) != 1
                || b.capacity() < (1 << MIN_SHIFT) || b.capacity() > (1 << MAX_SHIFT)) {
            return;
        }
        inUseBytes.addAndGet(-b.capacity());
        if (cachedBytes.addAndGet(b.capacity()) > maxCachedBytes) {
            cachedBytes.addAndGet(-b.capacity());
            return;
        }
        classes[sizeClass(b.capacity())].offer(b);
    }

    /** The direct memory {@link #acquire} takes for {@code size} bytes: its size class. */
    public static int capacityFor(int size) {
        return 1 << (sizeClass(size) + MIN_SHIFT);
    }

    /** Bytes of buffers handed out and not yet released. */
    public long inUseBytes() {
        return inUseBytes.get();
    }

    /** Bytes of released buffers kept for reuse. */
    public long cachedBytes() {
        return cachedBytes.get();
    }

    private static int sizeClass(int size) {
        int shift = size <= (1 << MIN_SHIFT) ? MIN_SHIFT : 32 - Integer.numberOfLeadingZeros(size - 1);
        return shift - MIN_SHIFT;
    }
}
