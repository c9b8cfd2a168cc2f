package io.dlsm.blockd.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** The existing codec records against bytes written out by hand from the NBD spec. */
class CodecGoldenBytesTest {
    private static final HexFormat HEX = HexFormat.of();

    /** READ, flags FUA|DF, cookie 0x0102030405060708, offset 4096, length 65536. */
    private static final String READ_REQUEST =
            "25609513" + "0005" + "0000" + "0102030405060708" + "0000000000001000" + "00010000";

    @Test
    void requestEncodesToKnownBytes() {
        Request r = new Request(Nbd.NBD_CMD_FLAG_FUA | Nbd.NBD_CMD_FLAG_DF, Nbd.NBD_CMD_READ,
                0x0102030405060708L, 4096, 65536);
        assertThat(HEX.formatHex(bytes(r.encode()))).isEqualTo(READ_REQUEST);
    }

    @Test
    void requestDecodesKnownBytesIncludingUnsignedFields() throws Exception {
        String hex = "25609513" + "ffff" + "0007" + "ffffffffffffffff" + "8000000000000000" + "ffffffff";
        Request r = Request.decode(ByteBuffer.wrap(HEX.parseHex(hex)));
        assertThat(r.flags()).isEqualTo(0xffff);
        assertThat(r.type()).isEqualTo(Nbd.NBD_CMD_BLOCK_STATUS);
        assertThat(r.cookie()).isEqualTo(-1L);
        assertThat(r.offset()).isEqualTo(Long.MIN_VALUE);
        assertThat(r.length()).isEqualTo(0xffffffffL);
    }

    @Test
    void requestSplitIntoOneByteReadsStillDecodes() throws Exception {
        ReadableByteChannel oneByteAtATime = new TricklingChannel(
                new LoopbackByteChannel(HEX.parseHex(READ_REQUEST + READ_REQUEST)), 1);
        for (int i = 0; i < 2; i++) {
            ByteBuffer frame = ByteBuffer.allocate(Nbd.REQUEST_HEADER_SIZE);
            io.dlsm.blockd.nbd.Channels.readFully(oneByteAtATime, frame);
            Request r = Request.decode(frame.flip());
            assertThat(r.cookie()).isEqualTo(0x0102030405060708L);
            assertThat(r.length()).isEqualTo(65536);
        }
    }

    @Test
    void truncatedFrameIsEof() {
        ReadableByteChannel ch = new TricklingChannel(new LoopbackByteChannel(HEX.parseHex("2560951300")), 1);
        ByteBuffer frame = ByteBuffer.allocate(Nbd.REQUEST_HEADER_SIZE);
        assertThatThrownBy(() -> io.dlsm.blockd.nbd.Channels.readFully(ch, frame))
                .isInstanceOf(EOFException.class)
                .hasMessageContaining("23 bytes");
    }

    @Test
    void badMagicsAreProtocolErrors() {
        byte[] badRequest = HEX.parseHex("25609514" + READ_REQUEST.substring(8));
        assertThatThrownBy(() -> Request.decode(ByteBuffer.wrap(badRequest)))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("0x25609514");
        assertThatThrownBy(() -> ReplyHeader.headerSize(0x12345678))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("0x12345678");
        assertThatThrownBy(() -> OptionHeader.decode(ByteBuffer.wrap(new byte[16])))
                .isInstanceOf(ProtocolException.class);
        assertThatThrownBy(() -> OptionReplyHeader.decode(ByteBuffer.wrap(new byte[20])))
                .isInstanceOf(ProtocolException.class);
    }

    @Test
    void replyHeadersRoundTripKnownBytes() throws Exception {
        String simple = "67446698" + "0000001c" + "00000000000000ff";
        ReplyHeader s = ReplyHeader.decode(ByteBuffer.wrap(HEX.parseHex(simple)));
        assertThat(s).isEqualTo(new ReplyHeader.Simple(28, 255));
        assertThat(ReplyHeader.headerSize(Nbd.NBD_SIMPLE_REPLY_MAGIC)).isEqualTo(16);

        String chunk = "668e33ef" + "0001" + "8002" + "0000000000000007" + "0000000e";
        ReplyHeader c = ReplyHeader.decode(ByteBuffer.wrap(HEX.parseHex(chunk)));
        assertThat(c).isEqualTo(new ReplyHeader.Structured(1, Nbd.NBD_REPLY_TYPE_ERROR_OFFSET, 7, 14));
        ReplyHeader.Structured sc = (ReplyHeader.Structured) c;
        assertThat(sc.done()).isTrue();
        assertThat(sc.isError()).isTrue();
        ByteBuffer out = ByteBuffer.allocate(20);
        sc.encode(out);
        assertThat(HEX.formatHex(out.array())).isEqualTo(chunk);
    }

    @Test
    void optionHeadersRoundTripKnownBytes() throws Exception {
        ByteBuffer out = ByteBuffer.allocate(OptionHeader.SIZE);
        new OptionHeader(Nbd.NBD_OPT_GO, 12).encode(out);
        assertThat(HEX.formatHex(out.array())).isEqualTo("49484156454f5054" + "00000007" + "0000000c");

        String reply = "0003e889045565a9" + "00000007" + "80000006" + "00000010";
        OptionReplyHeader h = OptionReplyHeader.decode(ByteBuffer.wrap(HEX.parseHex(reply)));
        assertThat(h).isEqualTo(new OptionReplyHeader(Nbd.NBD_OPT_GO, Nbd.NBD_REP_ERR_UNKNOWN, 16));
        assertThat(h.isError()).isTrue();
    }

    @Test
    void writeAllWritesEveryBufferInOrderOnAPlainChannel() throws Exception {
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        io.dlsm.blockd.nbd.Channels.writeAll(Channels.newChannel(sink),
                ByteBuffer.wrap(new byte[] {1, 2}), ByteBuffer.allocate(0), ByteBuffer.wrap(new byte[] {3}));
        assertThat(sink.toByteArray()).containsExactly(1, 2, 3);
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] a = new byte[b.remaining()];
        b.get(a);
        return a;
    }

    /** A readable byte channel over fixed bytes that also satisfies ByteChannel for trickling. */
    private static final class LoopbackByteChannel implements java.nio.channels.ByteChannel {
        private final ReadableByteChannel in;

        LoopbackByteChannel(byte[] data) {
            this.in = Channels.newChannel(new ByteArrayInputStream(data));
        }

        @Override
        public int read(ByteBuffer dst) throws java.io.IOException {
            return in.read(dst);
        }

        @Override
        public int write(ByteBuffer src) {
            throw new UnsupportedOperationException();
        }

        @Override
        public boolean isOpen() {
            return in.isOpen();
        }

        @Override
        public void close() throws java.io.IOException {
            in.close();
        }
    }
}
