package io.dlsm.tests.support;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The packaged dlsm-rest-backend jar as a real process on 127.0.0.1. The first start picks a
 * free port; restarts keep it, because the blockd nodes registered with that URL.
 */
public final class BackendProcess implements AutoCloseable {
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(180);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path stateDir;
    private final Path stderrLog;
    private final JsonHttp http;
    private final List<String> extraArgs;
    private Process process;
    private String api;
    private int starts;

    private BackendProcess(Path stateDir, List<String> extraArgs) {
        this.stateDir = stateDir;
        this.extraArgs = List.copyOf(extraArgs);
        this.stderrLog = stateDir.resolveSibling(stateDir.getFileName() + "-backend-stderr.log");
        this.http = new JsonHttp("backend", stderrLog, Duration.ofSeconds(60), this::token);
    }

    public static BackendProcess start(Path stateDir) {
        return start(stateDir, List.of());
    }

    /** With more options, e.g. {@code --etcd-endpoints URL}; restarts pass them again. */
    public static BackendProcess start(Path stateDir, List<String> extraArgs) {
        BackendProcess b = new BackendProcess(stateDir, extraArgs);
        b.launch("127.0.0.1:0");
        return b;
    }

    /** {@code http://HOST:PORT}, for blockd's {@code --backend-url}. */
    public String url() {
        return "http://" + api;
    }

    public Path stderrLog() {
        return stderrLog;
    }

    public Path stateDir() {
        return stateDir;
    }

    /** The API token the backend made in STATE_DIR/api-token at first start. */
    public String token() {
        try {
            return Files.readString(stateDir.resolve("api-token"), StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the backend's API token", e);
        }
    }

    /** The file of the token nodes register with, for blockd's {@code --registration-token-file}. */
    public Path registrationTokenFile() {
        return stateDir.resolve("registration-token");
    }

    /** blockd's flags to register with this backend as {@code node}. */
    public java.util.List<String> nodeArgs(String node) {
        return java.util.List.of("--backend-url", url(), "--node-name", node, "--registration-token-file",
                registrationTokenFile().toString());
    }

    /** A call with {@code authorization} as the header, verbatim (null: none), for attack tests. */
    public JsonHttp.Reply callAs(String method, String path, String rawBody, String authorization) {
        return http.callAs(url(), method, path, rawBody, authorization);
    }

    public JsonHttp.Reply call(String method, String path, Object body) {
        return http.call(url(), method, path, body);
    }

    /** SIGKILL: nothing is flushed or closed, as in a crash. */
    public void kill9() {
        if (process != null) {
            PeerCommand.kill(process);
        }
    }

    /** A new process on the same state dir and port. */
    public void restart() {
        kill9();
        launch(api);
    }

    @Override
    public void close() {
        kill9();
    }

    private void launch(String listen) {
        String jar = System.getProperty("dlsm.backend.jar");
        if (jar == null || !Files.isRegularFile(Path.of(jar))) {
            throw new IllegalStateException("system property dlsm.backend.jar must name the packaged backend jar, got "
                    + jar + " (package dlsm-rest-backend first)");
        }
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        try {
            starts++;
            Files.writeString(stderrLog, "=== start " + starts + "\n", StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            List<String> command = new ArrayList<>(
                    List.of(javaBin, "-jar", jar, "--listen", listen, "--state-dir", stateDir.toString()));
            command.addAll(extraArgs);
            process = new ProcessBuilder(command)
                    .redirectError(ProcessBuilder.Redirect.appendTo(stderrLog.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException("could not start the backend", e);
        }
        Process p = process;
        CompletableFuture<String> first = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line = r.readLine();
                first.complete(line == null ? "<stdout closed>" : line);
                while (r.readLine() != null) {
                    // Keep the pipe drained.
                }
            } catch (IOException e) {
                first.completeExceptionally(e);
            }
        }, "backend-stdout-" + p.pid());
        reader.setDaemon(true);
        reader.start();
        String line;
        try {
            line = first.get(READY_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            kill9();
            throw new IllegalStateException("backend did not print READY; log: " + stderrLog, e);
        }
        if (!line.startsWith("READY api=")) {
            kill9();
            throw new IllegalStateException("backend printed '" + line + "' instead of READY; log: " + stderrLog);
        }
        api = line.substring("READY api=".length());
    }
}
