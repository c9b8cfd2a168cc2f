package io.dlsm.backend.node;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * {@link NodeClient} over blockd's HTTP control API, with each node's own token, sent only to
 * the URL that node registered it for.
 * Lenient about unknown response fields: blockd may grow its views without breaking us.
 */
public final class HttpNodeClient implements NodeClient {

    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(20);
    /** Aborting after ACTIVE copies the destination's writes back before blockd answers. */
    private static final Duration ABORT_TIMEOUT = Duration.ofMinutes(30);
    /** Snapshots and clones copy the source's data extents before blockd answers. */
    private static final Duration COPY_TIMEOUT = Duration.ofMinutes(30);

    private final HttpClient http;
    private final ObjectMapper json = JsonMapper.builder()
            .addModule(new JavaTimeModule())
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .build();
    private final NodeTokens tokens;

    public HttpNodeClient(NodeTokens tokens) {
        this.tokens = tokens;
        // Grizzly (blockd's server) stalls on the HTTP/2 upgrade the JDK client tries by default.
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5))
                .build();
    }

    @Override
    public BlockdVolume createVolume(Node node, String name, long sizeBytes) {
        return call(node, "POST", "/v1/volumes", Map.of("name", name, "sizeBytes", sizeBytes), "create volume " + name)
                .as(BlockdVolume.class);
    }

    @Override
    public Optional<BlockdVolume> getVolume(Node node, String name) {
        Reply r = call(node, "GET", "/v1/volumes/" + seg(name), null, "get volume " + name, 404);
        return r.status == 404 ? Optional.empty() : Optional.of(r.as(BlockdVolume.class));
    }

    @Override
    public BlockdVolume resizeVolume(Node node, String name, long sizeBytes) {
        return call(node, "PUT", "/v1/volumes/" + seg(name) + "/size", Map.of("sizeBytes", sizeBytes),
                "resize volume " + name).as(BlockdVolume.class);
    }

    @Override
    public void deleteVolume(Node node, String name) {
        call(node, "DELETE", "/v1/volumes/" + seg(name), null, "delete volume " + name, 404);
    }

    @Override
    public BlockdSnapshot createSnapshot(Node node, String volume, String name) {
        return send(node, "POST", "/v1/volumes/" + seg(volume) + "/snapshots", Map.of("name", name),
                "snapshot volume " + volume + " as " + name, COPY_TIMEOUT).as(BlockdSnapshot.class);
    }

    @Override
    public Optional<BlockdSnapshot> getSnapshot(Node node, String volume, String name) {
        Reply r = call(node, "GET", "/v1/volumes/" + seg(volume) + "/snapshots/" + seg(name), null,
                "get snapshot " + name + " of " + volume, 404);
        return r.status == 404 ? Optional.empty() : Optional.of(r.as(BlockdSnapshot.class));
    }

    @Override
    public void deleteSnapshot(Node node, String volume, String name) {
        call(node, "DELETE", "/v1/volumes/" + seg(volume) + "/snapshots/" + seg(name), null,
                "delete snapshot " + name + " of " + volume, 404);
    }

    @Override
    public BlockdVolume createVolumeFrom(Node node, String name, long sizeBytes, String sourceVolume,
                                         String sourceSnapshot) {
        Map<String, Object> source = new LinkedHashMap<>();
        source.put("volume", sourceVolume);
        if (sourceSnapshot != null) {
            source.put("snapshot", sourceSnapshot);
        }
        String what = "create volume " + name + " from " + sourceVolume
                + (sourceSnapshot == null ? "" : " snapshot " + sourceSnapshot);
        // The copy runs before blockd answers; a large volume's data takes a while to copy.
        return send(node, "POST", "/v1/volumes", Map.of("name", name, "sizeBytes", sizeBytes, "source", source),
                what, COPY_TIMEOUT).as(BlockdVolume.class);
    }

    @Override
    public String openMigrationExport(Node node, String volume) {
        BlockdVolume v = call(node, "POST", "/v1/volumes/" + seg(volume) + "/migration-export", null,
                "open the migration export of " + volume).as(BlockdVolume.class);
        if (v.migrationExport() == null) {
            throw new NodeCallException(node.name(), "open the migration export of " + volume, 200,
                    "answer has no migrationExport");
        }
        return v.migrationExport();
    }

    @Override
    public void closeMigrationExport(Node node, String volume) {
        call(node, "DELETE", "/v1/volumes/" + seg(volume) + "/migration-export", null,
                "close the migration export of " + volume, 404);
    }

    @Override
    public BlockdVolume fence(Node node, String volume) {
        return call(node, "POST", "/v1/volumes/" + seg(volume) + "/fence", null, "fence " + volume)
                .as(BlockdVolume.class);
    }

    @Override
    public BlockdVolume unfence(Node node, String volume) {
        return call(node, "POST", "/v1/volumes/" + seg(volume) + "/unfence", null, "unfence " + volume)
                .as(BlockdVolume.class);
    }

    @Override
    public BlockdSink createSink(Node node, String name, String sourceHost, int sourcePort, String export,
                                 long bandwidthBytesPerSecond) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("name", name);
        body.put("source", Map.of("host", sourceHost, "port", sourcePort, "export", export));
        body.put("bandwidthBytesPerSecond", bandwidthBytesPerSecond);
        body.put("autoCommit", true);
        return call(node, "POST", "/v1/sinks", body, "create sink " + name).as(BlockdSink.class);
    }

    @Override
    public Optional<BlockdSink> getSink(Node node, String name) {
        Reply r = call(node, "GET", "/v1/sinks/" + seg(name), null, "get sink " + name, 404);
        return r.status == 404 ? Optional.empty() : Optional.of(r.as(BlockdSink.class));
    }

    @Override
    public BlockdSink activateFencedSink(Node node, String name) {
        return call(node, "POST", "/v1/sinks/" + seg(name) + "/activate", Map.of("force", true), "activate sink " + name)
                .as(BlockdSink.class);
    }

    @Override
    public BlockdSink setSinkBandwidth(Node node, String name, long bytesPerSecond) {
        return call(node, "PUT", "/v1/sinks/" + seg(name) + "/bandwidth", Map.of("bytesPerSecond", bytesPerSecond),
                "set the bandwidth of sink " + name).as(BlockdSink.class);
    }

    @Override
    public BlockdSink repointSink(Node node, String name, String sourceHost, int sourcePort) {
        return call(node, "PUT", "/v1/sinks/" + seg(name) + "/source", Map.of("host", sourceHost, "port", sourcePort),
                "repoint sink " + name + " to " + sourceHost + ":" + sourcePort).as(BlockdSink.class);
    }

    @Override
    public Optional<BlockdSink> abortSink(Node node, String name) {
        Reply r = send(node, "POST", "/v1/sinks/" + seg(name) + "/abort", null, "abort sink " + name, ABORT_TIMEOUT,
                404);
        return r.status == 404 ? Optional.empty() : Optional.of(r.as(BlockdSink.class));
    }

    @Override
    public String createDevice(Node node, String volume) {
        Reply r = call(node, "POST", "/v1/volumes/" + seg(volume) + "/device", Map.of(),
                "create the kernel device of " + volume);
        JsonNode path = r.body == null ? null : r.body.get("devicePath");
        if (path == null || !path.isTextual()) {
            throw new NodeCallException(node.name(), "create the kernel device of " + volume, r.status,
                    "answer has no devicePath");
        }
        return path.asText();
    }

    @Override
    public void deleteDevice(Node node, String volume) {
        call(node, "DELETE", "/v1/volumes/" + seg(volume) + "/device", null,
                "remove the kernel device of " + volume, 404);
    }

    // ------------------------------------------------------------------ plumbing

    private final class Reply {
        final int status;
        final JsonNode body;
        final String nodeName;
        final String what;

        Reply(int status, JsonNode body, String nodeName, String what) {
            this.status = status;
            this.body = body;
            this.nodeName = nodeName;
            this.what = what;
        }

        <T> T as(Class<T> type) {
            try {
                return json.treeToValue(body, type);
            } catch (IOException e) {
                throw new NodeCallException(nodeName, what, status, "unreadable answer: " + e.getMessage());
            }
        }
    }

    private Reply call(Node node, String method, String path, Object body, String what, int... alsoOk) {
        return send(node, method, path, body, what, CALL_TIMEOUT, alsoOk);
    }

    private Reply send(Node node, String method, String path, Object body, String what, Duration timeout,
                       int... alsoOk) {
        HttpResponse<String> resp;
        try {
            HttpRequest.Builder req = HttpRequest.newBuilder(URI.create(node.apiUrl() + path))
                    .timeout(timeout)
                    .header("Accept", "application/json")
                    .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                            : HttpRequest.BodyPublishers.ofByteArray(json.writeValueAsBytes(body)));
            if (body != null) {
                req.header("Content-Type", "application/json");
            }
            tokens.tokenFor(node).ifPresent(t -> req.header("Authorization", "Bearer " + t));
            resp = http.send(req.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (IOException | IllegalArgumentException e) {
            throw new NodeCallException(node.name(), what, 0, "unreachable at " + node.apiUrl() + ": " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new NodeCallException(node.name(), what, 0, "interrupted");
        }
        int status = resp.statusCode();
        JsonNode parsed = parse(resp.body());
        boolean ok = status >= 200 && status < 300;
        for (int s : alsoOk) {
            ok |= status == s;
        }
        if (!ok) {
            String message = parsed != null && parsed.hasNonNull("message") ? parsed.get("message").asText()
                    : resp.body();
            throw new NodeCallException(node.name(), what, status, "HTTP " + status + ": " + message);
        }
        return new Reply(status, parsed, node.name(), what);
    }

    private JsonNode parse(String text) {
        if (text == null || text.isBlank()) {
            return json.nullNode();
        }
        try {
            return json.readTree(text);
        } catch (IOException e) {
            return json.getNodeFactory().textNode(text);
        }
    }

    private static String seg(String name) {
        return URLEncoder.encode(name, StandardCharsets.UTF_8).replace("+", "%20");
    }
}
