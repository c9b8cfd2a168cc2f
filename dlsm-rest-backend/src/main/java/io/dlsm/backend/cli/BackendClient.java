package io.dlsm.backend.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * The CLI's only HTTP code: one method per call of the backend API contract
 * (docs/backend-api.md). Errors become {@link BackendException}; no answer at all becomes
 * {@link BackendUnreachableException}.
 */
public final class BackendClient {

    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);
    // Creating a migration prepares a sink on another node, so allow more than a plain read.
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(60);

    private final HttpClient http;
    private final URI base;
    private final Optional<String> token;
    private final ObjectMapper mapper;

    public BackendClient(HttpClient http, URI base, Optional<String> token) {
        this.http = http;
        this.base = base;
        this.token = token;
        // Lenient on input: a newer backend may add fields this client does not know.
        this.mapper = JsonMapper.builder()
                .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .build();
    }

    /** A client for {@code base}; HTTP/1.1 only because Grizzly stalls on the HTTP/2 upgrade. */
    public static BackendClient create(URI base, Optional<String> token) {
        HttpClient http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(CONNECT_TIMEOUT)
                .build();
        return new BackendClient(http, base, token);
    }

    public URI base() {
        return base;
    }

    public Reply<List<Node>> nodes() {
        return call("GET", "/v1/nodes", null, new TypeReference<>() {});
    }

    /** Unbinds a node's credential, so that it may register again with the registration token. */
    public Reply<Node> resetNodeCredential(String name) {
        return call("DELETE", "/v1/nodes/" + segment(name) + "/credential", null, new TypeReference<>() {});
    }

    public Reply<List<Volume>> volumes() {
        return call("GET", "/v1/volumes", null, new TypeReference<>() {});
    }

    public Reply<Volume> volume(String name) {
        return call("GET", "/v1/volumes/" + segment(name), null, new TypeReference<>() {});
    }

    public Reply<Volume> createVolume(String name, long sizeBytes, String node) {
        ObjectNode body = mapper.createObjectNode().put("name", name).put("sizeBytes", sizeBytes).put("node", node);
        return call("POST", "/v1/volumes", body, new TypeReference<>() {});
    }

    public void deleteVolume(String name) {
        call("DELETE", "/v1/volumes/" + segment(name), null, null);
    }

    public Reply<List<Migration>> migrations() {
        return call("GET", "/v1/migrations", null, new TypeReference<>() {});
    }

    public Reply<Migration> migration(String id) {
        return call("GET", "/v1/migrations/" + segment(id), null, new TypeReference<>() {});
    }

    /**
     * Starts (or, for the same volume and target, rejoins) a migration.
     *
     * @param bandwidthBytesPerSecond empty: the backend's default
     * @param manualSwitch true: the backend waits for {@link #switchMigration} instead of
     *     switching when the source reports it is fenced
     */
    public Reply<Migration> createMigration(
            String volume, String targetNode, Optional<Long> bandwidthBytesPerSecond, boolean manualSwitch) {
        ObjectNode body = mapper.createObjectNode().put("volume", volume).put("targetNode", targetNode);
        bandwidthBytesPerSecond.ifPresent(rate -> body.put("bandwidthBytesPerSecond", rate));
        body.put("switchMode", manualSwitch ? "manual" : "auto");
        return call("POST", "/v1/migrations", body, new TypeReference<>() {});
    }

    public Reply<Migration> switchMigration(String id) {
        return call("POST", "/v1/migrations/" + segment(id) + "/switch", mapper.createObjectNode(), new TypeReference<>() {});
    }

    public Reply<Migration> abortMigration(String id) {
        return call("POST", "/v1/migrations/" + segment(id) + "/abort", mapper.createObjectNode(), new TypeReference<>() {});
    }

    public Reply<Migration> setBandwidth(String id, long bytesPerSecond) {
        ObjectNode body = mapper.createObjectNode().put("bytesPerSecond", bytesPerSecond);
        return call("PUT", "/v1/migrations/" + segment(id) + "/bandwidth", body, new TypeReference<>() {});
    }

    /** Sends one request; {@code type} null means the answer has no body worth decoding. */
    private <T> Reply<T> call(String method, String path, JsonNode body, TypeReference<T> type) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(withoutTrailingSlash(base) + path))
                .timeout(REQUEST_TIMEOUT)
                .header("Accept", "application/json");
        token.ifPresent(t -> request.header("Authorization", "Bearer " + t));
        if (body == null) {
            request.method(method, HttpRequest.BodyPublishers.noBody());
        } else {
            request.header("Content-Type", "application/json")
                    .method(method, HttpRequest.BodyPublishers.ofString(body.toString()));
        }
        HttpResponse<String> response = send(request.build());
        int status = response.statusCode();
        if (status >= 400) {
            throw errorFrom(status, response.body());
        }
        if (type == null) {
            return new Reply<>(null, "");
        }
        try {
            return new Reply<>(mapper.readValue(response.body(), type), response.body());
        } catch (JsonProcessingException e) {
            throw new BackendUnreachableException(
                    "the backend at " + base + " answered " + method + " " + path + " with something that is not the API's JSON: "
                            + e.getOriginalMessage(), e);
        }
    }

    private HttpResponse<String> send(HttpRequest request) {
        try {
            return http.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (ConnectException e) {
            throw new BackendUnreachableException("cannot reach the backend at " + base + ": connection refused", e);
        } catch (HttpTimeoutException e) {
            throw new BackendUnreachableException("the backend at " + base + " did not answer in time", e);
        } catch (IOException e) {
            throw new BackendUnreachableException("cannot reach the backend at " + base + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BackendUnreachableException("interrupted while waiting for the backend at " + base, e);
        }
    }

    /** The contract's error body when there is one; a proxy or a crash may answer with anything. */
    private BackendException errorFrom(int status, String body) {
        try {
            JsonNode error = mapper.readTree(body);
            if (error != null && error.hasNonNull("code") && error.hasNonNull("message")) {
                return new BackendException(status, error.get("code").asText(), error.get("message").asText());
            }
        } catch (JsonProcessingException e) {
            // Not JSON: fall through to a message built from the status.
        }
        String text = body == null || body.isBlank() ? "HTTP " + status : body.strip().lines().findFirst().orElse("");
        return new BackendException(status, "http_" + status, text);
    }

    /** Keeps a base such as http://h/dlsm/ working as a prefix of every path. */
    private static String withoutTrailingSlash(URI base) {
        String text = base.toString();
        return text.endsWith("/") ? text.substring(0, text.length() - 1) : text;
    }

    /** One path segment; names are plain in practice, but an odd one must not change the path. */
    private static String segment(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8).replace("+", "%20");
    }
}
