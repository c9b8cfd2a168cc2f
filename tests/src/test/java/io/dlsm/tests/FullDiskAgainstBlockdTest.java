package io.dlsm.tests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.dlsm.blockd.nbd.client.NbdClient;
import io.dlsm.tests.support.BlockdProcess;
import io.dlsm.tests.support.PeerCommand;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A full file system under blockd's data directory, made for the test: a 24 MiB tmpfs
 * mounted here and unmounted afterwards. A full disk is a condition the client can wait out
 * (QEMU pauses the guest on ENOSPC with werror=enospc), not an I/O error: qemu-io must see
 * "No space left on device", and a sink hydrating into it must say so and resume by itself.
 */
class FullDiskAgainstBlockdTest {
    private static final long MIB = 1L << 20;
    private static final Duration WAIT = Duration.ofSeconds(180);

    @TempDir
    Path tmp;
    private Path small;
    private BlockdProcess source;
    private BlockdProcess dest;

    @BeforeEach
    void mountSmallFileSystem() throws Exception {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")), "mounting a tmpfs needs root");
        small = Files.createDirectory(tmp.resolve("small"));
        PeerCommand.ok("mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "dlsm-full-disk-test", small.toString());
    }

    @AfterEach
    void unmount() {
        for (BlockdProcess p : new BlockdProcess[] {dest, source}) {
            if (p != null) {
                p.close();
            }
        }
        if (small != null) {
            PeerCommand.Result r = PeerCommand.run(PeerCommand.DEFAULT_TIMEOUT, "umount", small.toString());
            if (r.exitCode() != 0) {
                // Still busy (a process that did not die): detached now, freed when it goes.
                PeerCommand.run(PeerCommand.DEFAULT_TIMEOUT, "umount", "-l", small.toString());
            }
        }
    }

    @Test
    void aWriteToAFullVolumeIsEnospcForQemuAndSucceedsOnceSpaceIsFreed() {
        dest = BlockdProcess.start(small.resolve("node"));
        dest.createVolume("vol", 64 * MIB);

        PeerCommand.Result full = PeerCommand.run(PeerCommand.DEFAULT_TIMEOUT, "qemu-io", "-f", "raw",
                "-c", "write -P 0xab 0 40M", dest.nbdUri("vol"));
        String out = full.stdout() + full.stderr();
        System.out.println("full disk, qemu-io: " + out.strip());
        assertThat(out).as(full.describe()).contains("No space left on device")
                .doesNotContain("Input/output error");

        // Freeing space (here: discarding what filled it) is all it takes; the same write then works.
        PeerCommand.ok("qemu-io", "-f", "raw", "-c", "discard 0 40M", "-c", "write -P 0xcd 0 8M",
                "-c", "read -P 0xcd 0 8M", "-c", "read -P 0 8M 1M", dest.nbdUri("vol"));
        assertThat(dest.isAlive()).isTrue();
    }

    @Test
    void aSinkHydratingIntoAFullFileSystemSaysNoSpaceAndResumesOnceSpaceIsFreed() throws Exception {
        source = BlockdProcess.start(tmp.resolve("source"));
        dest = BlockdProcess.start(small.resolve("node"));
        long size = 32 * MIB;
        byte[] model = new byte[(int) size];
        source.createVolume("vol", size);
        Random rnd = new Random(18);
        try (NbdClient c = NbdClient.connect(source.nbdHost(), source.nbdPort(), "vol")) {
            // 20 MiB of data in 1 MiB pieces, holes between: more than the 24 MiB file system
            // has room for once the filler below is there.
            for (int m = 0; m < 32; m++) {
                if (m % 8 < 5) {
                    byte[] chunk = new byte[(int) MIB];
                    rnd.nextBytes(chunk);
                    System.arraycopy(chunk, 0, model, (int) (m * MIB), chunk.length);
                    c.write(m * MIB, ByteBuffer.wrap(chunk), false);
                }
            }
            c.flush();
        }
        Path filler = small.resolve("filler");
        Files.write(filler, new byte[(int) (12 * MIB)]);

        String alias = source.call("POST", "/v1/volumes/vol/migration-export", null).body()
                .path("migrationExport").asText();
        assertThat(dest.call("POST", "/v1/sinks", Map.of("name", "vol", "source", Map.of("host", source.nbdHost(),
                "port", source.nbdPort(), "export", alias))).status()).isEqualTo(201);
        assertThat(source.call("POST", "/v1/volumes/vol/fence", null).status()).isEqualTo(200);
        assertThat(dest.call("POST", "/v1/sinks/vol/activate", Map.of()).status()).isEqualTo(200);

        await("sink reports NO_SPACE", () -> sink().path("condition").asText().equals("NO_SPACE"));
        JsonNode stuck = sink();
        System.out.println("full disk, sink: " + stuck);
        assertThat(stuck.path("state").asText()).as("the source is fine: not DEGRADED").isEqualTo("ACTIVE");
        assertThat(stuck.path("lastError").asText()).contains("no space left for sink vol", "free",
                small.resolve("node").toString()).doesNotContain("unreachable");
        // Reads go on, regions that cannot be stored come from the source unkept; a write to a
        // region not yet here (it must be fetched and stored first) is ENOSPC, not EIO.
        byte[] whole = dest.readExport("vol", size);
        assertThat(Arrays.mismatch(whole, model)).as("first byte read while the disk is full that differs").isEqualTo(-1);
        long absent = firstAbsentDataMiB(model, stuck);
        PeerCommand.Result write = PeerCommand.run(PeerCommand.DEFAULT_TIMEOUT, "qemu-io", "-f", "raw",
                "-c", "write -P 0x5a " + (absent * MIB + 4096) + " 4096", dest.nbdUri("vol"));
        String out = write.stdout() + write.stderr();
        assertThat(out).as(write.describe()).contains("No space left on device").doesNotContain("Input/output error");

        Files.delete(filler);
        await("hydration resumed and committed", () -> {
            JsonNode s = dest.call("GET", "/v1/sinks/vol", null).body();
            return s != null && s.path("state").asText().equals("COMMITTED");
        });
        JsonNode done = sink();
        System.out.println("full disk, sink after space was freed: " + done);
        assertThat(done.path("condition").asText()).isEqualTo("OK");
        byte[] got = dest.readExport("vol", size);
        assertThat(Arrays.mismatch(got, model)).as("first byte that differs from the source").isEqualTo(-1);
    }

    /**
     * A MiB of data the sink has not stored yet: the copier goes in order, so the last data
     * MiB is absent while regions are missing (asserted by the caller's write failing).
     */
    private static long firstAbsentDataMiB(byte[] model, JsonNode status) {
        assertThat(status.path("regionsPresent").asLong()).isLessThan(status.path("regionsTotal").asLong());
        for (int m = (int) (model.length / MIB) - 1; m >= 0; m--) {
            if (model[(int) (m * MIB)] != 0 || model[(int) (m * MIB) + 1] != 0) {
                return m;
            }
        }
        throw new AssertionError("no data in the model");
    }

    private JsonNode sink() {
        return dest.call("GET", "/v1/sinks/vol", null).body();
    }

    private static void await(String what, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!done.getAsBoolean()) {
            assertThat(System.nanoTime()).as("%s within %s", what, WAIT).isLessThan(deadline);
            Thread.sleep(50);
        }
    }
}
