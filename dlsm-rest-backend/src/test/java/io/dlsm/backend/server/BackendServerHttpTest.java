package io.dlsm.backend.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.backend.config.BackendConfig;
import io.dlsm.backend.config.ListenAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The assembled server on a real port 0 with the real HTTP node client: a registered node whose
 * blockd is not there makes volume creation answer 502 naming the node; state persists.
 */
class BackendServerHttpTest {

    @TempDir
    Path dir;

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    @Test
    void unreachableNodeIs502AndRegistrationsPersist() throws Exception {
        Path token = Files.writeString(dir.resolve("token"), "t0k\n");
        int deadPort;
        try (ServerSocket s = new ServerSocket(0)) {
            deadPort = s.getLocalPort();
        }
        BackendConfig config = new BackendConfig(new ListenAddress("127.0.0.1", 0), dir.resolve("state"),
                Optional.of(token), Optional.empty(), false);
        try (BackendServer server = BackendServer.start(config, Clock.systemUTC())) {
            String base = "http://" + server.address().hostPort();
            HttpResponse<String> reg = send(base, "POST", "/v1/nodes", "{\"name\":\"n1\",\"apiUrl\":\"http://127.0.0.1:"
                    + deadPort + "\",\"nbdHost\":\"127.0.0.1\",\"nbdPort\":1}");
            assertThat(reg.statusCode()).isEqualTo(201);

            HttpResponse<String> create = send(base, "POST", "/v1/volumes",
                    "{\"name\":\"v1\",\"sizeBytes\":1048576,\"node\":\"n1\"}");

            assertThat(create.statusCode()).isEqualTo(502);
            assertThat(create.body()).contains("\"code\":\"node_failed\"").contains("node 'n1'")
                    .contains("create volume v1");
            assertThat(send(base, "GET", "/openapi.json", null).body()).contains("\"openapi\"");
            assertThat(send(base, "GET", "/metrics", null).body()).contains("dlsm_migrations{phase=\"ACTIVE\"}")
                    .contains("dlsm_nodes{state=\"UP\"} 1");
        }
        assertThat(dir.resolve("state/nodes/n1.json")).exists();
        assertThat(dir.resolve("state/volumes")).doesNotExist();
    }

    private HttpResponse<String> send(String base, String method, String path, String body) throws Exception {
        HttpRequest.Builder req = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer t0k")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            req.header("Content-Type", "application/json");
        }
        return http.send(req.build(), HttpResponse.BodyHandlers.ofString());
    }
}
