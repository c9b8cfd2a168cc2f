package io.dlsm.backend;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Starts the real {@link Main} as a separate JVM on port 0 and talks to it over real HTTP, the
 * way a supervisor and the Cinder shim do: READY line on stdout, bearer token, SIGTERM to stop.
 */
class MainProcessTest {

    private static final String TOKEN = "process-test-token";

    @TempDir
    Path dir;

    private Process process;

    // Grizzly stalls on the HTTP/2 upgrade the JDK client attempts by default.
    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();

    @AfterEach
    void killLeftover() {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
        }
    }

    @Test
    void servesOverRealHttpAndStopsOnSigterm() throws Exception {
        Path tokenFile = Files.writeString(dir.resolve("token"), TOKEN + "\n");
        Path stateDir = dir.resolve("state");
        // The config file gives a fixed port; the flag must win with port 0.
        Path config = Files.writeString(dir.resolve("backend.properties"),
                "listen=127.0.0.1:1\nstate-dir=state\ntoken-file=token\n");

        String api = start("--config", config.toString(), "--listen", "127.0.0.1:0");

        assertThat(api).startsWith("127.0.0.1:").isNotEqualTo("127.0.0.1:0").isNotEqualTo("127.0.0.1:1");
        assertThat(stateDir).isDirectory();

        HttpResponse<String> health = send(HttpRequest.newBuilder(uri(api, "/v1/health"))
                .header("Authorization", "Bearer " + TOKEN).GET());
        assertThat(health.statusCode()).isEqualTo(200);
        assertThat(health.body()).isEqualTo("{\"status\":\"ok\"}");

        HttpResponse<String> anonymousHealth = send(HttpRequest.newBuilder(uri(api, "/v1/health")).GET());
        assertThat(anonymousHealth.statusCode()).isEqualTo(200);
        assertThat(anonymousHealth.body()).isEqualTo("{\"status\":\"ok\"}");
        HttpResponse<String> anonymous = send(HttpRequest.newBuilder(uri(api, "/v1/nodes")).GET());
        assertThat(anonymous.statusCode()).isEqualTo(401);
        assertThat(anonymous.body()).contains("\"code\":\"unauthorized\"");

        // A request with a body, the case that stalls when HTTP/2 is attempted.
        HttpResponse<String> post = send(HttpRequest.newBuilder(uri(api, "/v1/health"))
                .header("Authorization", "Bearer " + TOKEN)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{}")));
        assertThat(post.statusCode()).isEqualTo(405);
        assertThat(post.body()).contains("\"code\":\"method_not_allowed\"");

        HttpResponse<String> metrics = send(HttpRequest.newBuilder(uri(api, "/metrics"))
                .header("Authorization", "Bearer " + TOKEN).GET());
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.body()).contains("dlsm_http_requests_total");

        process.destroy(); // SIGTERM
        assertThat(process.waitFor(20, TimeUnit.SECONDS)).as("exits after SIGTERM").isTrue();
        assertThat(process.exitValue()).isEqualTo(143);
    }

    @Test
    void badConfigExitsWithStatus2() throws Exception {
        process = launch("--listen", "nonsense", "--state-dir", dir.toString());

        assertThat(process.waitFor(20, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).isEqualTo(2);
        assertThat(Files.readString(dir.resolve("stderr.log"))).contains("HOST:PORT");
    }

    /** Launches the backend and returns the {@code HOST:PORT} from its READY line. */
    private String start(String... args) throws Exception {
        process = launch(args);
        CompletableFuture<String> ready = CompletableFuture.supplyAsync(() -> {
            try {
                BufferedReader out = new BufferedReader(
                        new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
                return out.readLine();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        String line;
        try {
            line = ready.get(180, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("no READY line; stderr:\n" + Files.readString(dir.resolve("stderr.log")), e);
        }
        assertThat(line).as("stderr:\n%s", Files.readString(dir.resolve("stderr.log"))).startsWith("READY api=");
        return line.substring("READY api=".length());
    }

    private Process launch(String... args) throws IOException {
        List<String> command = new java.util.ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"),
                Main.class.getName()));
        command.addAll(List.of(args));
        return new ProcessBuilder(command)
                .redirectError(dir.resolve("stderr.log").toFile())
                .start();
    }

    private HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
        return http.send(request.timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static URI uri(String api, String path) {
        return URI.create("http://" + api + path);
    }
}
