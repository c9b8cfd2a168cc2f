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
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Snapshots and clones end to end: the packaged backend and one registered blockd, data written
 * and read back over blockd's NBD exports with the project's own client, every volume compared
 * with a byte-exact model of what it must hold.
 */
class BackendSnapshotCloneAgainstBlockdTest {
    private static final long MIB = 1L << 20;
    private static final long SIZE = 16 * MIB;
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path tmp;
    BackendProcess backend;
    BlockdProcess node;

    @BeforeEach
    void start() throws Exception {
        backend = BackendProcess.start(tmp.resolve("backend-state"));
        node = BlockdProcess.start(tmp.resolve("a"), backend.nodeArgs("a"));
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!upNodes().equals(List.of("a"))) {
            assertThat(System.nanoTime()).as("node a registered and UP").isLessThan(deadline);
            Thread.sleep(100);
        }
    }

    private List<String> upNodes() {
        JsonNode nodes = backend.call("GET", "/v1/nodes", null).body();
        return nodes == null || !nodes.isArray() ? List.of() : java.util.stream.StreamSupport
                .stream(nodes.spliterator(), false).filter(n -> n.path("state").asText().equals("UP"))
                .map(n -> n.path("name").asText()).toList();
    }

    @AfterEach
    void stop() {
        for (AutoCloseable p : new AutoCloseable[] {node, backend}) {
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
    void snapshotThenOverwriteThenVolumesFromTheSnapshotAndFromTheVolume() throws Exception {
        created(backend.call("POST", "/v1/volumes", Map.of("name", "vol", "sizeBytes", SIZE, "node", "a")));
        byte[] model = new byte[(int) SIZE];
        try (NbdClient c = connect("vol")) {
            write(c, model, 0, pattern(3 * (int) MIB, 1));
            write(c, model, 9 * MIB + 4097, pattern(100_000, 2));
            c.flush();
        }
        long allocatedBefore = node.call("GET", "/v1/volumes/vol", null).body().path("allocatedBytes").asLong();

        JsonNode snap = created(backend.call("POST", "/v1/volumes/vol/snapshots", Map.of("name", "s1")));
        assertThat(snap.path("node").asText()).isEqualTo("a");
        assertThat(snap.path("sizeBytes").asLong()).isEqualTo(SIZE);
        assertThat(backend.call("POST", "/v1/volumes/vol/snapshots", Map.of("name", "s1")).status())
                .as("idempotent retry").isEqualTo(200);
        byte[] atSnapshot = model.clone();
        JsonNode onNode = node.call("GET", "/v1/volumes/vol/snapshots/s1", null).body();
        assertThat(onNode.path("allocatedBytes").asLong()).as("holes stay holes").isEqualTo(allocatedBefore);

        try (NbdClient c = connect("vol")) {
            write(c, model, MIB - 10, pattern(50_000, 3));
            write(c, model, 14 * MIB, pattern(8192, 4));
            c.flush();
        }

        // The snapshot itself, read-only over NBD, still holds the old content.
        assertContent("vol@snap-s1", atSnapshot);
        try (NbdClient ro = connect("vol@snap-s1")) {
            assertThat(ro.readOnly()).isTrue();
        }

        JsonNode fromSnap = created(backend.call("POST", "/v1/volumes", Map.of("name", "from-snap",
                "sizeBytes", 2 * SIZE, "node", "a", "source", Map.of("volume", "vol", "snapshot", "s1"))));
        assertThat(fromSnap.path("sizeBytes").asLong()).isEqualTo(2 * SIZE);
        byte[] grown = Arrays.copyOf(atSnapshot, (int) (2 * SIZE));
        assertContent("from-snap", grown);

        JsonNode clone = created(backend.call("POST", "/v1/volumes", Map.of("name", "clone", "sizeBytes", SIZE,
                "node", "a", "source", Map.of("volume", "vol"))));
        assertThat(clone.path("node").asText()).isEqualTo("a");
        assertContent("clone", model);

        // Independent copies: writing the clone changes neither the volume nor the snapshot.
        byte[] cloneModel = model.clone();
        try (NbdClient c = connect("clone")) {
            write(c, cloneModel, 0, pattern(4096, 5));
            c.flush();
        }
        assertContent("clone", cloneModel);
        assertContent("vol", model);
        assertContent("vol@snap-s1", atSnapshot);

        // The snapshot pins its volume until it is deleted.
        JsonHttp.Reply busy = backend.call("DELETE", "/v1/volumes/vol", null);
        assertThat(busy.status()).isEqualTo(409);
        assertThat(busy.body().path("message").asText()).contains("s1");
        assertThat(backend.call("DELETE", "/v1/volumes/vol/snapshots/s1", null).status()).isEqualTo(204);
        assertThat(backend.call("DELETE", "/v1/volumes/vol/snapshots/s1", null).status()).isEqualTo(404);
        assertThat(node.call("GET", "/v1/volumes/vol/snapshots/s1", null).status()).isEqualTo(404);
        assertThat(backend.call("DELETE", "/v1/volumes/vol", null).status()).isEqualTo(204);
        assertContent("from-snap", grown);
    }

    @Test
    void snapshotsSurviveABlockdRestart() throws Exception {
        created(backend.call("POST", "/v1/volumes", Map.of("name", "vol", "sizeBytes", SIZE, "node", "a")));
        byte[] model = new byte[(int) SIZE];
        try (NbdClient c = connect("vol")) {
            write(c, model, 5 * MIB, pattern(70_000, 6));
            c.flush();
        }
        created(backend.call("POST", "/v1/volumes/vol/snapshots", Map.of("name", "s1")));

        node.restart();
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!upNodes().equals(List.of("a"))
                || backend.call("POST", "/v1/volumes", Map.of("name", "back", "node", "a",
                        "source", Map.of("volume", "vol", "snapshot", "s1"))).status() >= 500) {
            assertThat(System.nanoTime()).as("restarted node reachable").isLessThan(deadline);
            Thread.sleep(200);
        }
        assertContent("back", model);
    }

    @Test
    void aCloneForAnotherNodeIsReadableThereAtOnceAndEndsUpLivingThere() throws Exception {
        created(backend.call("POST", "/v1/volumes", Map.of("name", "vol", "sizeBytes", SIZE, "node", "a")));
        byte[] model = new byte[(int) SIZE];
        try (NbdClient c = connect("vol")) {
            write(c, model, 2 * MIB + 7, pattern(3 * (int) MIB, 7));
            write(c, model, 12 * MIB, pattern(65_536, 8));
            c.flush();
        }
        try (BlockdProcess b = BlockdProcess.start(tmp.resolve("b"),
                backend.nodeArgs("b"))) {
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (!upNodes().equals(List.of("a", "b"))) {
                assertThat(System.nanoTime()).as("node b registered and UP").isLessThan(deadline);
                Thread.sleep(100);
            }

            JsonNode clone = created(backend.call("POST", "/v1/volumes", Map.of("name", "far", "node", "b",
                    "source", Map.of("volume", "vol"))));
            String migration = clone.path("migrationId").asText();
            assertThat(migration).as("moving to b: %s", clone).isNotEmpty();
            // Usable on b at once: read through b's sink while its data is still on a.
            assertContent(b, "far", model);
            // Independent of its source from the start.
            byte[] cloneModel = model.clone();
            try (NbdClient c = NbdClient.connect(b.nbdHost(), b.nbdPort(), "far")) {
                write(c, cloneModel, 0, pattern(4096, 9));
                c.flush();
            }

            deadline = System.nanoTime() + WAIT.toNanos();
            while (!backend.call("GET", "/v1/migrations/" + migration, null).body().path("phase").asText()
                    .equals("COMMITTED")) {
                assertThat(System.nanoTime()).as("clone's migration committed").isLessThan(deadline);
                Thread.sleep(100);
            }
            assertThat(backend.call("GET", "/v1/volumes/far", null).body().path("node").asText()).isEqualTo("b");
            assertThat(node.call("GET", "/v1/volumes/far", null).status()).as("nothing left on a").isEqualTo(404);
            assertContent(b, "far", cloneModel);
            assertContent("vol", model);
        }
    }

    private NbdClient connect(String export) throws Exception {
        return NbdClient.connect(node.nbdHost(), node.nbdPort(), export);
    }

    private void assertContent(String export, byte[] expected) throws Exception {
        assertContent(node, export, expected);
    }

    private static void assertContent(BlockdProcess on, String export, byte[] expected) throws Exception {
        try (NbdClient c = NbdClient.connect(on.nbdHost(), on.nbdPort(), export)) {
            assertThat(c.size()).as("size of %s", export).isEqualTo(expected.length);
            int chunk = (int) MIB;
            for (int off = 0; off < expected.length; off += chunk) {
                ByteBuffer buf = ByteBuffer.allocate(chunk);
                c.read(off, buf);
                assertThat(Arrays.equals(buf.array(), 0, chunk, expected, off, off + chunk))
                        .as("%s: MiB at offset %d matches the model", export, off).isTrue();
            }
        }
    }

    private static void write(NbdClient c, byte[] model, long offset, byte[] data) throws Exception {
        c.write(offset, ByteBuffer.wrap(data), false);
        System.arraycopy(data, 0, model, (int) offset, data.length);
    }

    private static byte[] pattern(int length, int seed) {
        byte[] d = new byte[length];
        new Random(seed).nextBytes(d);
        return d;
    }

    private static JsonNode created(JsonHttp.Reply r) {
        assertThat(r.status()).as("answer %s", r.body()).isEqualTo(201);
        return r.body();
    }
}
