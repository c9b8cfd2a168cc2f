package io.dlsm.tests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * blockd as a real process for the sink tests: started from the packaged jar on a data dir
 * and an NBD port, ready once it printed {@code READY nbd=... api=...}; killed by its own
 * handle (SIGKILL for the crash tests), never by name.
 */
final class SinkTestProcesses {
    static final Duration READY_TIMEOUT = Duration.ofSeconds(180);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    private SinkTestProcesses() {
    }

    /** A running blockd. */
    record Node(Process process, int nbdPort, int apiPort, Path log, String token) {
        JsonNode call(String method, String path, Object body) throws IOException {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + apiPort + path))
                    .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                    .header("Authorization", "Bearer " + token);
            b.method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                    : HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
            try {
                HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() / 100 != 2) {
                    throw new IOException(method + " " + path + " -> " + r.statusCode() + ": " + r.body());
                }
                return r.body().isEmpty() ? null : JSON.readTree(r.body());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted calling " + path, e);
            }
        }

        /** SIGKILL, then wait until it is gone. */
        void kill9() throws InterruptedException {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }

        String output() {
            try {
                return Files.readString(log);
            } catch (IOException e) {
                return "(" + e + ")";
            }
        }
    }

    /**
     * Starts blockd on {@code dataDir}, NBD on 127.0.0.1:{@code nbdPort} (0 = any); retries
     * while a just-killed predecessor's port is still being released.
     */
    static Node start(Path dataDir, int nbdPort, List<Process> started) throws IOException, InterruptedException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String jar = System.getProperty("dlsm.blockd.jar", "../dlsm-blockd/target/dlsm-blockd.jar");
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        while (true) {
            Path log = Files.createTempFile("dlsm-sink-blockd", ".log");
            List<String> cmd = new ArrayList<>(List.of(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                    "-Xshare:auto", "-jar", jar, "--data-dir", dataDir.toString(),
                    "--nbd-listen", "127.0.0.1:" + nbdPort, "--api-listen", "127.0.0.1:0"));
            Process p = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
            started.add(p);
            CompletableFuture<String> ready = CompletableFuture.supplyAsync(() -> readyLine(p));
            String line;
            try {
                line = ready.get(READY_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (Exception e) {
                line = null;
            }
            if (line != null) {
                int nbd = Integer.parseInt(line.replaceAll(".*nbd=\\S+:(\\d+).*", "$1"));
                int api = Integer.parseInt(line.replaceAll(".*api=\\S+:(\\d+).*", "$1"));
                // Made at first start, before READY: the token every call of the API needs.
                return new Node(p, nbd, api, log, Files.readString(dataDir.resolve("api-token")).strip());
            }
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            String out = Files.readString(log);
            if (System.nanoTime() > deadline || !out.contains("Address already in use")) {
                throw new IOException("blockd did not start: " + out);
            }
        }
    }

    private static String readyLine(Process p) {
        try {
            BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            for (String line = r.readLine(); line != null; line = r.readLine()) {
                if (line.startsWith("READY ")) {
                    // Keep draining stdout so the process never blocks on a full pipe.
                    Thread drain = new Thread(() -> {
                        try {
                            r.transferTo(java.io.Writer.nullWriter());
                        } catch (IOException ignored) {
                            // the process ended
                        }
                    }, "drain-" + p.pid());
                    drain.setDaemon(true);
                    drain.start();
                    return line;
                }
            }
            return null;
        } catch (IOException e) {
            return null;
        }
    }

    /** Kills every process still alive, each by its own handle. */
    static void killAll(List<Process> started) throws InterruptedException {
        for (Process p : started) {
            if (p.isAlive()) {
                p.destroyForcibly();
                p.waitFor(30, TimeUnit.SECONDS);
            }
        }
        started.clear();
    }
}
