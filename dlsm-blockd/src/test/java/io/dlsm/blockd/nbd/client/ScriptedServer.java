package io.dlsm.blockd.nbd.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.nbd.Channels;
import io.dlsm.blockd.nbd.Nbd;
import io.dlsm.blockd.nbd.ReplyHeader;
import io.dlsm.blockd.nbd.Request;
import java.io.Closeable;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.HexFormat;

/**
 * The server end of one loopback connection, driven step by step by a test: it checks the
 * exact bytes the client sends and answers with bytes the test spells out.
 */
final class ScriptedServer implements Closeable {
    static final HexFormat HEX = HexFormat.of();

    private final ServerSocketChannel listener;
    private SocketChannel peer;

    ScriptedServer() throws IOException {
        listener = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    }

    InetSocketAddress address() throws IOException {
        return (InetSocketAddress) listener.getLocalAddress();
    }

    /** The client end, already connected; the server end is accepted. */
    SocketChannel connectClient() throws IOException {
        SocketChannel client = SocketChannel.open(address());
        peer = listener.accept();
        return client;
    }

    void accept() throws IOException {
        peer = listener.accept();
    }

    /** Reads exactly the given bytes from the client and fails the test on any difference. */
    void expect(String hex) throws IOException {
        byte[] want = HEX.parseHex(hex.replace(" ", ""));
        ByteBuffer got = ByteBuffer.allocate(want.length);
        Channels.readFully(peer, got);
        assertThat(HEX.formatHex(got.array())).isEqualTo(HEX.formatHex(want));
    }

    void send(String hex) throws IOException {
        send(HEX.parseHex(hex.replace(" ", "")));
    }

    void send(byte[] bytes) throws IOException {
        Channels.writeFully(peer, ByteBuffer.wrap(bytes));
    }

    Request readRequest() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(Nbd.REQUEST_HEADER_SIZE);
        Channels.readFully(peer, b);
        return Request.decode(b.flip());
    }

    byte[] readPayload(int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        Channels.readFully(peer, b);
        return b.array();
    }

    void sendSimple(long cookie, int error, byte[] data) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(Nbd.SIMPLE_REPLY_HEADER_SIZE + data.length);
        new ReplyHeader.Simple(error, cookie).encode(b);
        send(b.put(data).array());
    }

    void sendChunk(long cookie, int type, boolean done, byte[] payload) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(Nbd.STRUCTURED_REPLY_HEADER_SIZE + payload.length);
        new ReplyHeader.Structured(done ? Nbd.NBD_REPLY_FLAG_DONE : 0, type, cookie, payload.length).encode(b);
        send(b.put(payload).array());
    }

    void sendData(long cookie, long offset, byte[] data, boolean done) throws IOException {
        sendChunk(cookie, Nbd.NBD_REPLY_TYPE_OFFSET_DATA, done,
                ByteBuffer.allocate(8 + data.length).putLong(offset).put(data).array());
    }

    void sendHole(long cookie, long offset, int length, boolean done) throws IOException {
        sendChunk(cookie, Nbd.NBD_REPLY_TYPE_OFFSET_HOLE, done,
                ByteBuffer.allocate(12).putLong(offset).putInt(length).array());
    }

    void sendError(long cookie, int type, int wireError, String message, long offset) throws IOException {
        byte[] m = message.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(6 + m.length + (type == Nbd.NBD_REPLY_TYPE_ERROR_OFFSET ? 8 : 0));
        b.putInt(wireError).putShort((short) m.length).put(m);
        if (type == Nbd.NBD_REPLY_TYPE_ERROR_OFFSET) {
            b.putLong(offset);
        }
        sendChunk(cookie, type, true, b.array());
    }

    /** Closes only the connection, as a crashing server would. */
    void dropConnection() throws IOException {
        peer.close();
    }

    @Override
    public void close() throws IOException {
        if (peer != null) {
            peer.close();
        }
        listener.close();
    }
}
