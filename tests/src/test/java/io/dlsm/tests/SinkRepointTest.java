package io.dlsm.tests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.dlsm.blockd.nbd.client.NbdClient;
import io.dlsm.tests.support.BlockdProcess;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A source blockd restarted on a new NBD port mid-hydration: the sink keeps trying the old
 * address until {@code PUT /v1/sinks/NAME/source} points it at the new one, then hydrates to
 * the end, every byte equal to the source. Bad repoints are refused and change nothing.
 */
class SinkRepointTest {
    private static final long MIB = 1L << 20;
    private static final long SIZE = 16 * MIB;
    private static final Duration WAIT = Duration.ofSeconds(180);

    @TempDir
    Path tmp;
    private BlockdProcess source;
    private BlockdProcess dest;

    @AfterEach
    void stop() {
        for (BlockdProcess p : new BlockdProcess[] {dest, source}) {
            if (p != null) {
                p.close();
            }
        }
    }

    @Test
    void aSourceRestartedOnANewPortIsFollowedOnceTheSinkIsRepointed() throws Exception {
        source = BlockdProcess.start(tmp.resolve("source"));
        dest = BlockdProcess.start(tmp.resolve("dest"));
        byte[] model = new byte[(int) SIZE];
        source.createVolume("vol", SIZE);
        source.createVolume("other", SIZE / 2);
        Random rnd = new Random(7);
        try (NbdClient c = NbdClient.connect(source.nbdHost(), source.nbdPort(), "vol")) {
            for (int m = 0; m < SIZE / MIB; m++) {
                if (m % 4 != 3) {
                    byte[] chunk = new byte[(int) MIB];
                    rnd.nextBytes(chunk);
                    System.arraycopy(chunk, 0, model, (int) (m * MIB), chunk.length);
                    c.write(m * MIB, ByteBuffer.wrap(chunk), false);
                }
            }
            c.flush();
        }
        String alias = source.call("POST", "/v1/volumes/vol/migration-export", null).body()
                .path("migrationExport").asText();
        // 16 KiB/s: after its first MiB the copier waits a minute per MiB, so the restart
        // below lands mid-hydration however slow the machine.
        assertThat(dest.call("POST", "/v1/sinks", Map.of("name", "vol", "bandwidthBytesPerSecond", 16 * 1024,
                "retryDeadlineSeconds", 600, "source", Map.of("host", source.nbdHost(), "port", source.nbdPort(),
                        "export", alias))).status()).isEqualTo(201);
        assertThat(source.call("POST", "/v1/volumes/vol/fence", null).status()).isEqualTo(200);
        assertThat(dest.call("POST", "/v1/sinks/vol/activate", Map.of()).status()).isEqualTo(200);
        await("some regions hydrated", () -> sink().path("regionsPresent").asLong() > 0);

        int oldPort = source.nbdPort();
        source.stop();
        // Held while the source starts again, so that it cannot get its old port back.
        try (ServerSocket hold = new ServerSocket(oldPort, 1, InetAddress.getByName("127.0.0.1"))) {
            source.restart();
        }
        int newPort = source.nbdPort();
        assertThat(newPort).isNotEqualTo(oldPort);
        // Nothing listens on the old port: the sink cannot get on by itself.
        assertThat(dest.call("PUT", "/v1/sinks/vol/bandwidth", Map.of("bytesPerSecond", 0)).status()).isEqualTo(200);
        assertThat(sink().path("state").asText()).isEqualTo("ACTIVE");
        long presentBefore = sink().path("regionsPresent").asLong();

        // Refused, and nothing changes: unknown sink, bad port, missing host, nothing there,
        // an export of another size.
        assertThat(dest.call("PUT", "/v1/sinks/nosuch/source", Map.of("host", "127.0.0.1", "port", newPort))
                .status()).isEqualTo(404);
        assertThat(dest.call("PUT", "/v1/sinks/vol/source", Map.of("host", "127.0.0.1", "port", 70000))
                .status()).isEqualTo(400);
        assertThat(dest.call("PUT", "/v1/sinks/vol/source", Map.of("port", newPort)).status()).isEqualTo(400);
        assertThat(dest.call("PUT", "/v1/sinks/vol/source", null).status()).isEqualTo(400);
        JsonNode nothing = dest.call("PUT", "/v1/sinks/vol/source", Map.of("host", "127.0.0.1", "port", oldPort))
                .body();
        assertThat(nothing.path("code").asText()).as("%s", nothing).isNotEmpty();
        assertThat(nothing.path("message").asText()).contains("keeps using");
        JsonNode wrongSize = dest.call("PUT", "/v1/sinks/vol/source", Map.of("host", "127.0.0.1", "port", newPort,
                "export", "other")).body();
        assertThat(wrongSize.path("message").asText()).contains("not the same volume");
        assertThat(sink().path("source").asText()).isEqualTo("nbd://127.0.0.1:" + oldPort + "/" + alias);

        long t0 = System.nanoTime();
        Map<String, Object> moved = new HashMap<>(Map.of("host", source.nbdHost(), "port", newPort));
        var reply = dest.call("PUT", "/v1/sinks/vol/source", moved);
        long repointMs = (System.nanoTime() - t0) / 1_000_000;
        assertThat(reply.status()).as("%s", reply.body()).isEqualTo(200);
        assertThat(reply.body().path("source").asText()).isEqualTo("nbd://127.0.0.1:" + newPort + "/" + alias);
        await("progress at the new address", () -> sink().path("regionsPresent").asLong() > presentBefore
                || sink().path("state").asText().matches("HYDRATED|COMMITTED"));
        long resumedMs = (System.nanoTime() - t0) / 1_000_000;
        await("committed", () -> sink().path("state").asText().equals("COMMITTED"));
        long committedMs = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("repoint: call " + repointMs + " ms, first region after it " + resumedMs
                + " ms, committed " + committedMs + " ms after it; " + sink());

        byte[] got = dest.readExport("vol", SIZE);
        assertThat(Arrays.mismatch(got, model)).as("first byte that differs from the source").isEqualTo(-1);
        assertThat(dest.call("PUT", "/v1/sinks/vol/source", moved).status()).as("a committed sink reads no source")
                .isEqualTo(409);
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
