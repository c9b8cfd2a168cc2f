package io.dlsm.tests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.dlsm.tests.support.BackendProcess;
import io.dlsm.tests.support.BlockdProcess;
import io.dlsm.tests.support.EtcdProcess;
import io.dlsm.tests.support.JsonHttp;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged backend with {@code --etcd-endpoints} against a real etcd and a real blockd:
 * its state is in etcd, not in its state dir, so it survives its own kill -9; with etcd gone
 * it refuses writes with a clear 503 and keeps serving reads, and catches up once etcd is back.
 */
class BackendOnEtcdTest {

    private static final long MIB = 1024 * 1024;
    private static final Duration WAIT = Duration.ofSeconds(180);

    @TempDir
    Path tmp;
    EtcdProcess etcd;
    BackendProcess backend;
    BlockdProcess a;

    @BeforeEach
    void start() {
        etcd = EtcdProcess.start(tmp.resolve("etcd"));
        backend = BackendProcess.start(tmp.resolve("backend-state"), List.of("--etcd-endpoints", etcd.endpoint()));
        a = BlockdProcess.start(tmp.resolve("a"), backend.nodeArgs("a"));
        await("node a registered and UP", () -> {
            JsonNode nodes = backend.call("GET", "/v1/nodes", null).body();
            return nodes.size() == 1 && nodes.get(0).path("state").asText().equals("UP");
        });
    }

    @AfterEach
    void stop() {
        for (AutoCloseable p : new AutoCloseable[] {a, backend, etcd}) {
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
    void theBackendsStateLivesInEtcdAndSurvivesItsKill9() throws Exception {
        assertThat(create("vol1").status()).isEqualTo(201);
        assertThat(create("vol2").status()).isEqualTo(201);
        assertThat(backend.call("PUT", "/v1/volumes/vol2/size", Map.of("sizeBytes", 8 * MIB)).status()).isEqualTo(200);
        // No record is in the state dir, only the backend's own token files: a lost backend host
        // loses no record.
        try (var files = java.nio.file.Files.walk(tmp.resolve("backend-state"))) {
            assertThat(files.filter(java.nio.file.Files::isRegularFile).map(f -> f.getFileName().toString()).toList())
                    .containsExactlyInAnyOrder("api-token", "registration-token");
        }

        backend.kill9();
        backend.restart();

        JsonNode vols = backend.call("GET", "/v1/volumes", null).body();
        assertThat(vols).hasSize(2);
        assertThat(vols.get(0).path("name").asText()).isEqualTo("vol1");
        assertThat(vols.get(1).path("sizeBytes").asLong()).isEqualTo(8 * MIB);
        assertThat(backend.call("GET", "/v1/nodes/a", null).status()).isEqualTo(200);
        // The restarted backend writes over what it loaded: its revisions are the current ones.
        assertThat(backend.call("PUT", "/v1/volumes/vol1/size", Map.of("sizeBytes", 8 * MIB)).status())
                .isEqualTo(200);
        assertThat(backend.call("DELETE", "/v1/volumes/vol2", null).status()).isIn(200, 204);
        assertThat(create("vol3").status()).isEqualTo(201);

        backend.kill9();
        backend.restart();
        JsonNode after = backend.call("GET", "/v1/volumes", null).body();
        assertThat(after).hasSize(2);
        assertThat(after.get(0).path("sizeBytes").asLong()).isEqualTo(8 * MIB);
        assertThat(after.get(1).path("name").asText()).isEqualTo("vol3");
        await("node a heartbeats to the restarted backend", () ->
                backend.call("GET", "/v1/nodes/a", null).body().path("state").asText().equals("UP"));
    }

    @Test
    void withEtcdGoneWritesAnswer503AndReadsGoOnThenItCatchesUp() throws Exception {
        assertThat(create("vol1").status()).isEqualTo(201);
        etcd.kill9();

        long started = System.nanoTime();
        JsonHttp.Reply refused = create("vol2");
        Duration took = Duration.ofNanos(System.nanoTime() - started);
        assertThat(refused.status()).as("answer %s", refused.body()).isEqualTo(503);
        assertThat(refused.body().path("code").asText()).isEqualTo("store_unavailable");
        assertThat(refused.body().path("message").asText()).contains("etcd").contains("retry later");
        assertThat(took).as("bounded by the store's timeout").isLessThan(Duration.ofSeconds(60));
        System.out.println("etcd down: the create was refused with 503 after " + took.toMillis() + " ms");
        // Reads are served from what the backend loaded; the refused volume was not recorded.
        JsonNode vols = backend.call("GET", "/v1/volumes", null).body();
        assertThat(vols).hasSize(1);
        assertThat(backend.call("GET", "/v1/volumes/vol2", null).status()).isEqualTo(404);

        etcd.restart();
        // Cinder's retry of the same create succeeds (the volume blockd already made is adopted).
        await("the retried create succeeds", () -> create("vol2").status() == 201);
        assertThat(backend.call("GET", "/v1/volumes", null).body()).hasSize(2);
        backend.kill9();
        backend.restart();
        assertThat(backend.call("GET", "/v1/volumes", null).body()).hasSize(2);
    }

    private JsonHttp.Reply create(String name) {
        return backend.call("POST", "/v1/volumes", Map.of("name", name, "sizeBytes", 4 * MIB, "node", "a"));
    }

    private void await(String what, BooleanSupplier check) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        String last = "";
        while (System.nanoTime() < deadline) {
            try {
                if (check.getAsBoolean()) {
                    return;
                }
            } catch (RuntimeException e) {
                last = e.toString();
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what, e);
            }
        }
        throw new AssertionError("timed out waiting for: " + what + " " + last + "; backend log "
                + backend.stderrLog() + ", etcd log " + etcd.log());
    }
}
