package io.dlsm.blockd.nbd.server;

import static io.dlsm.blockd.nbd.Nbd.*;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The server's limits with short timeouts. Each test waits for the state the limit leads to
 * (the server closing the socket, the count dropping), never for a fixed time.
 */
@Timeout(60)
class NbdServerLimitsTest {
    private static final int MIB = 1 << 20;
    private NbdServerFixture server;

    @BeforeEach
    void start() throws Exception {
        server = new NbdServerFixture(new NbdLimits(Duration.ofMillis(300), Duration.ofMillis(500),
                NbdLimits.DEFAULT_CONNECTION_BUFFER_BYTES, NbdLimits.DEFAULT_BUFFER_BUDGET_BYTES));
        server.export("disk", new MemoryBlockDevice(16 * MIB, MemoryBlockDevice.ALL));
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
    }

    @Test
    void aConnectionSilentAfterTheGreetingIsClosed() throws Exception {
        RawNbdClient c = server.connect();
        assertThat(c.closedByServer()).isTrue();
        awaitState(() -> server.connectionCount() == 0);
    }

    @Test
    void aWriteWhoseDataStopsComingIsClosedAndReleasesItsBuffers() throws Exception {
        RawNbdClient c = server.open("disk", false, false);
        c.request(0, NBD_CMD_WRITE, 1, 0, MAX_PAYLOAD);
        c.send(new byte[300_000]);
        assertThat(c.closedByServer()).isTrue();
        awaitState(() -> server.connectionCount() == 0 && server.server().bufferBytesReserved() == 0
                && server.buffers.inUseBytes() == 0);
    }

    @Test
    void aClientThatNeverReadsItsRepliesIsClosedAndReleasesItsBuffers() throws Exception {
        RawNbdClient c = server.open("disk", false, false);
        // 48 MiB of replies: more than the sockets' buffers hold, so the writer blocks.
        for (int i = 0; i < 48; i++) {
            c.request(0, NBD_CMD_READ, i, (long) (i % 16) * MIB, MIB);
        }
        awaitState(() -> server.connectionCount() == 0);
        awaitState(() -> server.server().bufferBytesReserved() == 0 && server.buffers.inUseBytes() == 0);
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void anIdleClientBetweenRequestsIsNotTimedOut() throws Exception {
        RawNbdClient c = server.open("disk", false, false);
        c.writeOk(0, new byte[] {1, 2, 3});
        // Longer than both limits: a timer that wrongly fired would have closed it by now.
        Thread.sleep(1500);
        assertThat(c.readOk(0, 3)).containsExactly(1, 2, 3);
        assertThat(server.connectionCount()).isEqualTo(1);
    }

    @Test
    void zeroLengthRequestsSucceedWithoutTouchingTheDevice() throws Exception {
        RawNbdClient c = server.open("disk", true, true);
        c.request(0, NBD_CMD_READ, 7, 0, 0);
        RawNbdClient.Chunk none = c.readChunk();
        assertThat(none.type()).isEqualTo(NBD_REPLY_TYPE_NONE);
        assertThat(none.done()).isTrue();
        for (int type : new int[] {NBD_CMD_WRITE, NBD_CMD_TRIM, NBD_CMD_WRITE_ZEROES}) {
            c.request(NBD_CMD_FLAG_FUA, type, 8, 16 * MIB, 0);
            assertThat(c.readSimpleReply(0).error()).as("type %d", type).isZero();
        }
        c.request(0, NBD_CMD_BLOCK_STATUS, 9, 0, 0);
        RawNbdClient.Chunk error = c.readChunk();
        assertThat(error.type()).isEqualTo(NBD_REPLY_TYPE_ERROR);
        assertThat(error.body().getInt()).isEqualTo(22);
        c.writeOk(0, new byte[] {9});
        c.request(0, NBD_CMD_READ, 10, 0, 1);
        RawNbdClient.Chunk data = c.readChunk();
        assertThat(data.type()).isEqualTo(NBD_REPLY_TYPE_OFFSET_DATA);
        assertThat(data.body().getLong()).isZero();
        assertThat(data.body().get(8)).isEqualTo((byte) 9);
    }

    private static void awaitState(BooleanSupplier done) throws InterruptedException {
        long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!done.getAsBoolean()) {
            assertThat(System.nanoTime()).as("state not reached within 30 s").isLessThan(end);
            Thread.sleep(20);
        }
    }
}
