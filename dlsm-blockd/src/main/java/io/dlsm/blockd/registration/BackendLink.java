package io.dlsm.blockd.registration;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;

/** This node's calls to the REST backend: one HTTP client, the bearer token, JSON bodies. */
public final class BackendLink {
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(5);

    private final URI backend;
    private final String nodeName;
    private final Optional<String> token;
    private final ObjectMapper json;
    private final HttpClient http;

    public BackendLink(URI backend, String nodeName, Optional<String> token, ObjectMapper json) {
        this.backend = backend;
        this.nodeName = nodeName;
        this.token = token;
        this.json = json;
        // Grizzly (the backend's server) stalls on the HTTP/2 upgrade the JDK client tries by default.
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(CALL_TIMEOUT).build();
    }

    public URI backend() {
        return backend;
    }

    public String nodeName() {
        return nodeName;
    }

    /** {@code path} starts with '/', resolved relative to the backend URL; returns the HTTP status. */
    int send(String method, String path, Object body) throws IOException, InterruptedException {
        HttpRequest.Builder req = HttpRequest.newBuilder(backend.resolve(path.substring(1))).timeout(CALL_TIMEOUT)
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(json.writeValueAsBytes(body)));
        if (body != null) {
            req.header("Content-Type", "application/json");
        }
        token.ifPresent(t -> req.header("Authorization", "Bearer " + t));
        return http.send(req.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }
}
