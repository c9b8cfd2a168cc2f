package io.dlsm.tests;

import io.dlsm.tests.support.JsonHttp;
import static io.dlsm.blockd.nbd.Nbd.*;
import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.tests.support.BlockdProcess;
import io.dlsm.tests.support.PeerCommand;
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
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * A misbehaving client on raw sockets against the real process. Malformed input may cost the
 * offending connection, never the daemon or another client's data: a qemu-io client writes a
 * known pattern to its own volume first, and the last test reads it back intact.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class BadInputAgainstBlockdTest {
    private static final int EPERM_WIRE = 1;
    private static final int EINVAL_WIRE = 22;
    private static final int ENOSPC_WIRE = 28;
    private static final long ABUSE_SIZE = 1L << 20;
    private static final long SEED = Long.getLong("dlsm.seed", System.nanoTime());
    @TempDir
    static Path tmp;
    static BlockdProcess blockd;

    @BeforeAll
    static void startBlockdAndWriteVictimData() {
        blockd = BlockdProcess.start(tmp.resolve("data"));
        blockd.createVolume("victim", 4L << 20);
        blockd.createVolume("abuse", ABUSE_SIZE);
        PeerCommand.ok("qemu-io", "-f", "raw", "-c", "write -P 0xc3 0 4M", "-c", "flush", blockd.nbdUri("victim"));
    }

    @AfterAll
    static void stopBlockd() {
        if (blockd != null) {
            blockd.close();
        }
    }

    @Test
    void badOptionMagicEndsTheConnectionOnly() throws IOException {
        try (RawNbd c = RawNbd.handshakeStart()) {
            c.out.writeLong(0x4241444d41474943L);
            c.out.writeInt(NBD_OPT_GO);
            c.out.writeInt(0);
            c.out.flush();
            assertThat(c.closedByServer()).isTrue();
        }
        assertServerStillServes();
    }

    @Test
    void unknownOptionIsRefusedAndHagglingContinues() throws IOException {
        try (RawNbd c = RawNbd.handshakeStart()) {
            c.option(0x7777, new byte[5]);
            assertThat(c.optionReplyType(0x7777)).isEqualTo(NBD_REP_ERR_UNSUP);
            c.go("abuse");
            assertThat(c.readAt(0, 512)).hasSize(512);
        }
    }

    @Test
    void truncatedHandshakeThenCloseLeavesTheServerServing() throws IOException {
        try (RawNbd c = RawNbd.connect()) {
            c.in.readFully(new byte[18]);
            c.out.write(new byte[] {0, 0, 0});
            c.out.flush();
        }
        assertServerStillServes();
    }

    @Test
    void requestWithBadMagicEndsTheConnection() throws IOException {
        try (RawNbd c = RawNbd.transmission("abuse")) {
            c.out.writeInt(0xdeadbeef);
            c.out.write(new byte[24]);
            c.out.flush();
            assertThat(c.closedByServer()).isTrue();
        }
        assertServerStillServes();
    }

    @Test
    void requestsPastTheEndGetErrorsAndTheConnectionStaysUsable() throws IOException {
        try (RawNbd c = RawNbd.transmission("abuse")) {
            c.request(0, NBD_CMD_READ, 1, ABUSE_SIZE - 1, 2, null);
            assertThat(c.simpleReplyError(1)).isEqualTo(EINVAL_WIRE);
            c.request(0, NBD_CMD_WRITE, 2, ABUSE_SIZE, 512, new byte[512]);
            assertThat(c.simpleReplyError(2)).isEqualTo(ENOSPC_WIRE);
            c.request(0, NBD_CMD_READ, 3, -512, 512, null);
            assertThat(c.simpleReplyError(3)).isEqualTo(EINVAL_WIRE);
            // The rejected write's payload was consumed, so framing is intact.
            assertThat(c.readAt(ABUSE_SIZE - 512, 512)).hasSize(512);
        }
    }

    @Test
    void oversizedReadIsAnErrorAndTheConnectionStaysUsable() throws IOException {
        try (RawNbd c = RawNbd.transmission("abuse")) {
            c.request(0, NBD_CMD_READ, 9, 0, MAX_PAYLOAD + 1, null);
            assertThat(c.simpleReplyError(9)).isEqualTo(EINVAL_WIRE);
            c.request(0, NBD_CMD_READ, 10, 0, 0xffffffffL, null);
            assertThat(c.simpleReplyError(10)).isEqualTo(EINVAL_WIRE);
            assertThat(c.readAt(0, 4096)).hasSize(4096);
        }
    }

    @Test
    void oversizedWriteIsAnErrorThenADisconnect() throws IOException {
        try (RawNbd c = RawNbd.transmission("abuse")) {
            c.request(0, NBD_CMD_WRITE, 11, 0, MAX_PAYLOAD + 1, null);
            assertThat(c.simpleReplyError(11)).isNotZero();
            assertThat(c.closedByServer()).isTrue();
        }
        assertServerStillServes();
    }

    @Test
    void unknownCommandIsEinvalAndTheConnectionStaysUsable() throws IOException {
        try (RawNbd c = RawNbd.transmission("abuse")) {
            c.request(0, 99, 12, 0, 512, null);
            assertThat(c.simpleReplyError(12)).isEqualTo(EINVAL_WIRE);
            c.request(0, NBD_CMD_CACHE, 13, 0, 512, null);
            assertThat(c.simpleReplyError(13)).isEqualTo(EINVAL_WIRE);
            assertThat(c.readAt(0, 512)).hasSize(512);
        }
    }

    @Test
    void clientVanishingMidWritePayloadLeavesTheServerServing() throws IOException {
        try (RawNbd c = RawNbd.transmission("abuse")) {
            c.request(0, NBD_CMD_WRITE, 14, 0, 1 << 20, new byte[1000]);
        }
        assertServerStillServes();
    }

    @Test
    void thousandsOfSeededMalformedFramesNeverTakeTheDaemonDown() throws IOException {
        Random rnd = new Random(SEED);
        String context = "seed " + SEED + " (rerun with -Ddlsm.seed=" + SEED + ")";
        int frames = 0;
        int connections = 0;
        try {
            while (frames < 1200) {
                connections++;
                boolean inHandshake = rnd.nextInt(5) == 0;
                // Connecting and negotiating must always work: outside the catch below.
                RawNbd c = inHandshake ? RawNbd.handshakeStart() : RawNbd.transmission("abuse");
                int batch = 1 + rnd.nextInt(12);
                frames += batch;
                try (c) {
                    for (int i = 0; i < batch; i++) {
                        if (inHandshake) {
                            randomOption(c, rnd);
                        } else {
                            randomRequest(c, rnd);
                        }
                    }
                    // Half-close: the server must finish what it parsed, then hang up on its own.
                    c.socket.shutdownOutput();
                    assertThat(c.drainUntilServerCloses()).as(context + ", connection " + connections).isTrue();
                } catch (SocketException e) {
                    // Writing into a connection the server already dropped for a protocol error: allowed.
                }
                if (connections % 25 == 0) {
                    assertThat(blockd.isAlive()).as(context).isTrue();
                    assertServerStillServes();
                }
            }
        } catch (IOException | RuntimeException e) {
            throw new AssertionError(context + ", connection " + connections + "; blockd log " + blockd.stderrLog(), e);
        }
        System.out.println("fuzzed " + frames + " frames over " + connections + " connections, " + context);
        assertThat(blockd.isAlive()).as(context).isTrue();
        assertServerStillServes();
    }

    @Test
    @Order(Integer.MAX_VALUE)
    void afterAllAbuseTheDaemonLivesOtherDataIsIntactAndBadApiJsonNamesTheField() {
        assertThat(blockd.isAlive()).isTrue();
        PeerCommand.ok("qemu-io", "-f", "raw", "-r", "-c", "read -P 0xc3 0 4M", blockd.nbdUri("victim"));

        JsonHttp.Reply wrongType = blockd.callRaw("POST", "/v1/volumes", "{\"name\":\"x\",\"sizeBytes\":\"big\"}");
        assertThat(wrongType.status()).isEqualTo(400);
        assertThat(wrongType.body().path("details").path("field").asText()).isEqualTo("sizeBytes");
        JsonHttp.Reply badSize = blockd.callRaw("POST", "/v1/volumes", "{\"name\":\"x\",\"sizeBytes\":513}");
        assertThat(badSize.status()).isEqualTo(400);
        assertThat(badSize.body().path("details").path("field").asText()).isEqualTo("sizeBytes");
        JsonHttp.Reply badAccess = blockd.callRaw("PUT", "/v1/volumes/victim/access", "{\"readOnly\":\"maybe\"}");
        assertThat(badAccess.status()).isEqualTo(400);
        assertThat(badAccess.body().path("details").path("field").asText()).isEqualTo("readOnly");
        JsonHttp.Reply truncated = blockd.callRaw("POST", "/v1/volumes", "{\"name\":");
        assertThat(truncated.status()).isEqualTo(400);
        assertThat(truncated.body().path("code").asText()).isNotBlank();
        assertThat(truncated.body().path("message").asText()).isNotBlank();
    }

    private static void randomOption(RawNbd c, Random rnd) throws IOException {
        c.out.writeLong(rnd.nextInt(4) == 0 ? rnd.nextLong() : IHAVEOPT);
        c.out.writeInt(rnd.nextBoolean() ? rnd.nextInt(12) : rnd.nextInt());
        int length = rnd.nextInt(4) == 0 ? rnd.nextInt() : rnd.nextInt(64);
        c.out.writeInt(length);
        // Sometimes one byte short of the declared length, so the next frame starts misaligned.
        byte[] data = new byte[Math.max(0, Math.min(length, 64) - (rnd.nextInt(3) == 0 ? 1 : 0))];
        rnd.nextBytes(data);
        c.out.write(data);
        c.out.flush();
    }

    private static void randomRequest(RawNbd c, Random rnd) throws IOException {
        switch (rnd.nextInt(5)) {
            case 0 -> {
                byte[] junk = new byte[1 + rnd.nextInt(REQUEST_HEADER_SIZE)];
                rnd.nextBytes(junk);
                c.out.write(junk);
                c.out.flush();
            }
            case 1 -> c.request(rnd.nextInt(1 << 16), rnd.nextInt(12), rnd.nextLong(), rnd.nextLong(),
                    rnd.nextInt() & 0xffffffffL, null);
            case 2 -> {
                int length = rnd.nextInt(8192);
                byte[] payload = new byte[rnd.nextInt(4) == 0 ? rnd.nextInt(length + 1) : length];
                rnd.nextBytes(payload);
                c.request(rnd.nextInt(4) == 0 ? rnd.nextInt(64) : 0, NBD_CMD_WRITE, rnd.nextLong(),
                        rnd.nextInt((int) ABUSE_SIZE + 8192), length, payload);
            }
            case 3 -> c.request(rnd.nextInt(32), rnd.nextBoolean() ? NBD_CMD_BLOCK_STATUS : NBD_CMD_WRITE_ZEROES,
                    rnd.nextLong(), rnd.nextInt((int) ABUSE_SIZE * 2), rnd.nextInt(1 << 21), null);
            default -> c.request(rnd.nextInt(8), rnd.nextBoolean() ? NBD_CMD_READ : NBD_CMD_TRIM, rnd.nextLong(),
                    rnd.nextBoolean() ? rnd.nextLong() : rnd.nextInt((int) ABUSE_SIZE), rnd.nextInt(1 << 20), null);
        }
    }

    /** A fresh, well-behaved connection still negotiates and reads. */
    private static void assertServerStillServes() throws IOException {
        try (RawNbd c = RawNbd.transmission("abuse")) {
            assertThat(c.readAt(0, 512)).hasSize(512);
        }
    }

    /** Just enough of an NBD client to misbehave precisely: fixed newstyle, simple replies. */
    private static final class RawNbd implements AutoCloseable {
        final Socket socket;
        final DataInputStream in;
        final DataOutputStream out;
        private long nextCookie = 1_000_000;

        private RawNbd(Socket socket) throws IOException {
            this.socket = socket;
            socket.setSoTimeout(10_000);
            this.in = new DataInputStream(socket.getInputStream());
            this.out = new DataOutputStream(new java.io.BufferedOutputStream(socket.getOutputStream()));
        }

        static RawNbd connect() throws IOException {
            return new RawNbd(new Socket(InetAddress.getByName(blockd.nbdHost()), blockd.nbdPort()));
        }

        /** Greeting read and client flags sent: the server now waits for options. */
        static RawNbd handshakeStart() throws IOException {
            RawNbd c = connect();
            assertThat(c.in.readLong()).isEqualTo(NBDMAGIC);
            assertThat(c.in.readLong()).isEqualTo(IHAVEOPT);
            c.in.readUnsignedShort();
            c.out.writeInt(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
            c.out.flush();
            return c;
        }

        static RawNbd transmission(String export) throws IOException {
            RawNbd c = handshakeStart();
            c.go(export);
            return c;
        }

        void option(int option, byte[] data) throws IOException {
            out.writeLong(IHAVEOPT);
            out.writeInt(option);
            out.writeInt(data.length);
            out.write(data);
            out.flush();
        }

        /** Reads one option reply and returns its type. */
        int optionReplyType(int expectedOption) throws IOException {
            assertThat(in.readLong()).isEqualTo(NBD_REP_MAGIC);
            assertThat(in.readInt()).isEqualTo(expectedOption);
            int type = in.readInt();
            in.readFully(new byte[in.readInt()]);
            return type;
        }

        void go(String export) throws IOException {
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

        void request(int flags, int type, long cookie, long offset, long length, byte[] payload) throws IOException {
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
        int simpleReplyError(long cookie) throws IOException {
            assertThat(in.readInt()).isEqualTo(NBD_SIMPLE_REPLY_MAGIC);
            int error = in.readInt();
            assertThat(in.readLong()).isEqualTo(cookie);
            return error;
        }

        byte[] readAt(long offset, int length) throws IOException {
            long cookie = nextCookie++;
            request(0, NBD_CMD_READ, cookie, offset, length, null);
            assertThat(simpleReplyError(cookie)).as("read of %d at %d", length, offset).isZero();
            byte[] data = new byte[length];
            in.readFully(data);
            return data;
        }

        /** True when the server closes (EOF or reset) within the socket timeout, after any replies. */
        boolean closedByServer() throws IOException {
            return drainUntilServerCloses();
        }

        boolean drainUntilServerCloses() throws IOException {
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
}
