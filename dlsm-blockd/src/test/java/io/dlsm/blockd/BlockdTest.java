package io.dlsm.blockd;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dlsm.blockd.config.BlockdConfig;
import io.dlsm.blockd.config.HostPort;
import io.dlsm.blockd.nbd.server.RawNbdClient;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The assembled daemon on real ephemeral ports: HTTP control API and NBD side by side. */
@Timeout(60)
class BlockdTest {
    private static final String TOKEN = "node-token";

    @TempDir
    Path dir;
    private Blockd blockd;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @AfterEach
    void stop() throws Exception {
        if (blockd != null) {
            blockd.close();
        }
    }

    private Blockd start() throws Exception {
        Path tokenFile = dir.resolve("token");
        Files.writeString(tokenFile, TOKEN + "\n");
        BlockdConfig config = new BlockdConfig(dir.resolve("data"), new HostPort("127.0.0.1", 0),
                new HostPort("127.0.0.1", 0), 2, 16, Optional.of(tokenFile), java.time.Duration.ofSeconds(60));
        Blockd b = new Blockd(config);
        b.start();
        return b;
    }

    private HttpResponse<String> send(String method, String path, String body, boolean authorized)
            throws Exception {
        return send(method, path, body, authorized ? "Bearer " + TOKEN : null);
    }

    private HttpResponse<String> send(String method, String path, String body, String authorization)
            throws Exception {
        URI uri = URI.create("http://127.0.0.1:" + blockd.apiAddress().getPort() + path);
        HttpRequest.Builder r = HttpRequest.newBuilder(uri).header("Content-Type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        if (authorization != null) {
            r.header("Authorization", authorization);
        }
        return http.send(r.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void createdVolumeIsServedOverNbd() throws Exception {
        blockd = start();
        assertThat(blockd.apiAddress().getPort()).isPositive();
        assertThat(blockd.nbdAddress().getPort()).isPositive();

        assertThat(send("GET", "/v1/volumes", null, false).statusCode()).isEqualTo(401);
        HttpResponse<String> created = send("POST", "/v1/volumes", "{\"name\":\"disk\",\"sizeBytes\":1048576}", true);
        assertThat(created.statusCode()).isEqualTo(201);
        assertThat(created.headers().firstValue("Location")).hasValueSatisfying(l -> assertThat(l).endsWith("/v1/volumes/disk"));

        byte[] data = "bytes through the daemon".getBytes();
        try (RawNbdClient nbd = RawNbdClient.open(blockd.nbdAddress(), "disk", false, false)) {
            assertThat(nbd.exportSize()).isEqualTo(1 << 20);
            nbd.writeOk(0, data);
            assertThat(nbd.readOk(0, data.length)).isEqualTo(data);
        }

        JsonNode listed = new ObjectMapper().readTree(send("GET", "/v1/volumes", null, true).body());
        assertThat(listed).hasSize(1);
        assertThat(listed.get(0).path("allocatedBytes").asLong()).isPositive();
    }

    @Test
    void withoutTokenFileAGeneratedOwnerOnlyTokenIsRequiredAndKeptAcrossRestarts() throws Exception {
        blockd = startDefault();
        Path file = dir.resolve("data").resolve(Blockd.API_TOKEN);
        assertThat(java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(file)))
                .isEqualTo("rw-------");
        String token = Files.readString(file).strip();
        // 32 random bytes, base64url: 256 bits.
        assertThat(token).hasSize(43);
        assertThat(send("GET", "/v1/volumes", null, null).statusCode()).isEqualTo(401);
        assertThat(send("GET", "/metrics", null, null).statusCode()).isEqualTo(401);
        assertThat(send("GET", "/v1/no-such-path", null, null).statusCode()).isEqualTo(401);
        assertThat(send("GET", "/v1/volumes", null, "Bearer " + token).statusCode()).isEqualTo(200);

        blockd.close();
        blockd = startDefault();
        assertThat(Files.readString(file).strip()).isEqualTo(token);
        assertThat(send("GET", "/v1/volumes", null, "Bearer " + token).statusCode()).isEqualTo(200);
    }

    @Test
    void healthAnswersWithoutTokenAndSaysOnlyOk() throws Exception {
        blockd = startDefault();
        HttpResponse<String> health = send("GET", "/v1/health", null, null);
        assertThat(health.statusCode()).isEqualTo(200);
        assertThat(health.body()).isEqualTo("{\"status\":\"ok\"}");
    }

    @Test
    void aTokenFileOthersMayReadIsRefused() throws Exception {
        Path data = Files.createDirectories(dir.resolve("data"));
        Path file = Files.writeString(data.resolve(Blockd.API_TOKEN), "known\n");
        Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        try (Blockd b = new Blockd(defaultConfig())) {
            org.assertj.core.api.Assertions.assertThatThrownBy(b::start).hasMessageContaining("chmod 600");
        }
    }

    private BlockdConfig defaultConfig() {
        return new BlockdConfig(dir.resolve("data"), new HostPort("127.0.0.1", 0), new HostPort("127.0.0.1", 0), 2, 16,
                Optional.empty(), java.time.Duration.ofSeconds(60));
    }

    private Blockd startDefault() throws Exception {
        Blockd b = new Blockd(defaultConfig());
        b.start();
        return b;
    }

    @Test
    void secondDaemonOnTheSameDataDirIsRefused() throws Exception {
        blockd = start();
        try (Blockd second = new Blockd(new BlockdConfig(dir.resolve("data"), new HostPort("127.0.0.1", 0),
                new HostPort("127.0.0.1", 0), 1, 1, Optional.empty(), java.time.Duration.ofSeconds(60)))) {
            org.assertj.core.api.Assertions.assertThatThrownBy(second::start)
                    .hasMessageContaining("in use by another blockd");
        }
    }
}
