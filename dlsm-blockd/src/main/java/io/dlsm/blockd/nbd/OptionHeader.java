package io.dlsm.blockd.nbd;

import java.nio.ByteBuffer;

/** Client option header of the fixed-newstyle handshake: IHAVEOPT u64, option u32, length u32. */
public record OptionHeader(int option, long length) {
    public static final int SIZE = 16;

    public void encode(ByteBuffer out) {
        out.putLong(Nbd.IHAVEOPT).putInt(option).putInt((int) length);
    }

    public static OptionHeader decode(ByteBuffer in) throws ProtocolException {
        long magic = in.getLong();
        if (magic != Nbd.IHAVEOPT) {
            throw new ProtocolException(String.format("bad option magic 0x%016x", magic));
        }
        return new OptionHeader(in.getInt(), Integer.toUnsignedLong(in.getInt()));
    }
}
