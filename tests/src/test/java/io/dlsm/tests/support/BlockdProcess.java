package io.dlsm.tests.support;

import com.fasterxml.jackson.databind.JsonNode;
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
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The packaged dlsm-blockd jar running as a real OS process on 127.0.0.1 with ephemeral ports.
 * Readiness is the single {@code READY nbd=... api=...} stdout line, awaited with a bound.
 * stderr goes to a file next to the data dir so a failing test can point at the daemon's log.
 */
public final class BlockdProcess implements AutoCloseable {
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(180);
    private static final Pattern READY = Pattern.compile("READY nbd=(\\S+):(\\d+) api=(\\S+)");
    private static final ObjectMapper JSON = new ObjectMapper();


    private final Path dataDir;
    private final Path stderrLog;
    private final JsonHttp api;
    private Process process;
    private String nbdHost;
    private int nbdPort;
    private String apiBase;
    private int starts;

    private final java.util.List<String> extraArgs;

    private BlockdProcess(Path dataDir, java.util.List<String> extraArgs) {
        this.dataDir = dataDir;
        this.extraArgs = java.util.List.copyOf(extraArgs);
        this.stderrLog = dataDir.resolveSibling(dataDir.getFileName() + "-blockd-stderr.log");
        this.api = new JsonHttp("blockd", stderrLog, Duration.ofSeconds(60), this::token);
    }

    /** Starts blockd on {@code dataDir}, which is created if needed. */
    public static BlockdProcess start(Path dataDir) {
        return start(dataDir, java.util.List.of());
    }

    /** Same, with more command line flags (e.g. {@code --backend-url}); kept across restarts. */
    public static BlockdProcess start(Path dataDir, java.util.List<String> extraArgs) {
        BlockdProcess b = new BlockdProcess(dataDir, extraArgs);
        b.launch();
        return b;
    }

    public String nbdUri(String export) {
        return "nbd://" + nbdHost + ":" + nbdPort + "/" + export;
    }

    public String nbdHost() {
        return nbdHost;
    }

    public int nbdPort() {
        return nbdPort;
    }

    public String apiBase() {
        return apiBase;
    }

    public Path dataDir() {
        return dataDir;
    }

    /**
     * The bearer token its control API requires: the {@code --token-file}'s if one was given,
     * else the one blockd made in DATA_DIR/api-token; null with {@code --insecure-no-auth}.
     */
    public String token() {
        if (extraArgs.contains("--insecure-no-auth")) {
            return null;
        }
        int i = extraArgs.indexOf("--token-file");
        Path file = i >= 0 ? Path.of(extraArgs.get(i + 1)) : dataDir.resolve("api-token");
        try {
            return Files.readString(file, StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read blockd's token " + file, e);
        }
    }

    /** The {@code Authorization} header value its API accepts; null with {@code --insecure-no-auth}. */
    public String authorization() {
        String t = token();
        return t == null ? null : "Bearer " + t;
    }

    /** A call with {@code authorization} as the header, verbatim (null: none), for attack tests. */
    public JsonHttp.Reply callAs(String method, String path, String rawBody, String authorization) {
        return api.callAs(apiBase, method, path, rawBody, authorization);
    }

    public Path stderrLog() {
        return stderrLog;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process != null && process.isAlive();
    }

    /**
     * One sample from GET /metrics: {@code series} is the metric name with its labels as the
     * exposition prints them, e.g. {@code jvm_buffer_memory_used_bytes{id="direct"}}.
     */
    public long metric(String series) {
        try {
            java.net.http.HttpRequest.Builder req = java.net.http.HttpRequest.newBuilder(
                    java.net.URI.create(apiBase + "/metrics")).timeout(Duration.ofSeconds(15));
            String auth = authorization();
            if (auth != null) {
                req.header("Authorization", auth);
            }
            java.net.http.HttpResponse<String> r = java.net.http.HttpClient.newHttpClient().send(req.build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            for (String line : r.body().split("\n")) {
                if (line.startsWith(series + " ")) {
                    return (long) Double.parseDouble(line.substring(series.length() + 1).trim());
                }
            }
            throw new AssertionError("no series " + series + " in blockd's /metrics (status " + r.statusCode() + ")");
        } catch (IOException e) {
            throw new UncheckedIOException("GET /metrics failed; log: " + stderrLog, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Polls a metric until {@code done} holds (bounded); returns the last value. */
    public long awaitMetric(String series, java.util.function.LongPredicate done, Duration deadline) {
        return await("metric " + series, () -> metric(series), done, deadline);
    }

    /** Files the daemon has open (/proc/PID/fd): sockets, volumes, selectors. */
    public long openFileCount() {
        try (java.util.stream.Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid()), "fd"))) {
            return fds.count();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list blockd's open files", e);
        }
    }

    public long awaitOpenFiles(java.util.function.LongPredicate done, Duration deadline) {
        return await("open file count", this::openFileCount, done, deadline);
    }

    /** Lines of Java stack traces in the daemon's log so far ("\tat ..." frames). */
    public long stackTraceCount() {
        return logLines(l -> l.startsWith("\tat "));
    }

    /** Lines of the daemon's log so far that satisfy {@code p}. */
    public long logLines(java.util.function.Predicate<String> p) {
        try (java.util.stream.Stream<String> lines = Files.lines(stderrLog, StandardCharsets.UTF_8)) {
            return lines.filter(p).count();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + stderrLog, e);
        }
    }

    private static long await(String what, java.util.function.LongSupplier sample,
                              java.util.function.LongPredicate done, Duration deadline) {
        long end = System.nanoTime() + deadline.toNanos();
        long v = sample.getAsLong();
        while (!done.test(v)) {
            if (System.nanoTime() > end) {
                throw new AssertionError(what + " still " + v + " after " + deadline);
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            v = sample.getAsLong();
        }
        return v;
    }

    /** Creates a volume and returns its JSON; fails unless the API answers 201. */
    public JsonNode createVolume(String name, long sizeBytes, boolean readOnly) {
        JsonHttp.Reply r = call("POST", "/v1/volumes", Map.of("name", name, "sizeBytes", sizeBytes, "readOnly", readOnly));
        if (r.status() != 201) {
            throw new AssertionError("creating volume " + name + " answered " + r.status() + ": " + r.body());
        }
        return r.body();
    }

    public JsonNode createVolume(String name, long sizeBytes) {
        return createVolume(name, sizeBytes, false);
    }

    /** Every byte of {@code export} (at most 2 GiB), read over NBD in 1 MiB requests. */
    public byte[] readExport(String export, long size) throws IOException {
        byte[] out = new byte[Math.toIntExact(size)];
        try (io.dlsm.blockd.nbd.client.NbdClient c = io.dlsm.blockd.nbd.client.NbdClient.connect(nbdHost, nbdPort,
                export)) {
            for (int off = 0; off < out.length; off += 1 << 20) {
                java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(out, off, Math.min(1 << 20, out.length - off)).slice();
                c.read(off, b);
            }
        }
        return out;
    }

    /** A JSON call with a body serialized from {@code body} (null = no body). */
    public JsonHttp.Reply call(String method, String path, Object body) {
        return api.call(apiBase, method, path, body);
    }

    /** A call with the body sent verbatim, for malformed-input tests. */
    public JsonHttp.Reply callRaw(String method, String path, String rawBody) {
        return api.callRaw(apiBase, method, path, rawBody);
    }

    /** SIGKILL: no shutdown hook runs, as in a crash. */
    public void kill9() {
        if (process != null) {
            PeerCommand.kill(process);
        }
    }

    /** Orderly stop (SIGTERM), escalating to SIGKILL if it does not exit in time. */
    public void stop() {
        if (process == null || !process.isAlive()) {
            return;
        }
        process.destroy();
        try {
            if (!process.waitFor(15, TimeUnit.SECONDS)) {
                kill9();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            kill9();
        }
    }

    /** Starts a fresh process on the same data dir; the ports change. */
    public void restart() {
        stop();
        launch();
    }

    @Override
    public void close() {
        kill9();
    }

    private void launch() {
        String jar = System.getProperty("dlsm.blockd.jar");
        if (jar == null || !Files.isRegularFile(Path.of(jar))) {
            throw new IllegalStateException("system property dlsm.blockd.jar must name the packaged blockd jar, got "
                    + jar + " (run the reactor build, or package dlsm-blockd first)");
        }
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        try {
            Files.createDirectories(dataDir);
            starts++;
            Files.writeString(stderrLog, "=== start " + starts + "\n", StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            java.util.List<String> command = new java.util.ArrayList<>(java.util.List.of(javaBin, "-jar", jar,
                    "--data-dir", dataDir.toString(), "--nbd-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"));
            command.addAll(extraArgs);
            process = new ProcessBuilder(command)
                    .redirectError(ProcessBuilder.Redirect.appendTo(stderrLog.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException("could not start blockd", e);
        }
        String line = awaitReadyLine();
        Matcher m = READY.matcher(line);
        if (!m.matches()) {
            kill9();
            throw new IllegalStateException("blockd printed '" + line + "' instead of READY; log: " + stderrLog);
        }
        nbdHost = m.group(1);
        nbdPort = Integer.parseInt(m.group(2));
        apiBase = "http://" + m.group(3);
    }

    /** Reads stdout on a daemon thread, which keeps draining it after READY so blockd never blocks. */
    private String awaitReadyLine() {
        CompletableFuture<String> first = new CompletableFuture<>();
        Process p = process;
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line = r.readLine();
                first.complete(line == null ? "<stdout closed, exit " + p.waitFor() + ">" : line);
                while (r.readLine() != null) {
                    // Keep the pipe drained.
                }
            } catch (IOException | InterruptedException e) {
                first.completeExceptionally(e);
            }
        }, "blockd-stdout-" + p.pid());
        reader.setDaemon(true);
        reader.start();
        try {
            return first.get(READY_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException | ExecutionException e) {
            kill9();
            throw new IllegalStateException("blockd did not print READY within " + READY_TIMEOUT + "; log: " + stderrLog, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            kill9();
            throw new IllegalStateException(e);
        }
    }
}
