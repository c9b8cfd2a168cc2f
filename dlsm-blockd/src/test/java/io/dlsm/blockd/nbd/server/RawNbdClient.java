package io.dlsm.blockd.nbd.server;

import static io.dlsm.blockd.nbd.Nbd.*;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.Closeable;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/**
 * A deliberately dumb NBD client for server tests: it writes exactly the bytes a test asks
 * for and decodes replies by hand, independently of the production codec, so a test states
 * the wire layout it expects. Reads go through the socket adaptor because, unlike a blocking
 * channel read, it honours SO_TIMEOUT: a server that stays silent fails the test instead of
 * hanging it. Its session-level calls are public so that volume and daemon tests can use a real connection.
 */
public final class RawNbdClient implements Closeable {
    private static final int READ_TIMEOUT_MILLIS = 10_000;

    private final SocketChannel ch;
    private final DataInputStream in;
    /** Set by {@link #go}: what the server announced for the chosen export. */
    private long exportSize;
    private int transmissionFlags;

    private RawNbdClient(SocketChannel ch) throws IOException {
        this.ch = ch;
        ch.socket().setSoTimeout(READ_TIMEOUT_MILLIS);
        this.in = new DataInputStream(ch.socket().getInputStream());
    }

    static RawNbdClient connect(InetSocketAddress server) throws IOException {
        return new RawNbdClient(SocketChannel.open(server));
    }

    /**
     * Greeting, client flags with NO_ZEROES, optionally structured replies and
     * base:allocation, then NBD_OPT_GO: the client is in transmission when this returns.
     */
    public static RawNbdClient open(InetSocketAddress server, String export, boolean structured,
                             boolean allocation) throws IOException {
        RawNbdClient c = connect(server);
        c.readGreeting();
        c.sendClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
        if (structured) {
            c.sendOption(NBD_OPT_STRUCTURED_REPLY, new byte[0]);
            assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ACK);
        }
        if (allocation) {
            c.sendOption(NBD_OPT_SET_META_CONTEXT, metaContextData(export, BASE_ALLOCATION));
            assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_META_CONTEXT);
            assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ACK);
        }
        c.go(export);
        return c;
    }

    // --- handshake ---

    record Greeting(long magic, long optionMagic, int flags) {
    }

    record OptionReply(long magic, int option, int type, byte[] data) {
        ByteBuffer payload() {
            return ByteBuffer.wrap(data);
        }

        String text() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    Greeting readGreeting() throws IOException {
        return new Greeting(in.readLong(), in.readLong(), in.readUnsignedShort());
    }

    void sendClientFlags(int flags) throws IOException {
        send(ByteBuffer.allocate(4).putInt(flags).flip());
    }

    void sendOption(int option, byte[] data) throws IOException {
        sendOptionHeader(IHAVEOPT, option, data.length);
        send(ByteBuffer.wrap(data));
    }

    void sendOptionHeader(long magic, int option, long announcedLength) throws IOException {
        send(ByteBuffer.allocate(16).putLong(magic).putInt(option).putInt((int) announcedLength).flip());
    }

    OptionReply readOptionReply() throws IOException {
        long magic = in.readLong();
        int option = in.readInt();
        int type = in.readInt();
        byte[] data = new byte[in.readInt()];
        in.readFully(data);
        return new OptionReply(magic, option, type, data);
    }

    /** NBD_OPT_GO for {@code export}; asserts the INFO_EXPORT + ACK answer and remembers it. */
    void go(String export) throws IOException {
        sendOption(NBD_OPT_GO, goData(export));
        OptionReply info = readOptionReply();
        assertThat(info.type()).as("reply to NBD_OPT_GO: %s", info.text()).isEqualTo(NBD_REP_INFO);
        ByteBuffer p = info.payload();
        assertThat(p.getShort()).isEqualTo((short) NBD_INFO_EXPORT);
        exportSize = p.getLong();
        transmissionFlags = Short.toUnsignedInt(p.getShort());
        assertThat(readOptionReply().type()).isEqualTo(NBD_REP_ACK);
    }

    public long exportSize() {
        return exportSize;
    }

    int transmissionFlags() {
        return transmissionFlags;
    }

    /** Data of NBD_OPT_GO / NBD_OPT_INFO: name length, name, information requests. */
    static byte[] goData(String export, int... infoRequests) {
        byte[] name = export.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + name.length + 2 + 2 * infoRequests.length);
        b.putInt(name.length).put(name).putShort((short) infoRequests.length);
        for (int r : infoRequests) {
            b.putShort((short) r);
        }
        return b.array();
    }

    /** Data of NBD_OPT_{LIST,SET}_META_CONTEXT: export name, then the queries. */
    static byte[] metaContextData(String export, String... queries) {
        byte[] name = export.getBytes(StandardCharsets.UTF_8);
        int size = 4 + name.length + 4;
        for (String q : queries) {
            size += 4 + q.getBytes(StandardCharsets.UTF_8).length;
        }
        ByteBuffer b = ByteBuffer.allocate(size).putInt(name.length).put(name).putInt(queries.length);
        for (String q : queries) {
            byte[] qb = q.getBytes(StandardCharsets.UTF_8);
            b.putInt(qb.length).put(qb);
        }
        return b.array();
    }

    // --- transmission ---

    record SimpleReply(int magic, int error, long cookie, byte[] data) {
    }

    record Chunk(int magic, int flags, int type, long cookie, byte[] payload) {
        ByteBuffer body() {
            return ByteBuffer.wrap(payload);
        }

        boolean done() {
            return (flags & NBD_REPLY_FLAG_DONE) != 0;
        }
    }

    void request(int flags, int type, long cookie, long offset, long length) throws IOException {
        send(requestHeader(flags, type, cookie, offset, length));
    }

    void write(long cookie, long offset, byte[] data, int flags) throws IOException {
        send(requestHeader(flags, NBD_CMD_WRITE, cookie, offset, data.length), ByteBuffer.wrap(data));
    }

    static ByteBuffer requestHeader(int flags, int type, long cookie, long offset, long length) {
        return ByteBuffer.allocate(REQUEST_HEADER_SIZE).putInt(NBD_REQUEST_MAGIC).putShort((short) flags)
                .putShort((short) type).putLong(cookie).putLong(offset).putInt((int) length).flip();
    }

    /** A simple reply; {@code dataLength} bytes follow it only when it reports success. */
    SimpleReply readSimpleReply(int dataLength) throws IOException {
        int magic = in.readInt();
        int error = in.readInt();
        long cookie = in.readLong();
        byte[] data = new byte[error == 0 ? dataLength : 0];
        in.readFully(data);
        return new SimpleReply(magic, error, cookie, data);
    }

    Chunk readChunk() throws IOException {
        int magic = in.readInt();
        int flags = in.readUnsignedShort();
        int type = in.readUnsignedShort();
        long cookie = in.readLong();
        byte[] payload = new byte[in.readInt()];
        in.readFully(payload);
        return new Chunk(magic, flags, type, cookie, payload);
    }

    /** Writes a request, expects a successful simple reply to it. */
    public void writeOk(long offset, byte[] data) throws IOException {
        write(offset, offset, data, 0);
        SimpleReply r = readSimpleReply(0);
        assertThat(r.error()).as("error of write at %d", offset).isZero();
        assertThat(r.cookie()).isEqualTo(offset);
    }

    /** Reads with simple replies, expecting success. */
    public byte[] readOk(long offset, int length) throws IOException {
        request(0, NBD_CMD_READ, offset, offset, length);
        SimpleReply r = readSimpleReply(length);
        assertThat(r.error()).as("error of read at %d", offset).isZero();
        return r.data();
    }

    byte[] readExactly(int n) throws IOException {
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }

    void send(ByteBuffer... parts) throws IOException {
        for (ByteBuffer p : parts) {
            while (p.hasRemaining()) {
                ch.write(p);
            }
        }
    }

    void send(byte[] bytes) throws IOException {
        send(ByteBuffer.wrap(bytes));
    }

    /** Tells the server no more bytes will come, so it sees EOF wherever it is reading. */
    void shutdownOutput() throws IOException {
        ch.shutdownOutput();
    }

    /**
     * True once the server has closed its end: EOF or a reset after draining whatever it
     * still had to say. Fails the read with a timeout if the server keeps the socket open.
     */
    boolean closedByServer() throws IOException {
        byte[] sink = new byte[64 * 1024];
        try {
            while (in.read(sink) >= 0) {
                // discard replies the server sent before closing
            }
            return true;
        } catch (EOFException | SocketException e) {
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        }
    }

    @Override
    public void close() throws IOException {
        ch.close();
    }
}
