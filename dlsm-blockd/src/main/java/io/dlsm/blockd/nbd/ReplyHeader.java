package io.dlsm.blockd.nbd;

import java.nio.ByteBuffer;

/**
 * A reply header as a client sees it: either a simple reply (16 bytes) or one structured
 * chunk (20 bytes). The magic tells which; both start with a u32 magic.
 */
public sealed interface ReplyHeader {
    long cookie();

    /** Simple reply: magic, error u32, cookie u64. */
    record Simple(int error, long cookie) implements ReplyHeader {
        public void encode(ByteBuffer out) {
            out.putInt(Nbd.NBD_SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie);
        }
    }

    /** Structured chunk: magic, flags u16, type u16, cookie u64, payload length u32. */
    record Structured(int flags, int type, long cookie, long length) implements ReplyHeader {
        public boolean done() {
            return (flags & Nbd.NBD_REPLY_FLAG_DONE) != 0;
        }

        public boolean isError() {
            return (type & Nbd.NBD_REPLY_TYPE_ERROR_BIT) != 0;
        }

        public void encode(ByteBuffer out) {
            out.putInt(Nbd.NBD_STRUCTURED_REPLY_MAGIC)
                    .putShort((short) flags)
                    .putShort((short) type)
                    .putLong(cookie)
                    .putInt((int) length);
        }
    }

    /** Reads the magic at the buffer's position; returns how many header bytes it needs. */
    static int headerSize(int magic) throws ProtocolException {
        if (magic == Nbd.NBD_SIMPLE_REPLY_MAGIC) {
            return Nbd.SIMPLE_REPLY_HEADER_SIZE;
        }
        if (magic == Nbd.NBD_STRUCTURED_REPLY_MAGIC) {
            return Nbd.STRUCTURED_REPLY_HEADER_SIZE;
        }
        throw new ProtocolException(String.format("bad reply magic 0x%08x", magic));
    }

    /** Decodes a complete header (16 or 20 bytes as {@link #headerSize} said). */
    static ReplyHeader decode(ByteBuffer in) throws ProtocolException {
        int magic = in.getInt();
        if (magic == Nbd.NBD_SIMPLE_REPLY_MAGIC) {
            return new Simple(in.getInt(), in.getLong());
        }
        if (magic == Nbd.NBD_STRUCTURED_REPLY_MAGIC) {
            int flags = Short.toUnsignedInt(in.getShort());
            int type = Short.toUnsignedInt(in.getShort());
            long cookie = in.getLong();
            long length = Integer.toUnsignedLong(in.getInt());
            return new Structured(flags, type, cookie, length);
        }
        throw new ProtocolException(String.format("bad reply magic 0x%08x", magic));
    }
}
