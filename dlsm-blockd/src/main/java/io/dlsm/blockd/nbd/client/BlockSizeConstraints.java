package io.dlsm.blockd.nbd.client;

import io.dlsm.blockd.nbd.Nbd;

/**
 * The export's block size constraints (NBD_INFO_BLOCK_SIZE). Requests must be aligned to
 * {@link #minimum}; a READ/WRITE payload never exceeds {@link #maximum}, which is already
 * capped at {@link Nbd#MAX_PAYLOAD} (the wire value may be larger, or 0xffffffff for "none").
 */
public record BlockSizeConstraints(int minimum, int preferred, int maximum) {
    /** What the spec tells a client to assume when the server sends no constraints. */
    public static final BlockSizeConstraints DEFAULT =
            new BlockSizeConstraints(1, Nbd.PREFERRED_BLOCK_SIZE, Nbd.MAX_PAYLOAD);

    public BlockSizeConstraints {
        // Splitting must produce aligned pieces: minimum a power of two, maximum a multiple.
        if (minimum <= 0 || Integer.bitCount(minimum) != 1 || preferred <= 0
                || maximum < minimum || maximum % minimum != 0 || maximum > Nbd.MAX_PAYLOAD) {
            throw new IllegalArgumentException("invalid block size constraints min=" + minimum
                    + " preferred=" + preferred + " max=" + maximum);
        }
    }

    /** Builds constraints from the unsigned wire values, capping the maximum at 32 MiB. */
    public static BlockSizeConstraints fromWire(long minimum, long preferred, long maximum) {
        if (minimum < 1 || minimum > 64 * 1024 || Long.bitCount(minimum) != 1) {
            throw new IllegalArgumentException("invalid minimum block size " + minimum);
        }
        long cappedMax = Math.min(maximum, Nbd.MAX_PAYLOAD);
        cappedMax -= cappedMax % minimum;
        return new BlockSizeConstraints((int) minimum, (int) Math.min(preferred, Nbd.MAX_PAYLOAD),
                (int) Math.max(cappedMax, minimum));
    }

    public boolean isAligned(long value) {
        return (value & (minimum - 1)) == 0;
    }
}
