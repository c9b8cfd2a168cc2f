package io.dlsm.tests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.nbd.client.NbdClient;
import io.dlsm.tests.support.AllocationMaps;
import io.dlsm.tests.support.FreePort;
import io.dlsm.tests.support.PeerServer;
import io.dlsm.tests.support.Processes;
import io.dlsm.tests.support.TestSeed;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Our NBD client against nbdkit plugins and filters: known content, sparse maps, injected errors. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NbdClientAgainstNbdkitTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;
    private int port;
    private PeerServer nbdkit;
    private NbdClient client;
    private final long seed = TestSeed.announce(getClass());

    /** Starts nbdkit in the foreground with the given plugin/filter arguments and connects. */
    private void start(String... args) throws IOException {
        port = FreePort.find();
        List<String> command = new ArrayList<>(List.of("nbdkit", "-f", "-p", Integer.toString(port), "-i", "127.0.0.1"));
        command.addAll(List.of(args));
        nbdkit = PeerServer.start(port, command);
        client = NbdClient.connect("127.0.0.1", port, "");
    }

    @AfterEach
    void stop() throws IOException {
        if (client != null) {
            client.close();
        }
        if (nbdkit != null) {
            nbdkit.close();
        }
    }

    @Test
    void dataPluginContentIsReadExactly() throws IOException {
        start("data", "1 2 3 @4096 255*10", "size=1M");
        ByteBuffer all = ByteBuffer.allocate(MIB);
        client.read(0, all);
        byte[] want = new byte[MIB];
        want[0] = 1;
        want[1] = 2;
        want[2] = 3;
        Arrays.fill(want, 4096, 4106, (byte) 255);
        assertThat(all.array()).isEqualTo(want);
    }

    @Test
    void writesAreSeenByAnotherClient() throws Exception {
        start("memory", "64M");
        Random random = new Random(seed);
        byte[] expected = new byte[64 * MIB];
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            int length = 512 * (1 + random.nextInt(128));
            // Disjoint slots so the expected image does not depend on completion order.
            int offset = i * 320 * 1024;
            byte[] data = new byte[length];
            random.nextBytes(data);
            System.arraycopy(data, 0, expected, offset, length);
            writes.add(client.writeAsync(offset, ByteBuffer.wrap(data), false));
        }
        CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
        client.flush();
        Path copy = dir.resolve("copy.raw");
        Processes.run("nbdcopy", "nbd://127.0.0.1:" + port + "/", copy.toString());
        assertThat(Arrays.equals(Files.readAllBytes(copy), expected)).as("seed %d", seed).isTrue();
    }

    @Test
    void sparseRandomMatchesNbdcopyAndNbdinfoMap() throws IOException {
        long pluginSeed = seed & 0x7fffffff;
        start("sparse-random", "256M", "seed=" + pluginSeed);
        Path copy = dir.resolve("copy.raw");
        Processes.run("nbdcopy", "nbd://127.0.0.1:" + port + "/", copy.toString());
        ByteBuffer all = ByteBuffer.allocate((int) client.size());
        client.read(0, all);
        assertThat(Arrays.equals(all.array(), Files.readAllBytes(copy))).as("plugin seed %d", pluginSeed).isTrue();
        assertThat(AllocationMaps.fromClient(client)).as("plugin seed %d", pluginSeed)
                .isEqualTo(AllocationMaps.fromNbdinfo("nbd://127.0.0.1:" + port + "/"));
    }

    @Test
    void trimAndZeroOnMemoryPluginReadBackAsZeroes() throws IOException {
        start("memory", "16M");
        byte[] ones = new byte[4 * MIB];
        Arrays.fill(ones, (byte) 1);
        client.write(0, ByteBuffer.wrap(ones), true);
        client.trim(0, MIB);
        client.writeZeroes(MIB, MIB, true, false);
        ByteBuffer back = ByteBuffer.allocate(4 * MIB);
        client.read(0, back);
        assertThat(Arrays.copyOfRange(back.array(), 0, 2 * MIB)).containsOnly(0);
        assertThat(Arrays.copyOfRange(back.array(), 2 * MIB, 4 * MIB)).containsOnly(1);
        assertThat(AllocationMaps.fromClient(client).get(0).hole()).isTrue();
    }

    @Test
    void injectedErrorsSurfaceWithTheirErrnoAndTheConnectionSurvives() throws IOException {
        start("--filter=error", "memory", "16M",
                "error-pread=EIO", "error-pread-rate=100%",
                "error-pwrite=ENOSPC", "error-pwrite-rate=100%",
                "error-trim=EPERM", "error-trim-rate=100%");
        assertThatThrownBy(() -> client.read(0, ByteBuffer.allocate(4096)))
                .isInstanceOfSatisfying(BlockIoException.class, e -> assertThat(e.errno()).isEqualTo(Errno.EIO));
        assertThatThrownBy(() -> client.write(0, ByteBuffer.allocate(4096), false))
                .isInstanceOfSatisfying(BlockIoException.class, e -> assertThat(e.errno()).isEqualTo(Errno.ENOSPC));
        assertThatThrownBy(() -> client.trim(0, 4096))
                .isInstanceOfSatisfying(BlockIoException.class, e -> assertThat(e.errno()).isEqualTo(Errno.EPERM));
        client.flush();
        client.writeZeroes(0, 4096, false, false);
        assertThat(client.isOpen()).isTrue();
    }

    @Test
    void requestsAreSplitAtTheServersMaximumBlockSize() throws IOException {
        // The policy filter advertises 64 KiB and rejects anything larger with EINVAL.
        start("--filter=blocksize-policy", "memory", "16M",
                "blocksize-minimum=512", "blocksize-maximum=65536", "blocksize-error-policy=error");
        assertThat(client.blockSize().minimum()).isEqualTo(512);
        assertThat(client.blockSize().maximum()).isEqualTo(65536);
        byte[] data = new byte[3 * MIB + 512];
        new Random(seed).nextBytes(data);
        client.write(512, ByteBuffer.wrap(data), false);
        ByteBuffer back = ByteBuffer.allocate(data.length);
        client.read(512, back);
        assertThat(back.array()).as("seed %d", seed).isEqualTo(data);
    }

    @Test
    void serverWithoutStructuredRepliesUsesSimpleReplies() throws IOException {
        start("--no-sr", "data", "7 8 9", "size=64K");
        assertThat(client.structuredReplies()).isFalse();
        assertThat(client.canBlockStatus()).isFalse();
        ByteBuffer head = ByteBuffer.allocate(4);
        client.read(0, head);
        assertThat(head.array()).containsExactly(7, 8, 9, 0);
    }
}
