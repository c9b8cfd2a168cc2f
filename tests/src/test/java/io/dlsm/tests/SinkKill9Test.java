package io.dlsm.tests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.dlsm.blockd.nbd.client.NbdClient;
import io.dlsm.tests.support.FreePort;
import io.dlsm.tests.support.TestSeed;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crash consistency of a sink with real processes: while the destination hydrates (throttled)
 * a guest writes seeded data with FUA or followed by FLUSH; the destination is killed with
 * SIGKILL at random moments and restarted on the same data dir and NBD port, over and over.
 * After the final commit every acknowledged-durable write is there and every byte nobody
 * wrote equals the source. Every wait is bounded, so there is no class timeout. Rounds: {@code -Ddlsm.kill9.rounds=N} (default 20; the soak script runs thousands).
 */
class SinkKill9Test {
    private static final int SIZE = 96 << 20;
    private static final int REGION = 64 << 10;
    private static final int BLOCK = 4096;
    private static final String HOST = "127.0.0.1";

    /** Per 4 KiB block: nobody wrote it, a durable write, or a write the crash may have lost. */
    private static final byte SOURCE = 0;
    private static final byte DURABLE = 1;
    private static final byte EITHER = 2;

    @TempDir
    Path dir;

    private final List<Process> started = Collections.synchronizedList(new ArrayList<>());

    @AfterEach
    void killProcesses() throws InterruptedException {
        SinkTestProcesses.killAll(started);
    }

    @Test
    void flushedWritesSurviveRepeatedKill9OfTheDestination() throws Exception {
        long seed = TestSeed.announce(getClass());
        int rounds = Integer.getInteger("dlsm.kill9.rounds", 20);
        Random rnd = new Random(seed);
        SinkTestProcesses.Node source = SinkTestProcesses.start(dir.resolve("source"), 0, started);
        int destPort = FreePort.find();
        Path destDir = dir.resolve("dest");
        SinkTestProcesses.Node dest = SinkTestProcesses.start(destDir, destPort, started);

        // Source: whole regions of data or holes.
        byte[] sourceBytes = new byte[SIZE];
        source.call("POST", "/v1/volumes", Map.of("name", "vol", "sizeBytes", SIZE));
        try (NbdClient c = NbdClient.connect(HOST, source.nbdPort(), "vol")) {
            for (int r = 0; r < SIZE / REGION; r++) {
                if (rnd.nextInt(10) < 6) {
                    byte[] chunk = new byte[REGION];
                    rnd.nextBytes(chunk);
                    System.arraycopy(chunk, 0, sourceBytes, r * REGION, REGION);
                    c.write((long) r * REGION, ByteBuffer.wrap(chunk), false);
                }
            }
            c.flush();
        }
        String alias = source.call("POST", "/v1/volumes/vol/migration-export", null).get("migrationExport").asText();
        dest.call("POST", "/v1/sinks", Map.of("name", "vol", "regionSize", REGION, "bandwidthBytesPerSecond", 1 << 20,
                "source", Map.of("host", HOST, "port", source.nbdPort(), "export", alias)));
        source.call("POST", "/v1/volumes/vol/fence", null);
        dest.call("POST", "/v1/sinks/vol/activate", Map.of());

        byte[] written = new byte[SIZE];
        byte[] state = new byte[SIZE / BLOCK];
        List<Integer> free = new ArrayList<>();
        // The guest writes into a quarter of the regions, scattered: its partial writes fetch
        // those on demand, and the rest stays for the copier, so the sink stays ACTIVE.
        int blocksPerRegion = REGION / BLOCK;
        for (int r = 0; r < SIZE / REGION; r++) {
            if (rnd.nextInt(4) == 0) {
                for (int b = r * blocksPerRegion; b < (r + 1) * blocksPerRegion; b++) {
                    free.add(b);
                }
            }
        }
        Collections.shuffle(free, rnd);
        Map<String, Integer> statesSeen = new TreeMap<>();
        int acked = 0;
        long t0 = System.nanoTime();
        for (int round = 0; round < rounds; round++) {
            String s = state(dest);
            statesSeen.merge(s, 1, Integer::sum);
            Writer w = new Writer(dest.nbdPort(), new Random(rnd.nextLong()), free, written, state);
            Thread t = new Thread(w, "guest-" + round);
            t.start();
            int target = rnd.nextInt(16);
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (w.acked.get() < target && t.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            dest.kill9();
            t.join(30_000);
            assertThat(t.isAlive()).as("guest thread ended after the kill").isFalse();
            acked += w.acked.get();
            dest = SinkTestProcesses.start(destDir, destPort, started);
        }
        long elapsedMs = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("kill9: " + elapsedMs + " ms for the rounds; rounds=" + rounds + " acked durable ops=" + acked + " states at round start="
                + statesSeen);

        if (sinkStatus(dest) != null) {
            dest.call("PUT", "/v1/sinks/vol/bandwidth", Map.of("bytesPerSecond", 0));
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (!state(dest).startsWith("COMMITTED")) {
            assertThat(System.nanoTime()).as("commit by the deadline").isLessThan(deadline);
            Thread.sleep(20);
        }
        System.out.println("kill9: final status " + sinkStatus(dest));
        verify(dest, seed, sourceBytes, written, state);
        // The committed volume survives one more SIGKILL.
        dest.kill9();
        dest = SinkTestProcesses.start(destDir, destPort, started);
        verify(dest, seed, sourceBytes, written, state);
    }

    /** The sink's state; once committed and restarted the sink is gone and the volume is local. */
    private static String state(SinkTestProcesses.Node dest) throws IOException {
        JsonNode sink = sinkStatus(dest);
        if (sink != null) {
            return sink.get("state").asText();
        }
        dest.call("GET", "/v1/volumes/vol", null);
        return "COMMITTED (ordinary volume after a restart)";
    }

    private static JsonNode sinkStatus(SinkTestProcesses.Node dest) throws IOException {
        try {
            return dest.call("GET", "/v1/sinks/vol", null);
        } catch (IOException e) {
            if (e.getMessage().contains("-> 404")) {
                return null;
            }
            throw e;
        }
    }

    private static void verify(SinkTestProcesses.Node dest, long seed, byte[] source, byte[] written, byte[] state)
            throws IOException {
        try (NbdClient c = NbdClient.connect(HOST, dest.nbdPort(), "vol")) {
            byte[] chunk = new byte[1 << 20];
            for (int base = 0; base < SIZE; base += chunk.length) {
                c.read(base, ByteBuffer.wrap(chunk));
                for (int i = 0; i < chunk.length; i += BLOCK) {
                    int off = base + i;
                    int b = off / BLOCK;
                    boolean isSource = java.util.Arrays.equals(chunk, i, i + BLOCK, source, off, off + BLOCK);
                    boolean isWritten = java.util.Arrays.equals(chunk, i, i + BLOCK, written, off, off + BLOCK);
                    String what = switch (state[b]) {
                        case DURABLE -> isWritten ? null : "a durable write was lost";
                        case EITHER -> isWritten || isSource ? null : "neither the source nor the interrupted write";
                        default -> isSource ? null : "differs from the source though nobody wrote it";
                    };
                    assertThat(what).as("seed=%d block %d (offset %d)", seed, b, (long) off).isNull();
                }
            }
        }
    }

    /**
     * Writes 1-4 fresh 4 KiB blocks at a time (never the same block twice), with FUA or
     * followed by a FLUSH, until its connection dies with the process.
     */
    private static final class Writer implements Runnable {
        final int port;
        final Random rnd;
        final List<Integer> free;
        final byte[] written;
        final byte[] state;
        final AtomicInteger acked = new AtomicInteger();

        Writer(int port, Random rnd, List<Integer> free, byte[] written, byte[] state) {
            this.port = port;
            this.rnd = rnd;
            this.free = free;
            this.written = written;
            this.state = state;
        }

        @Override
        public void run() {
            List<Integer> pending = new ArrayList<>();
            try (NbdClient c = NbdClient.connect(HOST, port, "vol")) {
                while (free.size() > 4) {
                    int first = free.remove(free.size() - 1);
                    int n = 1 + rnd.nextInt(4);
                    while (first + n > SIZE / BLOCK || anyUsed(first, n)) {
                        n--;
                    }
                    if (n == 0) {
                        continue;
                    }
                    for (int b = first; b < first + n; b++) {
                        free.remove(Integer.valueOf(b));
                        state[b] = EITHER;
                        pending.add(b);
                    }
                    byte[] data = new byte[n * BLOCK];
                    rnd.nextBytes(data);
                    System.arraycopy(data, 0, written, first * BLOCK, data.length);
                    boolean fua = rnd.nextBoolean();
                    c.write((long) first * BLOCK, ByteBuffer.wrap(data), fua);
                    if (fua) {
                        for (int b = first; b < first + n; b++) {
                            state[b] = DURABLE;
                            pending.remove(Integer.valueOf(b));
                        }
                    }
                    if (!pending.isEmpty() && rnd.nextInt(3) == 0) {
                        c.flush();
                        for (int b : pending) {
                            state[b] = DURABLE;
                        }
                        pending.clear();
                    }
                    acked.incrementAndGet();
                }
            } catch (IOException | RuntimeException e) {
                // The destination was killed under us: pending writes stay EITHER.
            }
        }

        private boolean anyUsed(int first, int n) {
            for (int b = first; b < first + n; b++) {
                if (state[b] != SOURCE) {
                    return true;
                }
            }
            return false;
        }
    }
}
