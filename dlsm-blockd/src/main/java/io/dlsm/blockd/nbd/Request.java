package io.dlsm.blockd.nbd;

import java.nio.ByteBuffer;

/** One transmission-phase request header (the payload of a WRITE follows it on the wire). */
public record Request(int flags, int type, long cookie, long offset, long length) {

    public boolean hasFlag(int flag) {
        return (flags & flag) != 0;
    }

    /** Writes the 28-byte header into {@code out}. */
    public void encode(ByteBuffer out) {
        out.putInt(Nbd.NBD_REQUEST_MAGIC)
                .putShort((short) flags)
                .putShort((short) type)
                .putLong(cookie)
                .putLong(offset)
                .putInt((int) length);
    }

    public ByteBuffer encode() {
        ByteBuffer b = ByteBuffer.allocate(Nbd.REQUEST_HEADER_SIZE);
        encode(b);
        return b.flip();
    }

    /**
     * Decodes a complete 28-byte header. Lengths are unsigned on the wire and kept as such
     * here; bounding them is validation's job, before anything is allocated.
     */
    public static Request decode(ByteBuffer in) throws ProtocolException {
        int magic = in.getInt();
        if (magic != Nbd.NBD_REQUEST_MAGIC) {
            throw new ProtocolException(String.format("bad request magic 0x%08x", magic));
        }
        int flags = Short.toUnsignedInt(in.getShort());
        int type = Short.toUnsignedInt(in.getShort());
        long cookie = in.getLong();
        long offset = in.getLong();
        long length = Integer.toUnsignedLong(in.getInt());
        return new Request(flags, type, cookie, offset, length);
    }

    @Override
    public String toString() {
        return Nbd.commandName(type) + "{cookie=" + cookie + ", offset=" + Long.toUnsignedString(offset)
                + ", length=" + length + ", flags=0x" + Integer.toHexString(flags) + "}";
    }
}
