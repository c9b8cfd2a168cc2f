package io.dlsm.tests;

import io.dlsm.tests.support.JsonHttp;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.dlsm.blockd.nbd.client.NbdClient;
import io.dlsm.tests.support.BackendProcess;
import io.dlsm.tests.support.BlockdProcess;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The control plane against real processes: the packaged backend and two blockd nodes that
 * register themselves with it. Data goes through blockd's NBD exports with the project's own
 * NBD client, and every test ends by comparing the volume with a byte-exact model.
 */
class BackendMigrationAgainstBlockdTest {
    private static final long MIB = 1L << 20;
    private static final long SIZE = 16 * MIB;
    private static final int DATA_MIB = 8;
    private static final Duration WAIT = Duration.ofSeconds(180);

    @TempDir
    Path tmp;
    BackendProcess backend;
    BlockdProcess a;
    BlockdProcess b;
    /** What the volume must contain. */
    byte[] model;

    @BeforeEach
    void startCluster() throws Exception {
        backend = BackendProcess.start(tmp.resolve("backend-state"));
        a = BlockdProcess.start(tmp.resolve("a"), backend.nodeArgs("a"));
        b = BlockdProcess.start(tmp.resolve("b"), backend.nodeArgs("b"));
        await("both nodes registered and UP", () -> {
            JsonNode nodes = ok(backend.call("GET", "/v1/nodes", null));
            return nodes.size() == 2 && nodes.get(0).path("state").asText().equals("UP")
                    && nodes.get(1).path("state").asText().equals("UP");
        });
        assertThat(backend.call("POST", "/v1/volumes", Map.of("name", "vol", "sizeBytes", SIZE, "node", "a")).status())
                .isEqualTo(201);
        model = new byte[(int) SIZE];
        // Data in the first half, holes in the second: only allocated data should travel.
        Random rnd = new Random(42);
        byte[] data = new byte[DATA_MIB * (int) MIB];
        rnd.nextBytes(data);
        try (NbdClient c = connect(a, "vol")) {
            write(c, 0, data);
            c.flush();
        }
    }

    @AfterEach
    void stop() {
        for (AutoCloseable p : new AutoCloseable[] {a, b, backend}) {
            try {
                if (p != null) {
                    p.close();
                }
            } catch (Exception e) {
                // Best effort: the next process is still closed.
            }
        }
    }

    @Test
    void fullMigrationWithAWriterMovesTheVolumeAndDeletesTheSource() throws Exception {
        NbdClient vm = connect(a, "vol");
        JsonNode m = created(backend.call("POST", "/v1/migrations", Map.of("volume", "vol", "targetNode", "b")));
        assertThat(m.path("phase").asText()).as("a writer is attached, so auto mode waits").isEqualTo("PREPARED");
        String id = m.path("id").asText();
        // Idempotent retry (Cinder lost the answer).
        assertThat(backend.call("POST", "/v1/migrations", Map.of("volume", "vol", "targetNode", "b")).body()
                .path("id").asText()).isEqualTo(id);
        assertThat(backend.call("PUT", "/v1/volumes/vol/size", Map.of("sizeBytes", 2 * SIZE)).status()).isEqualTo(409);

        write(vm, 3 * MIB + 100, pattern(70_000, 1));
        vm.flush();
        vm.close(); // The VM leaves the source: blockd fences it, the backend switches by itself.
        await("switched", () -> phaseOf(id).matches("ACTIVE|HYDRATED|COMMITTED"));
        // Pushed, not only found by the backend's poll: A told the backend the moment it fenced.
        await("A's fence event answered", () -> java.nio.file.Files.readString(a.stderrLog())
                .contains("that volume vol fenced itself"));

        JsonNode conn = ok(backend.call("POST", "/v1/volumes/vol/connection", Map.of("host", "b", "mode", "nbd")));
        assertThat(conn.path("data").path("port").asInt()).isEqualTo(b.nbdPort());
        try (NbdClient onB = NbdClient.connect(conn.path("data").path("host").asText(),
                conn.path("data").path("port").asInt(), conn.path("data").path("export").asText())) {
            write(onB, 12 * MIB + 5, pattern(100_000, 2));
            write(onB, 1 * MIB, pattern(64 * 1024, 3));
            onB.flush();
        }
        awaitCommittedAndCleanedUp(id);
        assertThat(ok(backend.call("GET", "/v1/volumes/vol", null)).path("node").asText()).isEqualTo("b");
        assertContent(b);
    }

    @Test
    void nodesReportTheirDataDirectorysFileSystemAsDfSeesIt() throws Exception {
        java.nio.file.FileStore fs = java.nio.file.Files.getFileStore(tmp.resolve("a"));
        JsonNode node = ok(backend.call("GET", "/v1/nodes/a", null));
        assertThat(node.path("capacityBytes").asLong()).isEqualTo(fs.getTotalSpace());
        assertThat(node.path("freeBytes").asLong()).isPositive().isLessThanOrEqualTo(fs.getTotalSpace());
        // The same numbers df prints for the directory (statvfs: blocks and blocks available).
        Process df = new ProcessBuilder("df", "-B1", "--output=size", tmp.resolve("a").toString()).start();
        String[] lines = new String(df.getInputStream().readAllBytes()).trim().split("\n");
        assertThat(df.waitFor()).isZero();
        assertThat(Long.parseLong(lines[lines.length - 1].trim())).isEqualTo(fs.getTotalSpace());
    }

    @Test
    void abortInPreparedDropsTheSinkAndLeavesTheSourceWritable() throws Exception {
        String id = created(backend.call("POST", "/v1/migrations",
                Map.of("volume", "vol", "targetNode", "b", "switchMode", "manual"))).path("id").asText();
        assertThat(b.call("GET", "/v1/sinks/vol", null).body().path("state").asText()).isEqualTo("PROXY");

        JsonNode aborted = ok(backend.call("POST", "/v1/migrations/" + id + "/abort", null));

        assertThat(aborted.path("phase").asText()).isEqualTo("ABORTED");
        assertThat(b.call("GET", "/v1/sinks/vol", null).status()).isEqualTo(404);
        JsonNode src = a.call("GET", "/v1/volumes/vol", null).body();
        assertThat(src.path("fenced").asBoolean()).isFalse();
        assertThat(src.path("migrationExport").isNull() || src.path("migrationExport").isMissingNode()).isTrue();
        JsonNode vol = ok(backend.call("GET", "/v1/volumes/vol", null));
        assertThat(vol.path("node").asText()).isEqualTo("a");
        assertThat(vol.path("state").asText()).isEqualTo("AVAILABLE");
        try (NbdClient c = connect(a, "vol")) {
            write(c, 100, pattern(1000, 9));
            c.flush();
        }
        assertContent(a);
    }

    @Test
    void abortAfterActiveBringsTheDestinationWritesBackToTheSource() throws Exception {
        String id = created(backend.call("POST", "/v1/migrations", Map.of("volume", "vol", "targetNode", "b",
                "switchMode", "manual", "bandwidthBytesPerSecond", 16 * 1024))).path("id").asText();
        assertThat(ok(backend.call("POST", "/v1/migrations/" + id + "/switch", null)).path("phase").asText())
                .isEqualTo("ACTIVE");
        try (NbdClient onB = connect(b, "vol")) {
            write(onB, 5 * MIB + 3, pattern(200_000, 4));
            write(onB, 14 * MIB, pattern(4096, 5));
            onB.flush();
        }

        JsonNode aborted = ok(backend.call("POST", "/v1/migrations/" + id + "/abort", null));

        assertThat(aborted.path("phase").asText()).isEqualTo("ABORTED");
        assertThat(b.call("GET", "/v1/sinks/vol", null).status()).isEqualTo(404);
        assertThat(a.call("GET", "/v1/volumes/vol", null).body().path("fenced").asBoolean()).isFalse();
        assertThat(ok(backend.call("GET", "/v1/volumes/vol", null)).path("node").asText()).isEqualTo("a");
        assertContent(a);
    }

    /**
     * Nova's "abort after the switch": the guest dropped its source connection and reconnected
     * to the source while the switch had it fenced, so NBD told it the export is read-only (for
     * the whole connection). After the abort copied the destination's writes back and unfenced
     * the source, blockd disconnects that client so it reconnects writable; before, it refused
     * its own writes ("server does not support write operations") until it was restarted.
     */
    @Test
    void aGuestThatReconnectedToItsFencedSourceWritesAgainAfterTheAbort() throws Exception {
        // Throttled: the copy must not finish (and commit) before Nova's abort.
        String id = created(backend.call("POST", "/v1/migrations", Map.of("volume", "vol", "targetNode", "b",
                "switchMode", "manual", "bandwidthBytesPerSecond", 16 * 1024))).path("id").asText();
        assertThat(ok(backend.call("POST", "/v1/migrations/" + id + "/switch", null)).path("phase").asText())
                .isEqualTo("ACTIVE");
        try (NbdClient onB = connect(b, "vol")) {
            assertThat(onB.readOnly()).as("the sink's export is writable once ACTIVE").isFalse();
            write(onB, 7 * MIB + 11, pattern(50_000, 6));
            onB.flush();
        }
        NbdClient back = connect(a, "vol");
        assertThat(back.readOnly()).as("the fenced source is offered read-only").isTrue();

        assertThat(ok(backend.call("POST", "/v1/migrations/" + id + "/abort", null)).path("phase").asText())
                .isEqualTo("ABORTED");

        awaitDisconnectedByTheServer(back);
        try (NbdClient again = connect(a, "vol")) {
            assertThat(again.readOnly()).isFalse();
            write(again, 9 * MIB, pattern(4096, 7));
            again.flush();
        }
        assertContent(a);
    }

    @Test
    void unfenceDisconnectsOnlyTheClientsToldTheVolumeWasReadOnly() throws Exception {
        NbdClient writer = connect(a, "vol");
        assertThat(a.call("POST", "/v1/volumes/vol/fence", null).status()).isEqualTo(200);
        NbdClient duringFence = connect(a, "vol");
        assertThat(duringFence.readOnly()).isTrue();

        assertThat(a.call("POST", "/v1/volumes/vol/unfence", null).status()).isEqualTo(200);

        awaitDisconnectedByTheServer(duringFence);
        // The client that negotiated a writable export before the fence keeps its connection.
        write(writer, 2 * MIB, pattern(8192, 8));
        writer.flush();
        writer.close();
        assertContent(a);
    }

    @Test
    void backendKilledMidHydrationResumesAndCompletesAfterRestart() throws Exception {
        String id = startThrottledHydration();
        writeOnBDuringHydration();

        backend.kill9();
        backend.restart();

        // The restarted backend reloaded the migration and follows the sink again.
        assertThat(ok(backend.call("GET", "/v1/migrations/" + id, null)).path("phase").asText())
                .matches("ACTIVE|HYDRATED|COMMITTED");
        await("bandwidth lifted, or nothing left to lift", () -> liftBandwidth(id));
        awaitCommittedAndCleanedUp(id);
        assertThat(ok(backend.call("GET", "/v1/volumes/vol", null)).path("node").asText()).isEqualTo("b");
        assertContent(b);
    }

    @Test
    void targetBlockdRestartMidHydrationStillCompletes() throws Exception {
        String id = startThrottledHydration();
        writeOnBDuringHydration();

        b.restart(); // New ports; it registers them with the backend again.

        await("bandwidth change reaches the restarted node", () -> liftBandwidth(id));
        awaitCommittedAndCleanedUp(id);
        assertContent(b);
    }

    @Test
    void sourceBlockdRestartedOnANewPortMidHydrationIsFollowedByTheSink() throws Exception {
        String id = startThrottledHydration();
        int oldPort = a.nbdPort();
        long t0 = System.nanoTime();
        a.stop();
        // Held while A starts again, so it cannot get its old port back.
        try (java.net.ServerSocket hold = new java.net.ServerSocket(oldPort, 1,
                java.net.InetAddress.getByName("127.0.0.1"))) {
            a.restart();
        }
        assertThat(a.nbdPort()).isNotEqualTo(oldPort);
        String expected = "nbd://127.0.0.1:" + a.nbdPort() + "/";
        await("the backend repointed the sink at A's new port", () ->
                b.call("GET", "/v1/sinks/vol", null).body().path("source").asText().startsWith(expected));
        long repointedMs = (System.nanoTime() - t0) / 1_000_000;
        await("bandwidth lifted, or nothing left to lift", () -> liftBandwidth(id));
        awaitCommittedAndCleanedUp(id);
        System.out.println("backend repoint: sink followed " + repointedMs + " ms after A's stop, committed "
                + (System.nanoTime() - t0) / 1_000_000 + " ms after it");
        assertThat(java.nio.file.Files.readString(backend.stderrLog())).contains("repointing");
        assertContent(b);
    }

    // ------------------------------------------------------------------ helpers

    /**
     * Manual switch at 64 KiB/s: the 8 MiB of data take two minutes, far longer than a restart
     * of a process even on a loaded machine, so the test acts mid-hydration. Were the machine
     * slower still, {@link #liftBandwidth} accepts the migration having finished meanwhile.
     */
    private String startThrottledHydration() throws Exception {
        String id = created(backend.call("POST", "/v1/migrations", Map.of("volume", "vol", "targetNode", "b",
                "switchMode", "manual", "bandwidthBytesPerSecond", 64 * 1024))).path("id").asText();
        ok(backend.call("POST", "/v1/migrations/" + id + "/switch", null));
        await("some regions hydrated", () -> {
            JsonNode p = ok(backend.call("GET", "/v1/migrations/" + id, null)).path("progress");
            return p.path("regionsPresent").asLong() > 0;
        });
        assertThat(phaseOf(id)).isEqualTo("ACTIVE");
        return id;
    }

    /**
     * Removes the limit: true once the backend took it, or once the sink is past hydrating
     * (a hydrated migration's bandwidth can no longer change, and needs no change).
     */
    private boolean liftBandwidth(String id) {
        JsonHttp.Reply r = backend.call("PUT", "/v1/migrations/" + id + "/bandwidth", Map.of("bytesPerSecond", 0));
        if (r.status() == 200) {
            return true;
        }
        return r.status() == 409 && phaseOf(id).matches("HYDRATED|COMMITTED");
    }

    private void writeOnBDuringHydration() throws Exception {
        try (NbdClient onB = connect(b, "vol")) {
            write(onB, 7 * MIB + 11, pattern(300_000, 6));
            write(onB, 15 * MIB, pattern(65_536, 7));
            onB.flush();
        }
    }

    private void awaitCommittedAndCleanedUp(String id) throws Exception {
        await("COMMITTED with the source deleted", () -> {
            JsonNode m = ok(backend.call("GET", "/v1/migrations/" + id, null));
            return m.path("phase").asText().equals("COMMITTED") && m.path("pendingAction").asText().equals("NONE");
        });
        assertThat(a.call("GET", "/v1/volumes/vol", null).status()).as("source copy deleted").isEqualTo(404);
        assertThat(b.call("GET", "/v1/volumes/vol", null).status()).isEqualTo(200);
    }

    private void awaitDisconnectedByTheServer(NbdClient c) throws Exception {
        await("the read-only client was disconnected", () -> {
            try {
                c.read(0, ByteBuffer.allocate(512));
                return false;
            } catch (java.io.IOException e) {
                return true;
            }
        });
        c.close();
    }

    private String phaseOf(String id) {
        return ok(backend.call("GET", "/v1/migrations/" + id, null)).path("phase").asText();
    }

    private void assertContent(BlockdProcess node) throws Exception {
        byte[] actual = new byte[(int) SIZE];
        try (NbdClient c = connect(node, "vol")) {
            int chunk = (int) MIB;
            for (int off = 0; off < actual.length; off += chunk) {
                ByteBuffer buf = ByteBuffer.allocate(chunk);
                c.read(off, buf);
                System.arraycopy(buf.array(), 0, actual, off, chunk);
            }
        }
        for (int off = 0; off < actual.length; off += (int) MIB) {
            int end = off + (int) MIB;
            assertThat(Arrays.equals(actual, off, end, model, off, end)).as("MiB at offset %d matches the model", off)
                    .isTrue();
        }
    }

    private void write(NbdClient c, long offset, byte[] data) throws Exception {
        c.write(offset, ByteBuffer.wrap(data), false);
        System.arraycopy(data, 0, model, (int) offset, data.length);
    }

    private static byte[] pattern(int length, int seed) {
        byte[] d = new byte[length];
        new Random(seed).nextBytes(d);
        return d;
    }

    private static NbdClient connect(BlockdProcess node, String export) throws Exception {
        return NbdClient.connect(node.nbdHost(), node.nbdPort(), export);
    }

    private static JsonNode ok(JsonHttp.Reply r) {
        assertThat(r.status()).as("answer %s", r.body()).isEqualTo(200);
        return r.body();
    }

    private static JsonNode created(JsonHttp.Reply r) {
        assertThat(r.status()).as("answer %s", r.body()).isEqualTo(201);
        return r.body();
    }

    private void await(String what, ThrowingCheck check) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        Map<String, Object> last = new HashMap<>();
        while (System.nanoTime() < deadline) {
            try {
                if (check.ok()) {
                    return;
                }
            } catch (AssertionError | RuntimeException e) {
                last.put("error", e.toString());
            }
            Thread.sleep(100);
        }
        throw new AssertionError("timed out waiting for: " + what + " " + last + "; migrations: "
                + backend.call("GET", "/v1/migrations", null).body() + "; backend log " + backend.stderrLog());
    }

    @FunctionalInterface
    private interface ThrowingCheck {
        boolean ok() throws Exception;
    }

}
