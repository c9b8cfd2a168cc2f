package io.dlsm.tests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dlsm.blockd.block.Extent;
import io.dlsm.blockd.nbd.client.ListedExport;
import io.dlsm.blockd.nbd.client.NbdClient;
import io.dlsm.blockd.nbd.client.NbdEndpoint;
import io.dlsm.blockd.nbd.client.NbdOptionException;
import io.dlsm.blockd.nbd.client.ReconnectingNbdClient;
import io.dlsm.blockd.nbd.client.RemoteBlockDevice;
import io.dlsm.blockd.nbd.Nbd;
import io.dlsm.tests.support.AllocationMaps;
import io.dlsm.tests.support.FreePort;
import io.dlsm.tests.support.PeerServer;
import io.dlsm.tests.support.Processes;
import io.dlsm.tests.support.TestSeed;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Our NBD client against QEMU's own server, with the raw backing file as the truth. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NbdClientAgainstQemuNbdTest {
    private static final String EXPORT = "disk";
    private static final int SIZE = 64 << 20;
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;
    private Path image;
    private int port;
    private PeerServer qemuNbd;
    private NbdClient client;
    private final long seed = TestSeed.announce(getClass());

    @BeforeEach
    void startServer() throws IOException {
        image = dir.resolve("disk.raw");
        // Sparse: data at 1 MiB..3 MiB and 40 MiB..41 MiB, holes elsewhere.
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(SIZE);
            Random random = new Random(seed);
            f.seek(MIB);
            f.write(randomBytes(random, 2 * MIB));
            f.seek(40L * MIB);
            f.write(randomBytes(random, MIB));
        }
        port = FreePort.find();
        qemuNbd = startQemuNbd();
        client = NbdClient.connect("127.0.0.1", port, EXPORT);
    }

    private PeerServer startQemuNbd() throws IOException {
        return PeerServer.start(port, List.of("qemu-nbd", "-f", "raw", "-x", EXPORT, "-p", Integer.toString(port),
                "-b", "127.0.0.1", "--persistent", "--shared=8", "--discard=unmap", image.toString()));
    }

    @AfterEach
    void stopServer() throws IOException {
        if (client != null) {
            client.close();
        }
        if (qemuNbd != null) {
            qemuNbd.close();
        }
    }

    @Test
    void handshakeReportsTheExportAndListShowsIt() throws IOException {
        assertThat(client.size()).isEqualTo(SIZE);
        assertThat(client.structuredReplies()).isTrue();
        assertThat(client.canBlockStatus()).isTrue();
        assertThat(client.canFlush()).isTrue();
        assertThat(client.canTrim()).isTrue();
        assertThat(client.canWriteZeroes()).isTrue();
        assertThat(client.readOnly()).isFalse();
        assertThat(NbdClient.list("127.0.0.1", port)).extracting(ListedExport::name).contains(EXPORT);
        try (RemoteBlockDevice device = new RemoteBlockDevice(NbdClient.connect("127.0.0.1", port, EXPORT))) {
            assertThat(device.capabilities().trim()).isTrue();
            assertThat(device.capabilities().blockStatus()).isTrue();
            assertThat(device.size()).isEqualTo(SIZE);
        }
    }

    @Test
    void unknownExportIsRefused() {
        assertThatThrownBy(() -> NbdClient.connect("127.0.0.1", port, "no-such-export"))
                .isInstanceOfSatisfying(NbdOptionException.class,
                        e -> assertThat(e.replyType()).isEqualTo(Nbd.NBD_REP_ERR_UNKNOWN));
    }

    @Test
    void wholeExportReadInOneCallMatchesTheFileAndIsSplitAtTheMaximum() throws IOException {
        ByteBuffer all = ByteBuffer.allocate(SIZE);
        client.read(0, all);
        assertThat(all.position()).isEqualTo(SIZE);
        assertThat(Arrays.equals(all.array(), Files.readAllBytes(image))).as("seed %d", seed).isTrue();
    }

    @Test
    void writesLandInTheBackingFile() throws IOException {
        Random random = new Random(seed);
        byte[] expected = Files.readAllBytes(image);
        for (int i = 0; i < 50; i++) {
            int length = 512 * (1 + random.nextInt(256));
            int offset = 512 * random.nextInt((SIZE - length) / 512);
            byte[] data = randomBytes(random, length);
            client.write(offset, ByteBuffer.wrap(data), random.nextBoolean());
            System.arraycopy(data, 0, expected, offset, length);
        }
        // One write larger than 32 MiB, which the client must split.
        byte[] big = randomBytes(random, 33 * MIB);
        client.write(7 * MIB, ByteBuffer.wrap(big), false);
        System.arraycopy(big, 0, expected, 7 * MIB, big.length);
        client.flush();
        assertThat(Arrays.equals(Files.readAllBytes(image), expected)).as("seed %d", seed).isTrue();
    }

    @Test
    void manyConcurrentAsyncRequestsFromManyThreads() throws Exception {
        int blocks = 1024;
        int blockSize = 4096;
        byte[][] written = new byte[blocks][];
        Random random = new Random(seed);
        for (int i = 0; i < blocks; i++) {
            written[i] = randomBytes(random, blockSize);
        }
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<CompletableFuture<Void>> writes = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int thread = t;
                writes.add(CompletableFuture.supplyAsync(() -> {
                    List<CompletableFuture<Void>> mine = new ArrayList<>();
                    for (int i = thread; i < blocks; i += 8) {
                        mine.add(client.writeAsync((long) i * blockSize, ByteBuffer.wrap(written[i]), false));
                    }
                    return CompletableFuture.allOf(mine.toArray(CompletableFuture[]::new));
                }, pool).thenCompose(f -> f));
            }
            CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
            client.flush();

            ByteBuffer[] read = new ByteBuffer[blocks];
            List<CompletableFuture<Void>> reads = new ArrayList<>();
            for (int i = blocks - 1; i >= 0; i--) {
                read[i] = ByteBuffer.allocate(blockSize);
                reads.add(client.readAsync((long) i * blockSize, read[i]));
            }
            CompletableFuture.allOf(reads.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
            byte[] file = Files.readAllBytes(image);
            for (int i = 0; i < blocks; i++) {
                assertThat(read[i].array()).as("block %d, seed %d", i, seed).isEqualTo(written[i]);
                assertThat(Arrays.copyOfRange(file, i * blockSize, (i + 1) * blockSize))
                        .as("file block %d, seed %d", i, seed).isEqualTo(written[i]);
            }
            assertThat(client.inFlightCount()).isZero();
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void blockStatusMatchesNbdinfoMap() throws IOException {
        List<Extent> ours = AllocationMaps.fromClient(client);
        assertThat(ours).isEqualTo(AllocationMaps.fromNbdinfo(uri()));
        // And it says what the file holds: data where we wrote, holes around it.
        assertThat(ours).anySatisfy(e -> assertThat(e.hole()).isTrue());
        assertThat(dataBytesIn(ours, MIB, 3 * MIB)).isEqualTo(2 * MIB);
        assertThat(dataBytesIn(ours, 40L * MIB, 41L * MIB)).isEqualTo(MIB);
        assertThat(dataBytesIn(ours, 10L * MIB, 20L * MIB)).isZero();
    }

    @Test
    void trimAndWriteZeroesPunchHoles() throws IOException {
        long allocatedBefore = allocatedBytes();
        client.trim(MIB, MIB);
        client.writeZeroes(40L * MIB, MIB, false, false);
        client.flush();
        assertThat(allocatedBytes()).isLessThanOrEqualTo(allocatedBefore - 2L * MIB);
        List<Extent> map = AllocationMaps.fromClient(client);
        assertThat(dataBytesIn(map, MIB, 2 * MIB)).isZero();
        assertThat(dataBytesIn(map, 2 * MIB, 3 * MIB)).isEqualTo(MIB);
        assertThat(dataBytesIn(map, 40L * MIB, 41L * MIB)).isZero();
        ByteBuffer zeroed = ByteBuffer.allocate(MIB);
        client.read(40L * MIB, zeroed);
        assertThat(zeroed.array()).containsOnly(0);
        assertThat(map).isEqualTo(AllocationMaps.fromNbdinfo(uri()));
    }

    @Test
    void reconnectAfterTheServerIsRestarted() throws Exception {
        ReconnectingNbdClient reconnecting = new ReconnectingNbdClient(new NbdEndpoint("127.0.0.1", port, EXPORT));
        try {
            ByteBuffer before = ByteBuffer.allocate(MIB);
            reconnecting.current().read(MIB, before);
            NbdClient first = reconnecting.current();

            qemuNbd.close();
            // A request on the dead connection fails rather than hangs.
            assertThatThrownBy(() -> first.readAsync(0, ByteBuffer.allocate(4096)).get(30, TimeUnit.SECONDS))
                    .cause().isInstanceOf(IOException.class);
            assertThat(first.isOpen()).isFalse();
            // With the server down, one attempt and an IOException: no hidden retry loop.
            assertThatThrownBy(reconnecting::current).isInstanceOf(IOException.class);

            qemuNbd = startQemuNbd();
            NbdClient second = reconnecting.current();
            assertThat(second).isNotSameAs(first);
            ByteBuffer after = ByteBuffer.allocate(MIB);
            second.read(MIB, after);
            assertThat(after.array()).isEqualTo(before.array());
            assertThat(reconnecting.connections()).isEqualTo(2);
            assertThat(reconnecting.reconnect()).isNotSameAs(second);
        } finally {
            reconnecting.close();
        }
    }

    private String uri() {
        return "nbd://127.0.0.1:" + port + "/" + EXPORT;
    }

    private long allocatedBytes() throws IOException {
        return 512L * Long.parseLong(Processes.run("stat", "-c", "%b", image.toString()).trim());
    }

    private static long dataBytesIn(List<Extent> map, long from, long to) {
        long total = 0;
        for (Extent e : map) {
            if (!e.hole()) {
                total += Math.max(0, Math.min(e.end(), to) - Math.max(e.offset(), from));
            }
        }
        return total;
    }

    private static byte[] randomBytes(Random random, int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }
}
