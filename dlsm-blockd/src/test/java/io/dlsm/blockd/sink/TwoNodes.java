package io.dlsm.blockd.sink;

import io.dlsm.blockd.Blockd;
import io.dlsm.blockd.config.BlockdConfig;
import io.dlsm.blockd.config.HostPort;
import io.dlsm.blockd.nbd.client.NbdClient;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.BitSet;
import java.util.Optional;
import java.util.Random;
import java.util.function.BooleanSupplier;

/**
 * Shared fixture of the sink tests: a source and a destination {@link Blockd} in this JVM,
 * each on its own data dir and on 127.0.0.1 ports, with the steps of a migration and the
 * helpers the tests use to act as the guest (an {@link NbdClient}) and to poll for states.
 */
final class TwoNodes implements AutoCloseable {
    static final String HOST = "127.0.0.1";
    static final int REGION = 64 * 1024;
    static final String SEED_PROPERTY = "dlsm.test.seed";

    final Path sourceDir;
    final Path destDir;
    Blockd source;
    Blockd dest;

    TwoNodes(Path base) throws IOException {
        this.sourceDir = base.resolve("source");
        this.destDir = base.resolve("dest");
        source = start(sourceDir, 0);
        dest = start(destDir, 0);
    }

    /** Starts a node; {@code nbdPort} 0 picks a free one, otherwise that exact port (a restart). */
    static Blockd start(Path dir, int nbdPort) throws IOException {
        Blockd b = new Blockd(new BlockdConfig(dir, HostPort.parse(HOST + ":" + nbdPort), HostPort.parse(HOST + ":0"),
                8, 256, Optional.empty(), Duration.ofSeconds(60)));
        try {
            b.start();
        } catch (IOException | RuntimeException e) {
            b.close();
            throw e;
        }
        return b;
    }

    /** Seed of a randomized test, printed at once; {@code -Ddlsm.test.seed=N} replays a run. */
    static long seed(Class<?> test) {
        long seed = Long.getLong(SEED_PROPERTY, System.nanoTime());
        System.out.println(test.getSimpleName() + " seed=" + seed + " (rerun with -D" + SEED_PROPERTY + "=" + seed + ")");
        return seed;
    }

    // ------------------------------------------------------------ restarts

    void restartDest() throws IOException {
        int port = dest.nbdAddress().getPort();
        dest.close();
        dest = start(destDir, port);
    }

    void stopSource() throws IOException {
        source.close();
    }

    /** Starts the source again on its data dir and its former NBD port, so sinks find it. */
    void restartSource(int port) throws IOException {
        source = start(sourceDir, port);
    }

    // ------------------------------------------------------------ migration steps

    NbdClient connectSource(String export) throws IOException {
        return NbdClient.connect(HOST, source.nbdAddress().getPort(), export);
    }

    NbdClient connectDest(String export) throws IOException {
        return NbdClient.connect(HOST, dest.nbdAddress().getPort(), export);
    }

    /** A source volume filled by {@link SourceImage#random}; the writer has disconnected. */
    SourceImage createSourceVolume(String name, long size, Random rnd, double holeFraction) throws IOException {
        source.volumes().create(name, size, false);
        SourceImage img;
        try (NbdClient c = connectSource(name)) {
            img = SourceImage.random(size, rnd, holeFraction);
            img.writeTo(c);
        }
        awaitNoWriters(name);
        return img;
    }

    /**
     * The server notices a client's disconnect asynchronously. Were the writer still counted
     * when a test opens the migration export, its late departure would (rightly) fire the
     * automatic fence of a prepared migration.
     */
    void awaitNoWriters(String name) {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
        while (source.volumes().get(name).writers() > 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("source volume " + name + " still has writers after 60 s");
            }
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", e);
            }
        }
    }

    String openMigrationExport(String volume) {
        return source.volumes().openMigrationExport(volume).migrationExport();
    }

    SinkStatus createSink(String name, String sourceExport, long bandwidth, Integer retrySeconds, boolean autoCommit) {
        return dest.sinks().create(new SinkManager.CreateRequest(name, null,
                new SinkRecord.SourceAddress(HOST, source.nbdAddress().getPort(), sourceExport), REGION, autoCommit,
                bandwidth, retrySeconds));
    }

    /** Everything up to ACTIVE: migration export, sink, fence, activate. */
    SinkStatus migrate(String name, long bandwidth, Integer retrySeconds, boolean autoCommit) {
        createSink(name, openMigrationExport(name), bandwidth, retrySeconds, autoCommit);
        source.volumes().fence(name);
        return dest.sinks().activate(name, false);
    }

    SinkStatus sink(String name) {
        return dest.sinks().get(name);
    }

    /** The sink object behind the destination's export, for its bitmaps. */
    Sink sinkDevice(String name) {
        return (Sink) dest.exports().lookup(name).orElseThrow().device();
    }

    SinkStatus awaitState(String name, SinkState state, Duration timeout) {
        try {
            await("sink " + name + " " + state, timeout, () -> sink(name).state() == state);
        } catch (AssertionError e) {
            // A stall is only fixable with the sink's status and what its threads were doing.
            AssertionError detailed = new AssertionError(e.getMessage() + "; status " + sink(name)
                    + "\n" + sinkThreads(), e);
            throw detailed;
        }
        return sink(name);
    }

    private static String sinkThreads() {
        StringBuilder b = new StringBuilder();
        for (var entry : Thread.getAllStackTraces().entrySet()) {
            String n = entry.getKey().getName();
            if (n.startsWith("copier") || n.startsWith("sink-task") || n.startsWith("nbd-io")) {
                b.append(n).append(" ").append(entry.getKey().getState()).append('\n');
                for (StackTraceElement f : entry.getValue()) {
                    b.append("    at ").append(f).append('\n');
                }
            }
        }
        return b.toString();
    }

    /** Bounded polling: fails with {@code what} if {@code condition} is not true by the deadline. */
    static void await(String what, Duration timeout, BooleanSupplier condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for " + what);
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what, e);
            }
        }
    }

    /**
     * The invariant of an uninterrupted hydration: every region became present exactly once,
     * by a fetch, a skipped hole, or a guest write covering it.
     */
    static long accountedBytes(SinkStatus s) {
        return s.bytesFetchedOnDemand() + s.bytesCopiedInBackground() + s.bytesSkippedAsHoles()
                + s.bytesOverwrittenNeverFetched();
    }

    static String numbers(SinkStatus s) {
        return String.format("state=%s size=%d present=%d/%d writtenHere=%d onDemand=%d background=%d holes=%d "
                        + "overwrittenNeverFetched=%d wire=%d proxiedRead=%d proxiedWritten=%d migratedBack=%d",
                s.state(), s.sizeBytes(), s.regionsPresent(), s.regionsTotal(), s.regionsWrittenHere(),
                s.bytesFetchedOnDemand(), s.bytesCopiedInBackground(), s.bytesSkippedAsHoles(),
                s.bytesOverwrittenNeverFetched(), s.wireBytesReceived(), s.bytesProxiedRead(),
                s.bytesProxiedWritten(), s.bytesMigratedBack());
    }

    // ------------------------------------------------------------ guest I/O

    static byte[] read(NbdClient c, long offset, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        c.read(offset, b);
        return b.array();
    }

    static void write(NbdClient c, long offset, byte[] data, int from, int length, boolean fua) throws IOException {
        c.write(offset, ByteBuffer.wrap(data, from, length), fua);
    }

    /** Reads the whole export in 1 MiB pieces. */
    static byte[] readAll(NbdClient c) throws IOException {
        long size = c.size();
        byte[] all = new byte[Math.toIntExact(size)];
        for (long off = 0; off < size; off += 1 << 20) {
            int n = (int) Math.min(1 << 20, size - off);
            c.read(off, ByteBuffer.wrap(all, (int) off, n));
        }
        return all;
    }

    /** Index of the first byte where a and b differ in [from, to), or -1. */
    static long firstDifference(byte[] a, byte[] b, int from, int to) {
        int i = java.util.Arrays.mismatch(a, from, to, b, from, to);
        return i < 0 ? -1 : from + i;
    }

    @Override
    public void close() throws IOException {
        try {
            if (dest != null) {
                dest.close();
            }
        } finally {
            if (source != null) {
                source.close();
            }
        }
    }

    /** What the source volume holds: whole regions of random data, or holes. */
    record SourceImage(byte[] bytes, BitSet dataRegions) {
        static SourceImage random(long size, Random rnd, double holeFraction) {
            byte[] bytes = new byte[Math.toIntExact(size)];
            int regions = (int) (size / REGION);
            BitSet data = new BitSet(regions);
            for (int r = 0; r < regions; r++) {
                if (rnd.nextDouble() >= holeFraction) {
                    data.set(r);
                    byte[] chunk = new byte[REGION];
                    rnd.nextBytes(chunk);
                    System.arraycopy(chunk, 0, bytes, r * REGION, REGION);
                }
            }
            return new SourceImage(bytes, data);
        }

        long dataBytes() {
            return (long) dataRegions.cardinality() * REGION;
        }

        void writeTo(NbdClient c) throws IOException {
            for (int r = dataRegions.nextSetBit(0); r >= 0; ) {
                int end = dataRegions.nextClearBit(r);
                int n = Math.min(end - r, 16);
                write(c, (long) r * REGION, bytes, r * REGION, n * REGION, false);
                r = dataRegions.nextSetBit(r + n);
            }
            c.flush();
        }

        byte[] copy() {
            return bytes.clone();
        }
    }

    static UncheckedIOException unchecked(IOException e) {
        return new UncheckedIOException(e);
    }
}
