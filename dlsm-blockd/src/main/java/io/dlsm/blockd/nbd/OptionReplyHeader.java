package io.dlsm.blockd.nbd;

import java.nio.ByteBuffer;

/** Server option reply header: NBD_REP_MAGIC u64, option u32, reply type u32, length u32. */
public record OptionReplyHeader(int option, int replyType, long length) {
    public static final int SIZE = 20;

    public boolean isError() {
        return (replyType & Nbd.NBD_REP_FLAG_ERROR) != 0;
    }

    public void encode(ByteBuffer out) {
        out.putLong(Nbd.NBD_REP_MAGIC).putInt(option).putInt(replyType).putInt((int) length);
    }

    public static OptionReplyHeader decode(ByteBuffer in) throws ProtocolException {
        long magic = in.getLong();
        if (magic != Nbd.NBD_REP_MAGIC) {
            throw new ProtocolException(String.format("bad option reply magic 0x%016x", magic));
        }
        return new OptionReplyHeader(in.getInt(), in.getInt(), Integer.toUnsignedLong(in.getInt()));
    }
}
