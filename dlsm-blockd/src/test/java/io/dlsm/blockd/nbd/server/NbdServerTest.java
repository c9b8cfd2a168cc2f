package io.dlsm.blockd.nbd.server;

import static io.dlsm.blockd.nbd.Nbd.*;
import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.nbd.server.RawNbdClient.Chunk;
import io.dlsm.blockd.nbd.server.RawNbdClient.SimpleReply;
import io.dlsm.blockd.volume.FileBlockDevice;
import io.dlsm.blockd.volume.SparseDevices;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Transmission phase against a real server: reply layouts, errors, and isolation of clients. */
@Timeout(60)
class NbdServerTest {
    private static final int SIZE = 1 << 20;
    private static final int KIB_64 = 64 * 1024;
    private static final int EPERM = 1;
    private static final int EINVAL = 22;
    private static final int ENOSPC = 28;

    @TempDir
    Path dir;
    private NbdServerFixture server;
    private FileBlockDevice file;
    private MemoryBlockDevice memory;
    private Export memoryExport;

    @BeforeEach
    void startServer() throws Exception {
        file = SparseDevices.create(dir.resolve("file.img"), SIZE);
        memory = new MemoryBlockDevice(SIZE, MemoryBlockDevice.ALL);
        server = new NbdServerFixture();
        server.export("file", file);
        memoryExport = server.export("mem", memory);
    }

    @AfterEach
    void stopServer() throws Exception {
        server.close();
        file.close();
    }

    private static byte[] pattern(long seed, int length) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Bounded poll for state another thread changes; fails instead of hanging. */
    private static void awaitTrue(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.onSpinWait();
            Thread.yield();
        }
    }

    @Test
    void writeThenReadWithSimpleReplies() throws Exception {
        RawNbdClient c = server.open("file", false, false);
        byte[] data = pattern(1, 4096);
        c.write(0x1122334455667788L, 8192, data, 0);
        assertThat(c.readExactly(16)).isEqualTo(ByteBuffer.allocate(16)
                .putInt(NBD_SIMPLE_REPLY_MAGIC).putInt(0).putLong(0x1122334455667788L).array());
        assertThat(c.readOk(8192, 4096)).isEqualTo(data);
    }

    @Test
    void structuredReadIsOneOffsetDataChunk() throws Exception {
        RawNbdClient c = server.open("file", true, false);
        byte[] data = pattern(2, 3000);
        c.writeOk(4096, data);
        c.request(NBD_CMD_FLAG_DF, NBD_CMD_READ, 42, 4096, data.length);
        Chunk chunk = c.readChunk();
        assertThat(chunk.magic()).isEqualTo(NBD_STRUCTURED_REPLY_MAGIC);
        assertThat(chunk.flags()).isEqualTo(NBD_REPLY_FLAG_DONE);
        assertThat(chunk.type()).isEqualTo(NBD_REPLY_TYPE_OFFSET_DATA);
        assertThat(chunk.cookie()).isEqualTo(42);
        assertThat(chunk.payload()).hasSize(8 + data.length);
        ByteBuffer body = chunk.body();
        assertThat(body.getLong()).isEqualTo(4096);
        byte[] read = new byte[data.length];
        body.get(read);
        assertThat(read).isEqualTo(data);
    }

    @Test
    void outOfRangeReadGetsAnErrorAndTheConnectionStaysUsable() throws Exception {
        RawNbdClient c = server.open("file", false, false);
        c.request(0, NBD_CMD_READ, 9, SIZE - 100, 200);
        SimpleReply r = c.readSimpleReply(200);
        assertThat(r.error()).isEqualTo(EINVAL);
        assertThat(r.cookie()).isEqualTo(9);
        assertThat(c.readOk(0, 100)).hasSize(100);
    }

    @Test
    void outOfRangeStructuredReadGetsAnErrorChunk() throws Exception {
        RawNbdClient c = server.open("file", true, false);
        c.request(0, NBD_CMD_READ, 10, -4096, 4096);
        Chunk chunk = c.readChunk();
        assertThat(chunk.flags()).isEqualTo(NBD_REPLY_FLAG_DONE);
        assertThat(chunk.type()).isEqualTo(NBD_REPLY_TYPE_ERROR);
        assertThat(chunk.cookie()).isEqualTo(10);
        ByteBuffer body = chunk.body();
        assertThat(body.getInt()).isEqualTo(EINVAL);
        int messageLength = Short.toUnsignedInt(body.getShort());
        assertThat(body.remaining()).isEqualTo(messageLength);
        assertThat(StandardCharsets.UTF_8.decode(body).toString()).contains("NBD_CMD_READ");
        c.writeOk(0, pattern(3, 512));
    }

    @Test
    void unknownCommandIsEinvalAndTheConnectionStaysUsable() throws Exception {
        RawNbdClient c = server.open("file", false, false);
        c.request(0, 77, 5, 0, 4096);
        SimpleReply r = c.readSimpleReply(0);
        assertThat(r.error()).isEqualTo(EINVAL);
        assertThat(r.cookie()).isEqualTo(5);
        c.writeOk(0, pattern(4, 512));
    }

    @Test
    void writePastTheEndIsEnospcAndItsPayloadIsSkipped() throws Exception {
        RawNbdClient c = server.open("file", false, false);
        c.write(6, SIZE - 512, pattern(5, 1024), 0);
        assertThat(c.readSimpleReply(0).error()).isEqualTo(ENOSPC);
        // Had the payload not been skipped, these bytes would be parsed as a header.
        byte[] data = pattern(6, 1024);
        c.writeOk(0, data);
        assertThat(c.readOk(0, 1024)).isEqualTo(data);
    }

    @Test
    void readAcceptsFuaAsTheSpecRequires() throws Exception {
        RawNbdClient c = server.open("file", false, false);
        c.request(NBD_CMD_FLAG_FUA, NBD_CMD_READ, 1, 0, 512);
        assertThat(c.readSimpleReply(512).error()).isZero();
        c.request(NBD_CMD_FLAG_FUA, NBD_CMD_FLUSH, 2, 0, 0);
        assertThat(c.readSimpleReply(0).error()).isZero();
    }

    @Test
    void fuaWriteIsReadBack() throws Exception {
        RawNbdClient c = server.open("file", false, false);
        byte[] data = pattern(7, 8192);
        c.write(11, 65536, data, NBD_CMD_FLAG_FUA);
        assertThat(c.readSimpleReply(0).error()).isZero();
        assertThat(c.readOk(65536, data.length)).isEqualTo(data);
    }

    @Test
    void pipelinedRequestsAreAllAnsweredByCookie() throws Exception {
        RawNbdClient c = server.open("file", false, false);
        for (int i = 0; i < 16; i++) {
            c.write(100 + i, i * 4096L, pattern(i, 4096), 0);
        }
        Set<Long> cookies = new HashSet<>();
        for (int i = 0; i < 16; i++) {
            SimpleReply r = c.readSimpleReply(0);
            assertThat(r.error()).isZero();
            cookies.add(r.cookie());
        }
        assertThat(cookies).hasSize(16).allMatch(k -> k >= 100 && k < 116);
        assertThat(c.readOk(15 * 4096L, 4096)).isEqualTo(pattern(15, 4096));
    }

    @Test
    void clientVanishingMidPayloadDoesNotDisturbAnotherSession() throws Exception {
        RawNbdClient healthy = server.open("file", false, false);
        byte[] before = pattern(8, 4096);
        healthy.writeOk(0, before);

        RawNbdClient quitter = server.open("file", false, false);
        awaitTrue("both sessions are attached", () -> server.connectionCount() == 2);
        quitter.send(RawNbdClient.requestHeader(0, NBD_CMD_WRITE, 1, 0, 1 << 20), ByteBuffer.wrap(new byte[1000]));
        quitter.close();
        awaitTrue("the broken connection is gone", () -> server.connectionCount() == 1);

        assertThat(healthy.readOk(0, 4096)).isEqualTo(before);
        byte[] after = pattern(9, 4096);
        healthy.writeOk(4096, after);
        assertThat(healthy.readOk(4096, 4096)).isEqualTo(after);
    }

    /** Writes [0, 256K) with data, then trims [64K, 128K) and zeroes [128K, 192K). */
    private RawNbdClient fileWithHoleInTheMiddle() throws Exception {
        RawNbdClient c = server.open("file", true, true);
        c.writeOk(0, pattern(10, 4 * KIB_64));
        c.request(0, NBD_CMD_TRIM, 1, KIB_64, KIB_64);
        assertThat(c.readSimpleReply(0).error()).isZero();
        c.request(0, NBD_CMD_WRITE_ZEROES, 2, 2 * KIB_64, KIB_64);
        assertThat(c.readSimpleReply(0).error()).isZero();
        return c;
    }

    /** (length, flags) pairs of a base:allocation block-status chunk. */
    private static List<long[]> descriptors(Chunk chunk, long cookie) {
        assertThat(chunk.magic()).isEqualTo(NBD_STRUCTURED_REPLY_MAGIC);
        assertThat(chunk.flags()).isEqualTo(NBD_REPLY_FLAG_DONE);
        assertThat(chunk.type()).isEqualTo(NBD_REPLY_TYPE_BLOCK_STATUS);
        assertThat(chunk.cookie()).isEqualTo(cookie);
        assertThat((chunk.payload().length - 4) % 8).isZero();
        ByteBuffer body = chunk.body();
        assertThat(body.getInt()).as("context id").isEqualTo(1);
        List<long[]> out = new ArrayList<>();
        while (body.hasRemaining()) {
            out.add(new long[] {Integer.toUnsignedLong(body.getInt()), body.getInt()});
        }
        return out;
    }

    @Test
    void blockStatusReportsTrimmedAndZeroedRangesAsHoles() throws Exception {
        RawNbdClient c = fileWithHoleInTheMiddle();
        c.request(0, NBD_CMD_BLOCK_STATUS, 3, 0, 4 * KIB_64);
        assertThat(descriptors(c.readChunk(), 3)).containsExactly(
                new long[] {KIB_64, 0},
                new long[] {2 * KIB_64, NBD_STATE_HOLE | NBD_STATE_ZERO},
                new long[] {KIB_64, 0});
        RawNbdClient simple = server.open("file", false, false);
        assertThat(simple.readOk(KIB_64, 2 * KIB_64)).containsOnly(0);
    }

    @Test
    void blockStatusWithReqOneReturnsExactlyOneExtent() throws Exception {
        RawNbdClient c = fileWithHoleInTheMiddle();
        c.request(NBD_CMD_FLAG_REQ_ONE, NBD_CMD_BLOCK_STATUS, 4, 0, 4 * KIB_64);
        assertThat(descriptors(c.readChunk(), 4)).containsExactly(new long[] {KIB_64, 0});
        c.request(NBD_CMD_FLAG_REQ_ONE, NBD_CMD_BLOCK_STATUS, 5, KIB_64, 4 * KIB_64);
        assertThat(descriptors(c.readChunk(), 5)).containsExactly(new long[] {2 * KIB_64, 3});
    }

    @Test
    void blockStatusWithoutNegotiatedContextIsAnErrorChunk() throws Exception {
        RawNbdClient c = server.open("file", true, false);
        c.request(0, NBD_CMD_BLOCK_STATUS, 6, 0, 4096);
        Chunk chunk = c.readChunk();
        assertThat(chunk.type()).isEqualTo(NBD_REPLY_TYPE_ERROR);
        assertThat(chunk.body().getInt()).isEqualTo(EINVAL);
    }

    @Test
    void readOnlyExportRefusesWritesWithEpermButServesReads() throws Exception {
        RawNbdClient c = server.open("mem", false, false);
        byte[] data = pattern(11, 512);
        c.writeOk(0, data);
        memoryExport.gate().setReadOnly(true);
        c.write(12, 0, pattern(12, 512), 0);
        assertThat(c.readSimpleReply(0).error()).isEqualTo(EPERM);
        c.request(0, NBD_CMD_TRIM, 13, 0, 512);
        assertThat(c.readSimpleReply(0).error()).isEqualTo(EPERM);
        c.request(0, NBD_CMD_WRITE_ZEROES, 14, 0, 512);
        assertThat(c.readSimpleReply(0).error()).isEqualTo(EPERM);
        assertThat(c.readOk(0, 512)).isEqualTo(data);
    }

    @Test
    void setReadOnlyAndDrainWaitsForAdmittedWrites() throws Exception {
        RawNbdClient c = server.open("mem", false, false);
        CountDownLatch gate = new CountDownLatch(1);
        memory.holdWritesUntil(gate);
        byte[] data = pattern(13, 4096);
        c.write(20, 0, data, 0);
        assertThat(memory.awaitWriteEntered()).isTrue();

        Thread drainer = new Thread(() -> {
            try {
                memoryExport.gate().fenceAndDrain();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "drainer");
        drainer.start();
        try {
            awaitTrue("the drainer waits for the write", () -> drainer.getState() == Thread.State.WAITING);
            assertThat(memoryExport.readOnly()).isTrue();
            assertThat(memoryExport.gate().writesInFlight()).isEqualTo(1);
            assertThat(drainer.isAlive()).isTrue();
        } finally {
            gate.countDown();
        }
        drainer.join(TimeUnit.SECONDS.toMillis(10));
        assertThat(drainer.isAlive()).as("drain returned after the write completed").isFalse();
        assertThat(memoryExport.gate().writesInFlight()).isZero();

        SimpleReply admitted = c.readSimpleReply(0);
        assertThat(admitted.error()).as("the admitted write completes normally").isZero();
        assertThat(admitted.cookie()).isEqualTo(20);
        c.write(21, 0, pattern(14, 4096), 0);
        assertThat(c.readSimpleReply(0).error()).isEqualTo(EPERM);
        assertThat(c.readOk(0, 4096)).isEqualTo(data);
    }

    @Test
    void cachedReadIsAnsweredOnTheConnectionThreadWhileAWriteIsHeld() throws Exception {
        RawNbdClient c = server.open("mem", true, false);
        byte[] data = pattern(15, 4096);
        c.writeOk(8192, data);
        memory.cached(true);
        CountDownLatch gate = new CountDownLatch(1);
        memory.holdWritesUntil(gate);
        try {
            c.write(40, 0, pattern(16, 4096), 0);
            assertThat(memory.awaitWriteEntered()).isTrue();
            c.request(0, NBD_CMD_READ, 41, 8192, data.length);
            Chunk read = c.readChunk();
            assertThat(read.cookie()).as("the read overtakes the held write").isEqualTo(41);
            assertThat(read.type()).isEqualTo(NBD_REPLY_TYPE_OFFSET_DATA);
            ByteBuffer body = read.body();
            assertThat(body.getLong()).isEqualTo(8192);
            byte[] got = new byte[data.length];
            body.get(got);
            assertThat(got).isEqualTo(data);
            assertThat(memory.lastReader()).startsWith("nbd-conn-");
        } finally {
            gate.countDown();
        }
        SimpleReply write = c.readSimpleReply(0);
        assertThat(write.cookie()).isEqualTo(40);
        assertThat(write.error()).isZero();
    }

    @Test
    void readsThatWouldWaitOrAreLargeGoToTheWorkers() throws Exception {
        RawNbdClient c = server.open("mem", false, false);
        byte[] small = pattern(17, 4096);
        byte[] large = pattern(18, NbdConnection.INLINE_READ_MAX + 4096);
        c.writeOk(0, small);
        c.writeOk(KIB_64, large);
        assertThat(c.readOk(0, small.length)).isEqualTo(small);
        assertThat(memory.lastReader()).as("a device that may wait").doesNotStartWith("nbd-conn-");
        memory.cached(true);
        assertThat(c.readOk(KIB_64, large.length)).isEqualTo(large);
        assertThat(memory.lastReader()).as("a read above the inline limit").doesNotStartWith("nbd-conn-");
        assertThat(c.readOk(0, small.length)).isEqualTo(small);
        assertThat(memory.lastReader()).startsWith("nbd-conn-");
    }

    @Test
    void pipelinedCachedReadsGoToTheWorkersButTheLastOne() throws Exception {
        RawNbdClient c = server.open("mem", false, false);
        byte[] data = pattern(19, 4 * 4096);
        c.writeOk(0, data);
        memory.cached(true);
        // One segment: the server receives all four requests before it dispatches the first.
        ByteBuffer four = ByteBuffer.allocate(4 * REQUEST_HEADER_SIZE);
        for (int i = 0; i < 4; i++) {
            four.put(RawNbdClient.requestHeader(0, NBD_CMD_READ, 50 + i, i * 4096L, 4096));
        }
        c.send(four.flip());
        Set<Long> cookies = new HashSet<>();
        for (int i = 0; i < 4; i++) {
            SimpleReply r = c.readSimpleReply(4096);
            assertThat(r.error()).isZero();
            int k = (int) (r.cookie() - 50);
            assertThat(r.data()).isEqualTo(java.util.Arrays.copyOfRange(data, k * 4096, (k + 1) * 4096));
            cookies.add(r.cookie());
        }
        assertThat(cookies).containsExactlyInAnyOrder(50L, 51L, 52L, 53L);
        List<String> readers = memory.readers();
        assertThat(readers.subList(readers.size() - 4, readers.size()))
                .as("reads with more requests queued behind them run in parallel on workers")
                .filteredOn(n -> !n.startsWith("nbd-conn-")).isNotEmpty();
    }

    @Test
    void discEndsTheConnection() throws Exception {
        RawNbdClient c = server.open("file", false, false);
        c.request(0, NBD_CMD_DISC, 1, 0, 0);
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void badRequestMagicEndsTheConnection() throws Exception {
        RawNbdClient c = server.open("file", false, false);
        c.send(ByteBuffer.allocate(REQUEST_HEADER_SIZE).putInt(0xdeadbeef).array());
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void oversizedWriteIsAnsweredThenTheConnectionEnds() throws Exception {
        RawNbdClient c = server.open("file", false, false);
        c.request(0, NBD_CMD_WRITE, 30, 0, MAX_PAYLOAD + 1L);
        SimpleReply r = c.readSimpleReply(0);
        assertThat(r.error()).isEqualTo(EINVAL);
        assertThat(r.cookie()).isEqualTo(30);
        assertThat(c.closedByServer()).isTrue();
    }
}
