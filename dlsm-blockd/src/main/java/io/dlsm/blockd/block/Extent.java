package io.dlsm.blockd.block;

/** A run of bytes with one allocation state, as NBD's base:allocation context reports it. */
public record Extent(long offset, long length, boolean hole, boolean zero) {
    public Extent {
        if (offset < 0 || length <= 0) {
            throw new IllegalArgumentException("bad extent " + offset + "+" + length);
        }
    }

    public long end() {
        return offset + length;
    }

    public static Extent data(long offset, long length) {
        return new Extent(offset, length, false, false);
    }

    public static Extent hole(long offset, long length) {
        return new Extent(offset, length, true, true);
    }
}
