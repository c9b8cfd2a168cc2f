package io.dlsm.blockd.nbd.server;

import static io.dlsm.blockd.nbd.Nbd.*;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Seeded garbage against a live server: random bytes, option headers and request headers with
 * bad magic, lengths, types, flags and offsets, in the handshake and in transmission. The
 * server must end or answer each hostile connection and keep serving a healthy client whose
 * data stays intact. Rerun a failure with {@code -Ddlsm.seed=<seed from the message>}.
 */
@Timeout(300)
class MalformedFramesTest {
    private static final int FRAMES = 1000;
    private static final int SIZE = 1 << 20;
    /** The healthy client's data lives here; no garbage write may land in it. */
    private static final int HEALTHY_BYTES = 256 * 1024;
    private static final int[] INTERESTING_TYPES = {NBD_CMD_READ, NBD_CMD_WRITE, NBD_CMD_DISC, NBD_CMD_FLUSH,
        NBD_CMD_TRIM, NBD_CMD_CACHE, NBD_CMD_WRITE_ZEROES, NBD_CMD_BLOCK_STATUS, 8, 0xffff};

    private NbdServerFixture server;

    @BeforeEach
    void startServer() throws Exception {
        server = new NbdServerFixture();
        server.export("healthy", new MemoryBlockDevice(SIZE, MemoryBlockDevice.ALL));
        server.export("scratch", new MemoryBlockDevice(SIZE, MemoryBlockDevice.ALL));
    }

    @AfterEach
    void stopServer() throws Exception {
        server.close();
    }

    @Test
    void serverSurvivesMalformedFramesAndKeepsHealthyData() throws Exception {
        long seed = Long.getLong("dlsm.seed", System.nanoTime());
        try {
            run(new Random(seed));
        } catch (Throwable t) {
            throw new AssertionError("malformed-frame run failed; rerun with -Ddlsm.seed=" + seed, t);
        }
    }

    private void run(Random random) throws Exception {
        RawNbdClient healthy = server.open("healthy", false, false);
        byte[] data = new byte[HEALTHY_BYTES];
        random.nextBytes(data);
        healthy.writeOk(0, data);

        int sent = 0;
        int connection = 0;
        while (sent < FRAMES) {
            int frames = Math.min(FRAMES - sent, 1 + random.nextInt(4));
            boolean inTransmission = random.nextBoolean();
            String target = random.nextBoolean() ? "healthy" : "scratch";
            boolean structured = random.nextBoolean();
            boolean allocation = structured && random.nextBoolean();
            try (RawNbdClient hostile = inTransmission
                    ? RawNbdClient.open(server.address, target, structured, allocation)
                    : RawNbdClient.connect(server.address)) {
                try {
                    for (int i = 0; i < frames; i++) {
                        hostile.send(inTransmission
                                ? transmissionFrame(random, target.equals("healthy"))
                                : handshakeFrame(random));
                    }
                    hostile.shutdownOutput();
                } catch (IOException e) {
                    // The server hung up part way through the frames, which is one right answer.
                }
                assertThat(hostile.closedByServer())
                        .as("connection %d (%s, %d frames) is ended by the server after EOF",
                                connection, inTransmission ? "transmission on " + target : "handshake", frames)
                        .isTrue();
            }
            sent += frames;
            connection++;
        }

        assertThat(healthy.readOk(0, HEALTHY_BYTES)).as("healthy data via the old session").isEqualTo(data);
        try (RawNbdClient fresh = RawNbdClient.open(server.address, "healthy", true, true)) {
            fresh.writeOk(HEALTHY_BYTES, new byte[] {1, 2, 3});
        }
        assertThat(healthy.readOk(0, HEALTHY_BYTES)).as("healthy data after a fresh session").isEqualTo(data);
        assertThat(healthy.readOk(HEALTHY_BYTES, 3)).containsExactly(1, 2, 3);
    }

    private static ByteBuffer handshakeFrame(Random random) {
        return switch (random.nextInt(3)) {
            case 0 -> randomBytes(random, 1 + random.nextInt(200));
            case 1 -> ByteBuffer.allocate(16).putLong(random.nextLong()).putInt(random.nextInt())
                    .putInt(random.nextInt()).flip();
            default -> {
                // Plausible client flags, then an option with a random number, a random
                // announced length (sometimes over the limit) and fewer or more bytes than that.
                int announced = random.nextBoolean() ? random.nextInt(MAX_OPTION_LENGTH + 4096) : random.nextInt();
                ByteBuffer b = ByteBuffer.allocate(4 + 16 + 512);
                b.putInt(random.nextInt(4)).putLong(IHAVEOPT).putInt(random.nextInt(12)).putInt(announced);
                byte[] tail = new byte[random.nextInt(512)];
                random.nextBytes(tail);
                yield b.put(tail).flip();
            }
        };
    }

    private static ByteBuffer transmissionFrame(Random random, boolean protectHealthyData) {
        if (random.nextInt(5) == 0) {
            return randomBytes(random, 1 + random.nextInt(100));
        }
        int magic = random.nextInt(4) == 0 ? random.nextInt() : NBD_REQUEST_MAGIC;
        int type = random.nextBoolean() ? INTERESTING_TYPES[random.nextInt(INTERESTING_TYPES.length)]
                : random.nextInt(0x10000);
        int flags = random.nextBoolean() ? random.nextInt(0x20) : random.nextInt(0x10000);
        long length = switch (random.nextInt(4)) {
            case 0 -> random.nextInt(8192);
            case 1 -> new long[] {0, MAX_PAYLOAD, MAX_PAYLOAD + 1L, 0xffffffffL}[random.nextInt(4)];
            case 2 -> random.nextInt(SIZE + 1);
            default -> Integer.toUnsignedLong(random.nextInt());
        };
        long offset = switch (random.nextInt(4)) {
            case 0 -> random.nextLong();
            case 1 -> new long[] {-1, Long.MIN_VALUE, Long.MAX_VALUE, SIZE, -length}[random.nextInt(5)];
            default -> random.nextInt(SIZE);
        };
        boolean mutating = type == NBD_CMD_WRITE || type == NBD_CMD_TRIM || type == NBD_CMD_WRITE_ZEROES;
        if (protectHealthyData && mutating && offset >= 0 && offset < SIZE) {
            offset = SIZE + (offset % 4096);
        }
        int payload = type == NBD_CMD_WRITE ? (int) Math.min(length, random.nextInt(64 * 1024)) : 0;
        ByteBuffer b = ByteBuffer.allocate(REQUEST_HEADER_SIZE + payload);
        b.putInt(magic).putShort((short) flags).putShort((short) type).putLong(random.nextLong())
                .putLong(offset).putInt((int) length);
        byte[] p = new byte[payload];
        random.nextBytes(p);
        return b.put(p).flip();
    }

    private static ByteBuffer randomBytes(Random random, int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return ByteBuffer.wrap(b);
    }
}
