package io.dlsm.tests.support;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.NullNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.Supplier;

/**
 * JSON calls to the daemons' APIs. HTTP/1.1 is forced: the JDK client's HTTP/2 upgrade stalls
 * Grizzly on request bodies.
 */
public final class JsonHttp {
    static final ObjectMapper JSON = new ObjectMapper();

    /** A status and the parsed body (NullNode when empty). */
    public record Reply(int status, JsonNode body) {
    }

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private final String who;
    private final Path log;
    private final Duration timeout;
    private final Supplier<String> token;

    /**
     * {@code who} and {@code log} name the daemon and its log in failure messages; {@code token}
     * gives the bearer token every call carries (null: none).
     */
    public JsonHttp(String who, Path log, Duration timeout, Supplier<String> token) {
        this.who = who;
        this.log = log;
        this.timeout = timeout;
        this.token = token;
    }

    /** A call with {@code body} serialized as JSON (null = no body). */
    public Reply call(String baseUrl, String method, String path, Object body) {
        try {
            return callRaw(baseUrl, method, path, body == null ? null : JSON.writeValueAsString(body));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A call with the body sent verbatim, for malformed-input tests. */
    public Reply callRaw(String baseUrl, String method, String path, String rawBody) {
        String t = token.get();
        return callAs(baseUrl, method, path, rawBody, t == null ? null : "Bearer " + t);
    }

    /** A call with {@code authorization} as the header (null: none), for the attack tests. */
    public Reply callAs(String baseUrl, String method, String path, String rawBody, String authorization) {
        HttpRequest.BodyPublisher publisher = rawBody == null
                ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(rawBody);
        HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(baseUrl + path)).timeout(timeout)
                .header("Content-Type", "application/json").method(method, publisher);
        if (authorization != null) {
            builder.header("Authorization", authorization);
        }
        HttpRequest request = builder.build();
        try {
            HttpResponse<String> resp = http.send(request, HttpResponse.BodyHandlers.ofString());
            String text = resp.body();
            JsonNode node = text == null || text.isBlank() ? NullNode.getInstance() : JSON.readTree(text);
            return new Reply(resp.statusCode(), node);
        } catch (IOException e) {
            throw new UncheckedIOException(method + " " + path + " failed; " + who + " log: " + log, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
