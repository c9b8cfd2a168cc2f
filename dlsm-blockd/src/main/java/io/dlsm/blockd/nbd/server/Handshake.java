package io.dlsm.blockd.nbd.server;

import static io.dlsm.blockd.nbd.Nbd.*;

import io.dlsm.blockd.nbd.Channels;
import io.dlsm.blockd.nbd.OptionHeader;
import io.dlsm.blockd.nbd.OptionReplyHeader;
import io.dlsm.blockd.nbd.ProtocolException;
import io.dlsm.blockd.tls.NodeTls;
import io.dlsm.blockd.tls.TlsMode;
import java.io.IOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server side of the fixed-newstyle handshake: option haggling until NBD_OPT_GO or
 * NBD_OPT_EXPORT_NAME picks an export. Every length read from the client is bounded before
 * anything is allocated; a malformed option gets an error reply where the protocol allows
 * one, and ends the connection where it does not.
 *
 * <p>With TLS configured the server offers NBD_OPT_STARTTLS: it answers NBD_REP_ACK, runs the
 * TLS handshake (which checks the client's certificate) and goes on haggling inside TLS,
 * forgetting whatever was negotiated in the clear. In {@link TlsMode#REQUIRE} every option but
 * STARTTLS and ABORT gets NBD_REP_ERR_TLS_REQD until then, and NBD_OPT_EXPORT_NAME, which has
 * no error reply, ends the connection, as the protocol asks of a TLS-only server.
 */
final class Handshake {
    private static final Logger log = LoggerFactory.getLogger(Handshake.class);
    /** base:allocation is the only context we offer; ids are per connection, 1 is ours. */
    static final int ALLOCATION_CONTEXT_ID = 1;
    /** A client that haggles longer than this is not a real client. */
    private static final int MAX_OPTIONS = 256;
    private static final int MAX_QUERIES = 64;

    private final PeerSocket ch;
    private final ExportRegistry exports;
    private final String peer;
    /** Null when the server was started without TLS. */
    private final NodeTls tls;
    private boolean noZeroes;
    private boolean structured;
    /** Export name the meta context was selected for; contexts only apply to that export. */
    private String metaContextExport;
    private boolean allocationSelected;

    Handshake(PeerSocket ch, ExportRegistry exports, String peer, Optional<NodeTls> tls) {
        this.ch = ch;
        this.exports = exports;
        this.peer = peer;
        this.tls = tls.orElse(null);
    }

    /** The negotiated session, or empty when the client aborted or asked for nothing. */
    Optional<Session> run() throws IOException {
        ByteBuffer greeting = ByteBuffer.allocate(18);
        greeting.putLong(NBDMAGIC).putLong(IHAVEOPT)
                .putShort((short) (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES)).flip();
        Channels.writeFully(ch, greeting);

        ByteBuffer clientFlags = ByteBuffer.allocate(4);
        Channels.readFully(ch, clientFlags);
        int cflags = clientFlags.flip().getInt();
        if ((cflags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) != 0) {
            throw new ProtocolException(String.format("unknown client flags 0x%x", cflags));
        }
        noZeroes = (cflags & NBD_FLAG_C_NO_ZEROES) != 0;

        for (int i = 0; i < MAX_OPTIONS; i++) {
            ByteBuffer hb = ByteBuffer.allocate(OptionHeader.SIZE);
            Channels.readFully(ch, hb);
            OptionHeader h = OptionHeader.decode(hb.flip());
            if (h.length() > MAX_OPTION_LENGTH) {
                throw new ProtocolException("option " + h.option() + " carries " + h.length()
                        + " bytes, more than the " + MAX_OPTION_LENGTH + " allowed");
            }
            ByteBuffer data = ByteBuffer.allocate((int) h.length());
            Channels.readFully(ch, data);
            data.flip();
            Optional<Session> done;
            try {
                done = handle(h.option(), data);
            } catch (BufferUnderflowException e) {
                reply(h.option(), NBD_REP_ERR_INVALID, message("option data is truncated"));
                continue;
            }
            if (done == null) {
                continue;
            }
            return done;
        }
        throw new ProtocolException("more than " + MAX_OPTIONS + " options without choosing an export");
    }

    /** null = keep haggling; empty = client aborted; present = transmission starts. */
    private Optional<Session> handle(int option, ByteBuffer data) throws IOException {
        if (tls != null && tls.mode() == TlsMode.REQUIRE && !ch.tlsActive()
                && option != NBD_OPT_STARTTLS && option != NBD_OPT_ABORT) {
            if (option == NBD_OPT_EXPORT_NAME) {
                // No error reply exists for this option: the protocol says to hang up.
                throw new ProtocolException("client sent NBD_OPT_EXPORT_NAME without TLS; this server requires"
                        + " NBD_OPT_STARTTLS first");
            }
            reply(option, NBD_REP_ERR_TLS_REQD, message("this server requires TLS: send NBD_OPT_STARTTLS first"));
            return null;
        }
        switch (option) {
            case NBD_OPT_EXPORT_NAME -> {
                String name = string(data, data.remaining());
                Export export = exports.lookup(name).orElse(null);
                if (export == null) {
                    // This option has no error reply: the protocol says to hang up.
                    throw new ProtocolException("client asked for unknown export '" + name + "'");
                }
                ByteBuffer r = ByteBuffer.allocate(10 + (noZeroes ? 0 : EXPORT_NAME_REPLY_PADDING));
                r.putLong(export.device().size()).putShort((short) export.transmissionFlags(structured));
                r.position(r.limit()).flip();
                Channels.writeFully(ch, r);
                return Optional.of(session(export));
            }
            case NBD_OPT_ABORT -> {
                reply(option, NBD_REP_ACK, empty());
                return Optional.empty();
            }
            case NBD_OPT_LIST -> {
                if (data.hasRemaining()) {
                    reply(option, NBD_REP_ERR_INVALID, message("NBD_OPT_LIST takes no data"));
                    return null;
                }
                for (String name : exports.listedNames()) {
                    byte[] n = name.getBytes(StandardCharsets.UTF_8);
                    ByteBuffer b = ByteBuffer.allocate(4 + n.length).putInt(n.length).put(n).flip();
                    reply(option, NBD_REP_SERVER, b);
                }
                reply(option, NBD_REP_ACK, empty());
                return null;
            }
            case NBD_OPT_STRUCTURED_REPLY -> {
                if (data.hasRemaining()) {
                    reply(option, NBD_REP_ERR_INVALID, message("NBD_OPT_STRUCTURED_REPLY takes no data"));
                    return null;
                }
                structured = true;
                reply(option, NBD_REP_ACK, empty());
                return null;
            }
            case NBD_OPT_INFO, NBD_OPT_GO -> {
                return info(option, data);
            }
            case NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT -> {
                metaContext(option, data);
                return null;
            }
            case NBD_OPT_STARTTLS -> {
                startTls(option, data);
                return null;
            }
            default -> {
                reply(option, NBD_REP_ERR_UNSUP, message("option " + option + " is not supported"));
                return null;
            }
        }
    }

    private void startTls(int option, ByteBuffer data) throws IOException {
        if (tls == null) {
            reply(option, NBD_REP_ERR_POLICY, message("TLS is not offered by this server (started without --tls-cert)"));
            return;
        }
        if (ch.tlsActive()) {
            reply(option, NBD_REP_ERR_INVALID, message("TLS is already on"));
            return;
        }
        if (data.hasRemaining()) {
            reply(option, NBD_REP_ERR_INVALID, message("NBD_OPT_STARTTLS takes no data"));
            return;
        }
        reply(option, NBD_REP_ACK, empty());
        ch.startTls(tls.serverEngine());
        // Options negotiated in the clear could have been injected by anyone on the path.
        structured = false;
        metaContextExport = null;
        allocationSelected = false;
        if (log.isDebugEnabled()) {
            SSLSession s = ch.tlsSession();
            log.debug("{}: TLS {} {} with client {}", peer, s.getProtocol(), s.getCipherSuite(),
                    s.getPeerPrincipal().getName());
        }
    }

    private Optional<Session> info(int option, ByteBuffer data) throws IOException {
        long nameLength = Integer.toUnsignedLong(data.getInt());
        if (nameLength > MAX_STRING || nameLength > data.remaining()) {
            reply(option, NBD_REP_ERR_INVALID, message("export name length " + nameLength + " is invalid"));
            return null;
        }
        String name = string(data, (int) nameLength);
        int count = Short.toUnsignedInt(data.getShort());
        if (data.remaining() != count * 2) {
            reply(option, NBD_REP_ERR_INVALID, message("information request list has the wrong length"));
            return null;
        }
        boolean wantBlockSize = false;
        boolean wantName = false;
        for (int i = 0; i < count; i++) {
            int type = Short.toUnsignedInt(data.getShort());
            wantBlockSize |= type == NBD_INFO_BLOCK_SIZE;
            wantName |= type == NBD_INFO_NAME;
        }
        Optional<Export> found = exports.lookup(name);
        if (found.isEmpty()) {
            reply(option, NBD_REP_ERR_UNKNOWN, message("no export named '" + name + "'"));
            return null;
        }
        Export export = found.get();
        ByteBuffer exp = ByteBuffer.allocate(12).putShort((short) NBD_INFO_EXPORT)
                .putLong(export.device().size()).putShort((short) export.transmissionFlags(structured));
        reply(option, NBD_REP_INFO, exp.flip());
        if (wantName) {
            byte[] n = name.getBytes(StandardCharsets.UTF_8);
            reply(option, NBD_REP_INFO, ByteBuffer.allocate(2 + n.length)
                    .putShort((short) NBD_INFO_NAME).put(n).flip());
        }
        if (wantBlockSize) {
            ByteBuffer bs = ByteBuffer.allocate(14).putShort((short) NBD_INFO_BLOCK_SIZE)
                    .putInt(1).putInt(PREFERRED_BLOCK_SIZE).putInt(MAX_PAYLOAD);
            reply(option, NBD_REP_INFO, bs.flip());
        }
        reply(option, NBD_REP_ACK, empty());
        return option == NBD_OPT_GO ? Optional.of(session(export)) : null;
    }

    private void metaContext(int option, ByteBuffer data) throws IOException {
        boolean set = option == NBD_OPT_SET_META_CONTEXT;
        if (set && !structured) {
            reply(option, NBD_REP_ERR_INVALID, message("negotiate NBD_OPT_STRUCTURED_REPLY first"));
            return;
        }
        long nameLength = Integer.toUnsignedLong(data.getInt());
        if (nameLength > MAX_STRING || nameLength > data.remaining()) {
            reply(option, NBD_REP_ERR_INVALID, message("export name length " + nameLength + " is invalid"));
            return;
        }
        String name = string(data, (int) nameLength);
        long queryCount = Integer.toUnsignedLong(data.getInt());
        if (queryCount > MAX_QUERIES) {
            reply(option, NBD_REP_ERR_TOO_BIG, message("at most " + MAX_QUERIES + " queries"));
            return;
        }
        List<String> queries = new ArrayList<>();
        for (int i = 0; i < queryCount; i++) {
            long len = Integer.toUnsignedLong(data.getInt());
            if (len > MAX_STRING || len > data.remaining()) {
                reply(option, NBD_REP_ERR_INVALID, message("query length " + len + " is invalid"));
                return;
            }
            queries.add(string(data, (int) len));
        }
        if (data.hasRemaining()) {
            reply(option, NBD_REP_ERR_INVALID, message("trailing bytes after the queries"));
            return;
        }
        if (exports.lookup(name).isEmpty()) {
            reply(option, NBD_REP_ERR_UNKNOWN, message("no export named '" + name + "'"));
            return;
        }
        boolean match = set
                ? queries.contains(BASE_ALLOCATION)
                : queries.isEmpty() || queries.stream().anyMatch(
                        q -> q.equals(BASE_ALLOCATION) || q.equals("base:"));
        if (set) {
            metaContextExport = name;
            allocationSelected = match;
        }
        if (match) {
            byte[] ctx = BASE_ALLOCATION.getBytes(StandardCharsets.UTF_8);
            reply(option, NBD_REP_META_CONTEXT, ByteBuffer.allocate(4 + ctx.length)
                    .putInt(ALLOCATION_CONTEXT_ID).put(ctx).flip());
        }
        reply(option, NBD_REP_ACK, empty());
    }

    private Session session(Export export) {
        boolean allocation = allocationSelected && export.name().equals(metaContextExport);
        log.debug("{}: export {} structured={} base:allocation={}", peer, export.name(), structured, allocation);
        return new Session(export, structured, allocation ? ALLOCATION_CONTEXT_ID : 0);
    }

    private void reply(int option, int type, ByteBuffer data) throws IOException {
        ByteBuffer h = ByteBuffer.allocate(OptionReplyHeader.SIZE);
        new OptionReplyHeader(option, type, data.remaining()).encode(h);
        Channels.writeFully(ch, h.flip());
        Channels.writeFully(ch, data);
    }

    private static String string(ByteBuffer data, int length) throws ProtocolException {
        if (length > MAX_STRING) {
            throw new ProtocolException("string of " + length + " bytes exceeds " + MAX_STRING);
        }
        byte[] b = new byte[length];
        data.get(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    private static ByteBuffer message(String text) {
        return ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
    }

    private static ByteBuffer empty() {
        return ByteBuffer.allocate(0);
    }
}
