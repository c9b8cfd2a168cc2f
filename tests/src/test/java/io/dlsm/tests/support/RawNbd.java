package io.dlsm.tests.support;

import static io.dlsm.blockd.nbd.Nbd.*;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/** Just enough of an NBD client to misbehave precisely: fixed newstyle, simple replies. */
public final class RawNbd implements AutoCloseable {
    public final Socket socket;
    public final DataInputStream in;
    public final DataOutputStream out;
    private long nextCookie = 1_000_000;

    public RawNbd(Socket socket) throws IOException {
        this.socket = socket;
        socket.setSoTimeout(10_000);
        this.in = new DataInputStream(socket.getInputStream());
        this.out = new DataOutputStream(new java.io.BufferedOutputStream(socket.getOutputStream()));
    }

    public static RawNbd connect(BlockdProcess blockd) throws IOException {
        return new RawNbd(new Socket(InetAddress.getByName(blockd.nbdHost()), blockd.nbdPort()));
    }

    /** Greeting read and client flags sent: the server now waits for options. */
    public static RawNbd handshakeStart(BlockdProcess blockd) throws IOException {
        RawNbd c = connect(blockd);
        c.greet();
        return c;
    }

    /** Reads the greeting and sends the client flags. */
    public void greet() throws IOException {
        assertThat(in.readLong()).isEqualTo(NBDMAGIC);
        assertThat(in.readLong()).isEqualTo(IHAVEOPT);
        in.readUnsignedShort();
        out.writeInt(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
        out.flush();
    }

    /**
     * In transmission on {@code export} with a small socket receive buffer, so replies the
     * client does not read back up into the server quickly.
     */
    public static RawNbd transmissionWithReceiveBuffer(BlockdProcess blockd, String export, int receiveBuffer)
            throws IOException {
        Socket s = new Socket();
        s.setReceiveBufferSize(receiveBuffer);
        s.connect(new java.net.InetSocketAddress(InetAddress.getByName(blockd.nbdHost()), blockd.nbdPort()), 10_000);
        RawNbd c = new RawNbd(s);
        c.greet();
        c.go(export);
        return c;
    }

    public static RawNbd transmission(BlockdProcess blockd, String export) throws IOException {
        RawNbd c = handshakeStart(blockd);
        c.go(export);
        return c;
    }

    public void option(int option, byte[] data) throws IOException {
        out.writeLong(IHAVEOPT);
        out.writeInt(option);
        out.writeInt(data.length);
        out.write(data);
        out.flush();
    }

    /** Reads one option reply and returns its type. */
    public int optionReplyType(int expectedOption) throws IOException {
        assertThat(in.readLong()).isEqualTo(NBD_REP_MAGIC);
        assertThat(in.readInt()).isEqualTo(expectedOption);
        int type = in.readInt();
        in.readFully(new byte[in.readInt()]);
        return type;
    }

    public void go(String export) throws IOException {
        byte[] name = export.getBytes(StandardCharsets.UTF_8);
        byte[] data = java.nio.ByteBuffer.allocate(4 + name.length + 2).putInt(name.length).put(name)
                .putShort((short) 0).array();
        option(NBD_OPT_GO, data);
        int type;
        do {
            type = optionReplyType(NBD_OPT_GO);
            assertThat(type & NBD_REP_FLAG_ERROR).as("NBD_OPT_GO reply type 0x%x", type).isZero();
        } while (type != NBD_REP_ACK);
    }

    public void request(int flags, int type, long cookie, long offset, long length, byte[] payload) throws IOException {
        out.writeInt(NBD_REQUEST_MAGIC);
        out.writeShort(flags);
        out.writeShort(type);
        out.writeLong(cookie);
        out.writeLong(offset);
        out.writeInt((int) length);
        if (payload != null) {
            out.write(payload);
        }
        out.flush();
    }

    /** Reads a simple reply header for {@code cookie} and returns its error (0 = success). */
    public int simpleReplyError(long cookie) throws IOException {
        assertThat(in.readInt()).isEqualTo(NBD_SIMPLE_REPLY_MAGIC);
        int error = in.readInt();
        assertThat(in.readLong()).isEqualTo(cookie);
        return error;
    }

    public byte[] readAt(long offset, int length) throws IOException {
        long cookie = nextCookie++;
        request(0, NBD_CMD_READ, cookie, offset, length, null);
        assertThat(simpleReplyError(cookie)).as("read of %d at %d", length, offset).isZero();
        byte[] data = new byte[length];
        in.readFully(data);
        return data;
    }

    /** True when the server closes (EOF or reset) within the socket timeout, after any replies. */
    public boolean closedByServer() throws IOException {
        return drainUntilServerCloses();
    }

    public boolean drainUntilServerCloses() throws IOException {
        InputStream raw = in;
        byte[] sink = new byte[65536];
        try {
            while (raw.read(sink) >= 0) {
                // Replies to whatever the server managed to parse are discarded.
            }
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (EOFException | SocketException e) {
            return true;
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
