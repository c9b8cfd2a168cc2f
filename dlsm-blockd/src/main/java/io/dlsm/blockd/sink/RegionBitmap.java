package io.dlsm.blockd.sink;

import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/** One bit per region, set concurrently without locks; bits are only ever set, never cleared. */
public final class RegionBitmap {
    private final long regions;
    private final AtomicLongArray words;
    private final AtomicLong count = new AtomicLong();

    public RegionBitmap(long regions) {
        if (regions < 0 || (regions + 63) / 64 > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("cannot track " + regions + " regions");
        }
        this.regions = regions;
        this.words = new AtomicLongArray((int) ((regions + 63) / 64));
    }

    public long regions() {
        return regions;
    }

    public boolean get(long region) {
        return (words.get((int) (region >>> 6)) & (1L << (region & 63))) != 0;
    }

    /** Returns true if this call set the bit. */
    public boolean set(long region) {
        int w = (int) (region >>> 6);
        long mask = 1L << (region & 63);
        while (true) {
            long old = words.get(w);
            if ((old & mask) != 0) {
                return false;
            }
            if (words.compareAndSet(w, old, old | mask)) {
                count.incrementAndGet();
                return true;
            }
        }
    }

    public long count() {
        return count.get();
    }

    public boolean full() {
        return count.get() == regions;
    }

    /** First clear bit at or after {@code from}, or -1. */
    public long nextClear(long from) {
        for (long r = from; r < regions; ) {
            int w = (int) (r >>> 6);
            long bits = ~words.get(w) & (-1L << (r & 63));
            if (bits != 0) {
                long found = ((long) w << 6) + Long.numberOfTrailingZeros(bits);
                return found < regions ? found : -1;
            }
            r = (long) (w + 1) << 6;
        }
        return -1;
    }

    /** First set bit at or after {@code from}, or -1. */
    public long nextSet(long from) {
        for (long r = from; r < regions; ) {
            int w = (int) (r >>> 6);
            long bits = words.get(w) & (-1L << (r & 63));
            if (bits != 0) {
                long found = ((long) w << 6) + Long.numberOfTrailingZeros(bits);
                return found < regions ? found : -1;
            }
            r = (long) (w + 1) << 6;
        }
        return -1;
    }

    public int byteSize() {
        return words.length() * 8;
    }

    /** A point-in-time copy: each word is read atomically; later sets may or may not appear. */
    public void writeTo(ByteBuffer out) {
        for (int i = 0; i < words.length(); i++) {
            out.putLong(words.get(i));
        }
    }

    public void readFrom(ByteBuffer in) {
        long c = 0;
        for (int i = 0; i < words.length(); i++) {
            long v = in.getLong();
            if (i == words.length() - 1 && (regions & 63) != 0) {
                v &= (1L << (regions & 63)) - 1;
            }
            words.set(i, v);
            c += Long.bitCount(v);
        }
        count.set(c);
    }
}
