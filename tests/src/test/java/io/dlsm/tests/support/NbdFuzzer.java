package io.dlsm.tests.support;

import static io.dlsm.blockd.nbd.Nbd.*;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.SocketException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Seeded malformed and mutated NBD frames against a real blockd: random option frames in the
 * handshake, random request frames (junk, wild headers, short payloads, out-of-range offsets,
 * unknown flags) in transmission, on many connections at once, each thread with its own
 * seed derived from one. Every connection is half-closed after its batch and must be closed
 * by the server on its own; negotiating a fresh connection must always work. A verification
 * client writes and reads back its own volume throughout, so wrong data shows. The abuse
 * export must be writable and {@code abuseSize} bytes long.
 */
public final class NbdFuzzer {
    /** What a run did. */
    public record Result(long frames, long connections, long verifiedOps, long seconds) {
    }

    private final BlockdProcess blockd;
    private final String abuseExport;
    private final long abuseSize;
    private final String victimExport;
    private final long seed;

    public NbdFuzzer(BlockdProcess blockd, String abuseExport, long abuseSize, String victimExport, long seed) {
        this.blockd = blockd;
        this.abuseExport = abuseExport;
        this.abuseSize = abuseSize;
        this.victimExport = victimExport;
        this.seed = seed;
    }

    /** Sends at least {@code frames} frames over {@code threads} concurrent connections. */
    public Result run(long frames, int threads) throws Exception {
        String context = "seed " + seed + " (rerun with -Ddlsm.seed=" + seed + ")";
        AtomicLong sent = new AtomicLong();
        AtomicLong connections = new AtomicLong();
        AtomicLong verified = new AtomicLong();
        long start = System.nanoTime();
        ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
        try {
            List<Future<?>> fuzzers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                Random rnd = new Random(seed + t);
                fuzzers.add(pool.submit(() -> {
                    fuzz(rnd, frames, sent, connections, context);
                    return null;
                }));
            }
            Future<?> verifier = pool.submit(() -> {
                verify(new Random(seed - 1), fuzzers, verified, context);
                return null;
            });
            for (Future<?> f : fuzzers) {
                f.get();
            }
            verifier.get();
        } finally {
            pool.shutdownNow();
            pool.awaitTermination(30, TimeUnit.SECONDS);
        }
        return new Result(sent.get(), connections.get(), verified.get(),
                TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start));
    }

    private void fuzz(Random rnd, long frames, AtomicLong sent, AtomicLong connections, String context)
            throws IOException {
        while (sent.get() < frames) {
            long n = connections.incrementAndGet();
            boolean inHandshake = rnd.nextInt(5) == 0;
            // Connecting and negotiating must always work: outside the catch below.
            RawNbd c = inHandshake ? RawNbd.handshakeStart(blockd) : RawNbd.transmission(blockd, abuseExport);
            int batch = 1 + rnd.nextInt(12);
            sent.addAndGet(batch);
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
                assertThat(c.drainUntilServerCloses()).as(context + ", connection " + n).isTrue();
            } catch (SocketException e) {
                // Writing into a connection the server already dropped for a protocol error: allowed.
            }
            if (n % 500 == 0) {
                assertThat(blockd.isAlive()).as(context).isTrue();
            }
        }
    }

    /** Writes seeded blocks with FUA and reads each back, until the fuzzers are done. */
    private void verify(Random rnd, List<Future<?>> fuzzers, AtomicLong verified, String context) throws IOException {
        try (RawNbd c = RawNbd.transmission(blockd, victimExport)) {
            long cookie = 1;
            while (fuzzers.stream().anyMatch(f -> !f.isDone()) || verified.get() == 0) {
                byte[] block = new byte[4096];
                rnd.nextBytes(block);
                long offset = 4096L * rnd.nextInt(256);
                c.request(NBD_CMD_FLAG_FUA, NBD_CMD_WRITE, cookie, offset, block.length, block);
                assertThat(c.simpleReplyError(cookie++)).as(context + ": verification write").isZero();
                assertThat(c.readAt(offset, block.length)).as(context + ": verification read at " + offset)
                        .isEqualTo(block);
                verified.incrementAndGet();
            }
        }
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

    private void randomRequest(RawNbd c, Random rnd) throws IOException {
        switch (rnd.nextInt(6)) {
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
                        rnd.nextInt((int) abuseSize + 8192), length, payload);
            }
            case 3 -> c.request(rnd.nextInt(32), rnd.nextBoolean() ? NBD_CMD_BLOCK_STATUS : NBD_CMD_WRITE_ZEROES,
                    rnd.nextLong(), rnd.nextInt((int) abuseSize * 2), rnd.nextInt(1 << 21), null);
            case 4 -> {
                // Zero lengths and exact-end offsets: the corners the spec leaves to the server.
                int type = new int[] {NBD_CMD_READ, NBD_CMD_WRITE, NBD_CMD_TRIM, NBD_CMD_WRITE_ZEROES,
                    NBD_CMD_BLOCK_STATUS, NBD_CMD_FLUSH}[rnd.nextInt(6)];
                long offset = rnd.nextBoolean() ? abuseSize : rnd.nextInt((int) abuseSize);
                c.request(rnd.nextBoolean() ? NBD_CMD_FLAG_FUA : 0, type, rnd.nextLong(), offset, 0, null);
            }
            default -> c.request(rnd.nextInt(8), rnd.nextBoolean() ? NBD_CMD_READ : NBD_CMD_TRIM, rnd.nextLong(),
                    rnd.nextBoolean() ? rnd.nextLong() : rnd.nextInt((int) abuseSize), rnd.nextInt(1 << 20), null);
        }
    }
}
