package io.dlsm.blockd.sink;

import io.dlsm.blockd.nbd.Channels;
import io.dlsm.blockd.nbd.Nbd;
import io.dlsm.blockd.nbd.OptionHeader;
import io.dlsm.blockd.nbd.OptionReplyHeader;
import io.dlsm.blockd.nbd.ProtocolException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.net.Socket;
import java.nio.channels.ByteChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * Asks a source whether its volume export is offered read-only, with {@code NBD_OPT_INFO}:
 * unlike {@code NBD_OPT_GO} it never enters transmission, so the probe is not counted as a
 * writer of the source and its disconnect cannot fire the source's automatic fence.
 */
final class FenceProbe {
    private static final int TIMEOUT_MS = 10_000;

    private FenceProbe() {
    }

    static boolean readOnly(String host, int port, String export) throws IOException {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), TIMEOUT_MS);
            // Stream-backed channels honour the read timeout; a hung source cannot stall activation.
            socket.setSoTimeout(TIMEOUT_MS);
            ByteChannel ch = new StreamChannel(socket);
            ByteBuffer greeting = read(ch, 18);
            if (greeting.getLong() != Nbd.NBDMAGIC || greeting.getLong() != Nbd.IHAVEOPT) {
                throw new ProtocolException("not a fixed-newstyle NBD server at " + host + ":" + port);
            }
            int serverFlags = Short.toUnsignedInt(greeting.getShort());
            int clientFlags = Nbd.NBD_FLAG_C_FIXED_NEWSTYLE
                    | ((serverFlags & Nbd.NBD_FLAG_NO_ZEROES) != 0 ? Nbd.NBD_FLAG_C_NO_ZEROES : 0);
            byte[] name = export.getBytes(StandardCharsets.UTF_8);
            ByteBuffer out = ByteBuffer.allocate(4 + OptionHeader.SIZE + 4 + name.length + 2);
            out.putInt(clientFlags);
            new OptionHeader(Nbd.NBD_OPT_INFO, 4 + name.length + 2).encode(out);
            out.putInt(name.length).put(name).putShort((short) 0).flip();
            Channels.writeFully(ch, out);
            Boolean readOnly = null;
            while (true) {
                OptionReplyHeader h = OptionReplyHeader.decode(read(ch, OptionReplyHeader.SIZE));
                if (h.length() > 1 << 16) {
                    throw new ProtocolException("option reply of " + h.length() + " bytes");
                }
                ByteBuffer data = read(ch, (int) h.length());
                if (h.isError()) {
                    throw new IOException("source refused NBD_OPT_INFO for '" + export + "': "
                            + StandardCharsets.UTF_8.decode(data));
                }
                if (h.replyType() == Nbd.NBD_REP_ACK) {
                    break;
                }
                if (h.replyType() == Nbd.NBD_REP_INFO && data.remaining() >= 12
                        && Short.toUnsignedInt(data.getShort()) == Nbd.NBD_INFO_EXPORT) {
                    data.getLong();
                    readOnly = (Short.toUnsignedInt(data.getShort()) & Nbd.NBD_FLAG_READ_ONLY) != 0;
                }
            }
            ByteBuffer abort = ByteBuffer.allocate(OptionHeader.SIZE);
            new OptionHeader(Nbd.NBD_OPT_ABORT, 0).encode(abort);
            Channels.writeFully(ch, abort.flip());
            if (readOnly == null) {
                throw new ProtocolException("source sent no NBD_INFO_EXPORT for '" + export + "'");
            }
            return readOnly;
        }
    }

    private static ByteBuffer read(ByteChannel ch, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        Channels.readFully(ch, b);
        return b.flip();
    }

    /** The socket's streams as one channel. */
    private static final class StreamChannel implements ByteChannel {
        private final ReadableByteChannel in;
        private final WritableByteChannel out;

        StreamChannel(Socket s) throws IOException {
            this.in = java.nio.channels.Channels.newChannel(s.getInputStream());
            this.out = java.nio.channels.Channels.newChannel(s.getOutputStream());
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            return in.read(dst);
        }

        @Override
        public int write(ByteBuffer src) throws IOException {
            return out.write(src);
        }

        @Override
        public boolean isOpen() {
            return in.isOpen();
        }

        @Override
        public void close() throws IOException {
            in.close();
            out.close();
        }
    }
}
