package io.dlsm.blockd.registration;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;

/**
 * This node's calls to the REST backend: one HTTP client, JSON bodies, and the node's secrets.
 * Every call carries the node's own credential; only a first registration, which the backend
 * refuses the credential for until it has bound it, carries the registration token instead.
 */
public final class BackendLink {
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(5);

    private final URI backend;
    private final String nodeName;
    private final String credential;
    private final Optional<String> registrationToken;
    private final Optional<String> apiToken;
    private final ObjectMapper json;
    private final HttpClient http;

    /**
     * @param credential        what this node proves itself with (DATA_DIR/backend-credential)
     * @param registrationToken the backend's registration token, for the first registration
     * @param apiToken          this node's own control API token, handed to the backend at registration
     */
    public BackendLink(URI backend, String nodeName, String credential, Optional<String> registrationToken,
                       Optional<String> apiToken, ObjectMapper json) {
        this.backend = backend;
        this.nodeName = nodeName;
        this.credential = credential;
        this.registrationToken = registrationToken;
        this.apiToken = apiToken;
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

    String credential() {
        return credential;
    }

    Optional<String> apiToken() {
        return apiToken;
    }

    boolean hasRegistrationToken() {
        return registrationToken.isPresent();
    }

    /** A status and the body, whose message the log may need. */
    record Answer(int status, String body) {
    }

    /** {@code path} starts with '/', resolved relative to the backend URL; with this node's credential. */
    int send(String method, String path, Object body) throws IOException, InterruptedException {
        return exchange(method, path, body, credential).status();
    }

    Answer sendWithCredential(String method, String path, Object body) throws IOException, InterruptedException {
        return exchange(method, path, body, credential);
    }

    /** The same with the registration token (there must be one). */
    Answer sendWithRegistrationToken(String method, String path, Object body)
            throws IOException, InterruptedException {
        return exchange(method, path, body, registrationToken.orElseThrow());
    }

    private Answer exchange(String method, String path, Object body, String bearer)
            throws IOException, InterruptedException {
        HttpRequest.Builder req = HttpRequest.newBuilder(backend.resolve(path.substring(1))).timeout(CALL_TIMEOUT)
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(json.writeValueAsBytes(body)));
        if (body != null) {
            req.header("Content-Type", "application/json");
        }
        req.header("Authorization", "Bearer " + bearer);
        HttpResponse<String> r = http.send(req.build(), HttpResponse.BodyHandlers.ofString());
        return new Answer(r.statusCode(), r.body());
    }
}
