package io.dlsm.blockd.nbd.server;

import static io.dlsm.blockd.nbd.Nbd.*;
import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.block.Capabilities;
import io.dlsm.blockd.nbd.server.RawNbdClient.OptionReply;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The fixed-newstyle handshake, byte by byte, against a real server on loopback. */
@Timeout(60)
class HandshakeTest {
    private static final int SIZE = 64 * 1024;
    /** Flush, FUA and write-zeroes but no trim, fast zero or multi-conn: every flag is decided. */
    private static final Capabilities SOME = new Capabilities(false, true, true, false, true, false, true, false);
    private static final int SOME_FLAGS = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA
            | NBD_FLAG_SEND_WRITE_ZEROES;

    private NbdServerFixture server;

    @BeforeEach
    void startServer() throws Exception {
        server = new NbdServerFixture();
        server.export("beta", new MemoryBlockDevice(SIZE, SOME));
        server.export("alpha", new MemoryBlockDevice(SIZE, SOME));
    }

    @AfterEach
    void stopServer() throws Exception {
        server.close();
    }

    /** A client past greeting and client flags, ready to send options. */
    private RawNbdClient haggling(int clientFlags) throws Exception {
        RawNbdClient c = server.connect();
        c.readGreeting();
        c.sendClientFlags(clientFlags);
        return c;
    }

    private RawNbdClient haggling() throws Exception {
        return haggling(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    }

    private static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }

    @Test
    void greetingIsNbdmagicIhaveoptAndFixedNewstyleWithNoZeroes() throws Exception {
        RawNbdClient c = server.connect();
        assertThat(hex(c.readExactly(18))).isEqualTo("4e42444d41474943" + "49484156454f5054" + "0003");
    }

    @Test
    void goAnswersExportInfoThenBlockSizeThenAck() throws Exception {
        RawNbdClient c = haggling();
        c.sendOption(NBD_OPT_GO, RawNbdClient.goData("alpha", NBD_INFO_BLOCK_SIZE));

        // Reply header: NBD_REP_MAGIC, option 7, NBD_REP_INFO, length 12.
        assertThat(hex(c.readExactly(20))).isEqualTo("0003e889045565a9" + "00000007" + "00000003" + "0000000c");
        // NBD_INFO_EXPORT, size 65536, flags computed from the capabilities (no DF: simple replies).
        assertThat(hex(c.readExactly(12))).isEqualTo("0000" + "0000000000010000" + String.format("%04x", SOME_FLAGS));
        assertThat(hex(c.readExactly(20))).isEqualTo("0003e889045565a9" + "00000007" + "00000003" + "0000000e");
        // NBD_INFO_BLOCK_SIZE: minimum 1, preferred 4096, maximum 32 MiB.
        assertThat(hex(c.readExactly(14))).isEqualTo("0003" + "00000001" + "00001000" + "02000000");
        assertThat(hex(c.readExactly(20))).isEqualTo("0003e889045565a9" + "00000007" + "00000001" + "00000000");
    }

    @Test
    void goWithoutInformationRequestsSendsNoBlockSize() throws Exception {
        RawNbdClient c = haggling();
        c.go("alpha");
        assertThat(c.exportSize()).isEqualTo(SIZE);
        assertThat(c.transmissionFlags()).isEqualTo(SOME_FLAGS);
    }

    @Test
    void transmissionFlagsAddDfWithStructuredRepliesAndDropWritesWhenReadOnly() throws Exception {
        try (RawNbdClient structured = RawNbdClient.open(server.address, "alpha", true, false)) {
            assertThat(structured.transmissionFlags()).isEqualTo(SOME_FLAGS | NBD_FLAG_SEND_DF);
        }
        server.exports.lookup("beta").orElseThrow().gate().setReadOnly(true);
        try (RawNbdClient readOnly = RawNbdClient.open(server.address, "beta", false, false)) {
            assertThat(readOnly.transmissionFlags()).isEqualTo(NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY
                    | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA);
        }
        server.export("everything", new MemoryBlockDevice(SIZE, MemoryBlockDevice.ALL));
        try (RawNbdClient all = RawNbdClient.open(server.address, "everything", false, false)) {
            assertThat(all.transmissionFlags()).isEqualTo(NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH
                    | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES
                    | NBD_FLAG_SEND_FAST_ZERO | NBD_FLAG_CAN_MULTI_CONN);
        }
    }

    @Test
    void infoAnswersButKeepsHaggling() throws Exception {
        RawNbdClient c = haggling();
        c.sendOption(NBD_OPT_INFO, RawNbdClient.goData("beta", NBD_INFO_NAME));
        assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_INFO);
        OptionReply name = c.readOptionReply();
        assertThat(name.type()).isEqualTo(NBD_REP_INFO);
        assertThat(hex(name.data())).isEqualTo("0001" + hex("beta".getBytes(StandardCharsets.UTF_8)));
        assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ACK);
        c.go("alpha");
        assertThat(c.exportSize()).isEqualTo(SIZE);
    }

    @Test
    void listNamesEveryExportInOrderThenAcks() throws Exception {
        RawNbdClient c = haggling();
        c.sendOption(NBD_OPT_LIST, new byte[0]);
        for (String expected : new String[] {"alpha", "beta"}) {
            OptionReply r = c.readOptionReply();
            assertThat(r.option()).isEqualTo(NBD_OPT_LIST);
            assertThat(r.type()).isEqualTo(NBD_REP_SERVER);
            byte[] name = expected.getBytes(StandardCharsets.UTF_8);
            assertThat(hex(r.data())).isEqualTo(String.format("%08x", name.length) + hex(name));
        }
        assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ACK);
    }

    @Test
    void unknownOptionIsUnsupportedAndHagglingContinues() throws Exception {
        RawNbdClient c = haggling();
        c.sendOption(99, new byte[] {1, 2, 3});
        OptionReply r = c.readOptionReply();
        assertThat(r.magic()).isEqualTo(NBD_REP_MAGIC);
        assertThat(r.option()).isEqualTo(99);
        assertThat(r.type()).isEqualTo(NBD_REP_ERR_UNSUP);
        c.go("alpha");
    }

    @Test
    void startTlsIsRefusedByPolicy() throws Exception {
        RawNbdClient c = haggling();
        c.sendOption(NBD_OPT_STARTTLS, new byte[0]);
        assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ERR_POLICY);
        c.go("alpha");
    }

    @Test
    void exportNameWithoutNoZeroesPadsTheReplyWith124Zeroes() throws Exception {
        RawNbdClient c = haggling(NBD_FLAG_C_FIXED_NEWSTYLE);
        c.sendOption(NBD_OPT_EXPORT_NAME, "alpha".getBytes(StandardCharsets.UTF_8));
        assertThat(hex(c.readExactly(10))).isEqualTo("0000000000010000" + String.format("%04x", SOME_FLAGS));
        assertThat(c.readExactly(EXPORT_NAME_REPLY_PADDING)).containsOnly(0);
        // The next bytes on the wire are the reply to our first request, not more padding.
        assertThat(c.readOk(0, 16)).hasSize(16);
    }

    @Test
    void exportNameWithNoZeroesSendsOnlySizeAndFlags() throws Exception {
        RawNbdClient c = haggling();
        c.sendOption(NBD_OPT_EXPORT_NAME, "beta".getBytes(StandardCharsets.UTF_8));
        assertThat(hex(c.readExactly(10))).isEqualTo("0000000000010000" + String.format("%04x", SOME_FLAGS));
        c.request(0, NBD_CMD_READ, 5, 0, 4);
        assertThat(hex(c.readExactly(16))).isEqualTo("67446698" + "00000000" + "0000000000000005");
    }

    @Test
    void exportNameForAnUnknownExportHangsUp() throws Exception {
        RawNbdClient c = haggling();
        c.sendOption(NBD_OPT_EXPORT_NAME, "gamma".getBytes(StandardCharsets.UTF_8));
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void goForAnUnknownExportIsErrUnknownAndHagglingContinues() throws Exception {
        RawNbdClient c = haggling();
        c.sendOption(NBD_OPT_GO, RawNbdClient.goData("gamma"));
        OptionReply r = c.readOptionReply();
        assertThat(r.type()).isEqualTo(NBD_REP_ERR_UNKNOWN);
        assertThat(r.text()).contains("gamma");
        c.go("alpha");
    }

    @Test
    void setMetaContextBeforeStructuredRepliesIsInvalid() throws Exception {
        RawNbdClient c = haggling();
        c.sendOption(NBD_OPT_SET_META_CONTEXT, RawNbdClient.metaContextData("alpha", BASE_ALLOCATION));
        assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ERR_INVALID);
        c.go("alpha");
    }

    @Test
    void setAndListMetaContextAnswerBaseAllocationWithItsId() throws Exception {
        RawNbdClient c = haggling();
        c.sendOption(NBD_OPT_STRUCTURED_REPLY, new byte[0]);
        assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ACK);
        for (int option : new int[] {NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT}) {
            c.sendOption(option, RawNbdClient.metaContextData("alpha", BASE_ALLOCATION));
            OptionReply context = c.readOptionReply();
            assertThat(context.option()).isEqualTo(option);
            assertThat(context.type()).isEqualTo(NBD_REP_META_CONTEXT);
            assertThat(hex(context.data()))
                    .isEqualTo("00000001" + hex(BASE_ALLOCATION.getBytes(StandardCharsets.UTF_8)));
            assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ACK);
        }
    }

    @Test
    void listMetaContextWithoutQueriesOffersEverythingAndUnknownQueriesMatchNothing() throws Exception {
        RawNbdClient c = haggling();
        c.sendOption(NBD_OPT_LIST_META_CONTEXT, RawNbdClient.metaContextData("alpha"));
        assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_META_CONTEXT);
        assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ACK);
        c.sendOption(NBD_OPT_LIST_META_CONTEXT, RawNbdClient.metaContextData("alpha", "qemu:dirty-bitmap:x"));
        assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ACK);
    }

    @Test
    void truncatedOptionDataIsInvalidAndHagglingContinues() throws Exception {
        RawNbdClient c = haggling();
        // Too short for even the name length.
        c.sendOption(NBD_OPT_GO, new byte[] {0, 0});
        assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ERR_INVALID);
        // A name length larger than the data that follows.
        c.sendOption(NBD_OPT_GO, ByteBuffer.allocate(7).putInt(100).put(new byte[3]).array());
        assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ERR_INVALID);
        // Name present, information request count missing.
        c.sendOption(NBD_OPT_GO, ByteBuffer.allocate(9).putInt(5).put("alpha".getBytes(StandardCharsets.UTF_8))
                .array());
        assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ERR_INVALID);
        // Query count promised, query missing.
        c.sendOption(NBD_OPT_LIST_META_CONTEXT, ByteBuffer.allocate(8).putInt(0).putInt(1).array());
        assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ERR_INVALID);
        c.sendOption(NBD_OPT_LIST, new byte[] {1});
        assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ERR_INVALID);
        c.go("alpha");
    }

    @Test
    void abortIsAcknowledgedThenTheServerHangsUp() throws Exception {
        RawNbdClient c = haggling();
        c.sendOption(NBD_OPT_ABORT, new byte[0]);
        assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ACK);
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void unknownClientFlagsEndTheConnection() throws Exception {
        RawNbdClient c = server.connect();
        c.readGreeting();
        c.sendClientFlags(1 << 7);
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void badOptionMagicEndsTheConnection() throws Exception {
        RawNbdClient c = haggling();
        c.sendOptionHeader(0x1122334455667788L, NBD_OPT_LIST, 0);
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void optionLongerThan64KiBEndsTheConnectionBeforeItsDataArrives() throws Exception {
        RawNbdClient c = haggling();
        c.sendOptionHeader(IHAVEOPT, NBD_OPT_GO, MAX_OPTION_LENGTH + 1L);
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void optionOfExactly64KiBIsReadAndAnswered() throws Exception {
        RawNbdClient c = haggling();
        c.sendOption(77, new byte[MAX_OPTION_LENGTH]);
        assertThat(c.readOptionReply().type()).isEqualTo(NBD_REP_ERR_UNSUP);
    }
}
