package io.dlsm.tests.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;

/**
 * A real single-member etcd ({@code /usr/bin/etcd} from Debian's etcd-server) on 127.0.0.1
 * with free ports and its own data dir. Restarts keep ports and data, as a rebooted member
 * would; {@link #close()} kills it by PID.
 */
public final class EtcdProcess implements AutoCloseable {
    public static final String BINARY = "/usr/bin/etcd";
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(180);

    private final Path dataDir;
    private final Path log;
    private final int clientPort;
    private final int peerPort;
    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2))
            .build();
    private Process process;

    private EtcdProcess(Path dataDir) {
        this.dataDir = dataDir;
        this.log = dataDir.resolveSibling(dataDir.getFileName() + "-etcd.log");
        this.clientPort = FreePort.find();
        this.peerPort = FreePort.find();
    }

    public static EtcdProcess start(Path dataDir) {
        EtcdProcess e = new EtcdProcess(dataDir);
        e.launch();
        return e;
    }

    /** The client URL, for {@code --etcd-endpoints}. */
    public String endpoint() {
        return "http://127.0.0.1:" + clientPort;
    }

    public Path log() {
        return log;
    }

    /** SIGKILL, as in a crash; the data dir stays. */
    public void kill9() {
        if (process != null) {
            PeerCommand.kill(process);
            process = null;
        }
    }

    /** A new member process on the same ports and data. */
    public void restart() {
        kill9();
        launch();
    }

    @Override
    public void close() {
        kill9();
    }

    private void launch() {
        String peer = "http://127.0.0.1:" + peerPort;
        List<String> command = List.of(BINARY, "--name", "dlsm-test",
                "--data-dir", dataDir.toString(),
                "--listen-client-urls", endpoint(), "--advertise-client-urls", endpoint(),
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "dlsm-test=" + peer,
                "--log-outputs", "stderr");
        try {
            Files.writeString(log, "=== start: " + String.join(" ", command) + "\n", StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            process = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException("could not start " + BINARY + " (install etcd-server)", e);
        }
        awaitHealthy();
    }

    /** etcd answers {@code /health} with {"health":"true"} once it has a leader (itself). */
    private void awaitHealthy() {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("etcd exited with " + process.exitValue() + "; log: " + log);
            }
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(endpoint() + "/health"))
                        .timeout(Duration.ofSeconds(2)).GET().build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200 && r.body().contains("\"true\"")) {
                    return;
                }
            } catch (IOException e) {
                // Not listening yet.
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted waiting for etcd", e);
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted waiting for etcd", e);
            }
        }
        kill9();
        throw new IllegalStateException("etcd not healthy within " + READY_TIMEOUT.toSeconds() + " s; log: " + log);
    }
}
