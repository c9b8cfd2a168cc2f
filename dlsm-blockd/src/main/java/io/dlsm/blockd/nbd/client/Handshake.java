package io.dlsm.blockd.nbd.client;

import io.dlsm.blockd.nbd.Channels;
import io.dlsm.blockd.nbd.Nbd;
import io.dlsm.blockd.nbd.OptionHeader;
import io.dlsm.blockd.nbd.OptionReplyHeader;
import io.dlsm.blockd.nbd.ProtocolException;
import io.dlsm.blockd.tls.TlsChannel;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import javax.net.ssl.SSLEngine;

/**
 * The client side of the fixed-newstyle handshake, run once per connection before transmission.
 * Given a TLS engine it starts with NBD_OPT_STARTTLS and does everything else inside TLS; a
 * server that will not do TLS is an error, never a reason to go on in the clear.
 */
final class Handshake {
    /**
     * What transmission may use: the export, the features the server agreed to, and the
     * channel to carry it (the socket, or TLS over it).
     */
    record Result(ExportInfo export, boolean structuredReplies, OptionalInt allocationContextId,
                  ByteChannel channel) {
    }

    private record OptionReply(OptionReplyHeader header, ByteBuffer data) {
    }

    private ByteChannel ch;
    /** Null: plain NBD. */
    private final SSLEngine tls;
    private boolean serverOmitsZeroes;

    Handshake(ByteChannel ch) {
        this(ch, null);
    }

    /** {@code tls}: a client engine for the server's host, or null for plain NBD. */
    Handshake(ByteChannel ch, SSLEngine tls) {
        this.ch = ch;
        this.tls = tls;
    }

    Result negotiate(String exportName) throws IOException {
        byte[] name = encodeName(exportName);
        greet();
        boolean structured = requestStructuredReplies();
        // base:allocation needs structured replies to be delivered at all.
        OptionalInt context = structured ? requestAllocationContext(name) : OptionalInt.empty();
        ExportInfo export = exportInfo(Nbd.NBD_OPT_GO, exportName, name);
        if (export == null) {
            // Only a server that predates NBD_OPT_GO gets here; it cannot report block sizes.
            export = exportNameFallback(exportName, name);
        }
        return new Result(export, structured, context, ch);
    }

    /**
     * The export's size and flags through NBD_OPT_INFO, without entering transmission: the
     * server does not count such a probe as a client of the export.
     */
    ExportInfo info(String exportName) throws IOException {
        byte[] name = encodeName(exportName);
        greet();
        ExportInfo export = exportInfo(Nbd.NBD_OPT_INFO, exportName, name);
        if (export == null) {
            throw new ProtocolException("server does not support NBD_OPT_INFO");
        }
        sendOption(Nbd.NBD_OPT_ABORT, ByteBuffer.allocate(0));
        return export;
    }

    List<ListedExport> list() throws IOException {
        greet();
        sendOption(Nbd.NBD_OPT_LIST, ByteBuffer.allocate(0));
        List<ListedExport> exports = new ArrayList<>();
        while (true) {
            OptionReply reply = readReply(Nbd.NBD_OPT_LIST);
            int type = reply.header().replyType();
            if (type == Nbd.NBD_REP_ACK) {
                break;
            }
            if (type != Nbd.NBD_REP_SERVER) {
                throw refusedOrUnexpected(reply, "NBD_OPT_LIST");
            }
            ByteBuffer d = reply.data();
            String exportName = readString(d, "NBD_REP_SERVER name");
            exports.add(new ListedExport(exportName, remainingString(d)));
        }
        // Tell the server we are done so it does not log an unexpected disconnect.
        sendOption(Nbd.NBD_OPT_ABORT, ByteBuffer.allocate(0));
        return exports;
    }

    /** The greeting, then TLS if this client uses it. */
    private void greet() throws IOException {
        greetInClear();
        if (tls != null) {
            startTls();
        }
    }

    private void startTls() throws IOException {
        sendOption(Nbd.NBD_OPT_STARTTLS, ByteBuffer.allocate(0));
        OptionReply reply = readReply(Nbd.NBD_OPT_STARTTLS);
        if (reply.header().replyType() != Nbd.NBD_REP_ACK) {
            IOException refused = refusedOrUnexpected(reply, "NBD_OPT_STARTTLS");
            throw new NbdOptionException(Nbd.NBD_OPT_STARTTLS, reply.header().replyType(), refused.getMessage()
                    + "; this node is configured for TLS and does not fall back to plain NBD");
        }
        TlsChannel secured = new TlsChannel(ch, tls);
        secured.handshake();
        ch = secured;
    }

    private void greetInClear() throws IOException {
        ByteBuffer b = read(8 + 8 + 2);
        long magic = b.getLong();
        if (magic != Nbd.NBDMAGIC) {
            throw new ProtocolException(String.format("not an NBD server: greeting magic 0x%016x", magic));
        }
        long style = b.getLong();
        if (style == Nbd.CLISERV_MAGIC) {
            throw new ProtocolException("oldstyle NBD server: only fixed newstyle is supported");
        }
        if (style != Nbd.IHAVEOPT) {
            throw new ProtocolException(String.format("bad greeting magic 0x%016x", style));
        }
        int flags = Short.toUnsignedInt(b.getShort());
        if ((flags & Nbd.NBD_FLAG_FIXED_NEWSTYLE) == 0) {
            throw new ProtocolException("server does not support fixed newstyle negotiation");
        }
        serverOmitsZeroes = (flags & Nbd.NBD_FLAG_NO_ZEROES) != 0;
        int clientFlags = Nbd.NBD_FLAG_C_FIXED_NEWSTYLE | (serverOmitsZeroes ? Nbd.NBD_FLAG_C_NO_ZEROES : 0);
        Channels.writeFully(ch, ByteBuffer.allocate(4).putInt(clientFlags).flip());
    }

    private boolean requestStructuredReplies() throws IOException {
        sendOption(Nbd.NBD_OPT_STRUCTURED_REPLY, ByteBuffer.allocate(0));
        OptionReply reply = readReply(Nbd.NBD_OPT_STRUCTURED_REPLY);
        if (reply.header().isError()) {
            return false;
        }
        if (reply.header().replyType() != Nbd.NBD_REP_ACK) {
            throw unexpected(reply, "NBD_OPT_STRUCTURED_REPLY");
        }
        return true;
    }

    /** Asks for base:allocation; a refusal only means block status will be unavailable. */
    private OptionalInt requestAllocationContext(byte[] name) throws IOException {
        byte[] query = Nbd.BASE_ALLOCATION.getBytes(StandardCharsets.UTF_8);
        ByteBuffer data = ByteBuffer.allocate(4 + name.length + 4 + 4 + query.length);
        data.putInt(name.length).put(name).putInt(1).putInt(query.length).put(query).flip();
        sendOption(Nbd.NBD_OPT_SET_META_CONTEXT, data);
        OptionalInt id = OptionalInt.empty();
        while (true) {
            OptionReply reply = readReply(Nbd.NBD_OPT_SET_META_CONTEXT);
            int type = reply.header().replyType();
            if (type == Nbd.NBD_REP_ACK) {
                return id;
            }
            if (reply.header().isError()) {
                return OptionalInt.empty();
            }
            if (type != Nbd.NBD_REP_META_CONTEXT || reply.data().remaining() < 4) {
                throw unexpected(reply, "NBD_OPT_SET_META_CONTEXT");
            }
            int contextId = reply.data().getInt();
            if (Nbd.BASE_ALLOCATION.equals(remainingString(reply.data()))) {
                id = OptionalInt.of(contextId);
            }
        }
    }

    /**
     * NBD_OPT_GO or NBD_OPT_INFO (same replies); null when the server does not know the
     * option, so the caller can fall back.
     */
    private ExportInfo exportInfo(int option, String exportName, byte[] name) throws IOException {
        String what = option == Nbd.NBD_OPT_GO ? "NBD_OPT_GO" : "NBD_OPT_INFO";
        ByteBuffer data = ByteBuffer.allocate(4 + name.length + 2 + 2);
        data.putInt(name.length).put(name).putShort((short) 1).putShort((short) Nbd.NBD_INFO_BLOCK_SIZE).flip();
        sendOption(option, data);
        long size = -1;
        int flags = 0;
        BlockSizeConstraints blockSize = BlockSizeConstraints.DEFAULT;
        while (true) {
            OptionReply reply = readReply(option);
            OptionReplyHeader h = reply.header();
            ByteBuffer d = reply.data();
            if (h.replyType() == Nbd.NBD_REP_ERR_UNSUP) {
                return null;
            }
            if (h.replyType() == Nbd.NBD_REP_ACK) {
                if (size < 0) {
                    throw new ProtocolException("server acknowledged " + what + " without NBD_INFO_EXPORT");
                }
                return new ExportInfo(exportName, size, flags, blockSize);
            }
            if (h.replyType() != Nbd.NBD_REP_INFO || d.remaining() < 2) {
                throw refusedOrUnexpected(reply, what + " for export '" + exportName + "'");
            }
            int infoType = Short.toUnsignedInt(d.getShort());
            if (infoType == Nbd.NBD_INFO_EXPORT) {
                requireInfoLength(d, 10, "NBD_INFO_EXPORT");
                size = d.getLong();
                flags = Short.toUnsignedInt(d.getShort());
                if (size < 0) {
                    throw new ProtocolException("export size does not fit in a signed 64-bit value");
                }
            } else if (infoType == Nbd.NBD_INFO_BLOCK_SIZE) {
                requireInfoLength(d, 12, "NBD_INFO_BLOCK_SIZE");
                long min = Integer.toUnsignedLong(d.getInt());
                long preferred = Integer.toUnsignedLong(d.getInt());
                long max = Integer.toUnsignedLong(d.getInt());
                try {
                    blockSize = BlockSizeConstraints.fromWire(min, preferred, max);
                } catch (IllegalArgumentException e) {
                    throw new ProtocolException("server sent " + e.getMessage());
                }
            }
            // Other information (name, description) is optional and not needed here.
        }
    }

    private ExportInfo exportNameFallback(String exportName, byte[] name) throws IOException {
        sendOption(Nbd.NBD_OPT_EXPORT_NAME, ByteBuffer.wrap(name));
        ByteBuffer b = ByteBuffer.allocate(8 + 2 + (serverOmitsZeroes ? 0 : Nbd.EXPORT_NAME_REPLY_PADDING));
        try {
            Channels.readFully(ch, b);
        } catch (EOFException e) {
            // The only way this option can fail: the server hangs up.
            throw new IOException("server closed the connection on NBD_OPT_EXPORT_NAME '" + exportName
                    + "' (no such export?)", e);
        }
        b.flip();
        long size = b.getLong();
        int flags = Short.toUnsignedInt(b.getShort());
        if (size < 0) {
            throw new ProtocolException("export size does not fit in a signed 64-bit value");
        }
        return new ExportInfo(exportName, size, flags, BlockSizeConstraints.DEFAULT);
    }

    private void sendOption(int option, ByteBuffer data) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(OptionHeader.SIZE);
        new OptionHeader(option, data.remaining()).encode(header);
        Channels.writeAll(ch, header.flip(), data);
    }

    private OptionReply readReply(int option) throws IOException {
        OptionReplyHeader header = OptionReplyHeader.decode(read(OptionReplyHeader.SIZE));
        if (header.option() != option) {
            throw new ProtocolException("reply for option " + header.option() + " while waiting for " + option);
        }
        // Bounded before allocating: a hostile length must not cost memory.
        if (header.length() > Nbd.MAX_OPTION_LENGTH) {
            throw new ProtocolException("option reply of " + header.length() + " bytes exceeds "
                    + Nbd.MAX_OPTION_LENGTH);
        }
        return new OptionReply(header, read((int) header.length()));
    }

    private ByteBuffer read(int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        Channels.readFully(ch, b);
        return b.flip();
    }

    private static IOException refusedOrUnexpected(OptionReply reply, String what) {
        if (!reply.header().isError()) {
            return unexpected(reply, what);
        }
        String message = remainingString(reply.data());
        return new NbdOptionException(reply.header().option(), reply.header().replyType(),
                what + " refused with " + NbdOptionException.replyName(reply.header().replyType())
                        + (message.isEmpty() ? "" : ": " + message));
    }

    private static ProtocolException unexpected(OptionReply reply, String what) {
        return new ProtocolException("unexpected reply type " + NbdOptionException.replyName(reply.header().replyType())
                + " (" + reply.header().length() + " bytes) to " + what);
    }

    private static void requireInfoLength(ByteBuffer d, int length, String what) throws ProtocolException {
        if (d.remaining() != length) {
            throw new ProtocolException(what + " with " + d.remaining() + " bytes instead of " + length);
        }
    }

    private static String readString(ByteBuffer d, String what) throws ProtocolException {
        if (d.remaining() < 4) {
            throw new ProtocolException(what + ": truncated length");
        }
        int len = d.getInt();
        if (len < 0 || len > d.remaining()) {
            throw new ProtocolException(what + ": length " + Integer.toUnsignedString(len)
                    + " exceeds the reply");
        }
        byte[] bytes = new byte[len];
        d.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private static String remainingString(ByteBuffer d) {
        byte[] bytes = new byte[d.remaining()];
        d.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private static byte[] encodeName(String exportName) {
        byte[] name = exportName.getBytes(StandardCharsets.UTF_8);
        if (name.length > Nbd.MAX_STRING) {
            throw new IllegalArgumentException("export name longer than " + Nbd.MAX_STRING + " bytes");
        }
        return name;
    }
}
