package io.dlsm.tests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import io.dlsm.tests.support.BackendProcess;
import io.dlsm.tests.support.BlockdProcess;
import io.dlsm.tests.support.JsonHttp;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The control APIs attacked the way issue 17 found them open: a backend and a blockd started
 * the default way (no token files given, so each made its own), then every call an attacker
 * on the network would try. Real processes; the attacker's "node" is an HTTP listener on
 * 127.0.0.1 that records every header the backend sends it.
 */
class ApiAuthAttackTest {
    private static final Duration WAIT = Duration.ofSeconds(180);
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path tmp;
    static BackendProcess backend;
    static BlockdProcess nodeA;
    static HttpServer attacker;
    /** Every Authorization header the attacker's listener received ("-" when none). */
    static final ConcurrentLinkedQueue<String> stolen = new ConcurrentLinkedQueue<>();

    @BeforeAll
    static void start() throws Exception {
        backend = BackendProcess.start(tmp.resolve("backend-state"));
        nodeA = BlockdProcess.start(tmp.resolve("a"), backend.nodeArgs("a"));
        awaitNode("a", n -> n.path("nodeAuth").asText().equals("REGISTRATION_TOKEN"));
        attacker = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        attacker.createContext("/", exchange -> {
            String auth = exchange.getRequestHeaders().getFirst("Authorization");
            stolen.add(auth == null ? "-" : auth);
            exchange.getRequestBody().readAllBytes();
            byte[] body = "{\"name\":\"x\",\"sizeBytes\":1048576}".getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(201, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        attacker.start();
    }

    @AfterAll
    static void stop() {
        if (attacker != null) {
            attacker.stop(0);
        }
        for (AutoCloseable p : new AutoCloseable[] {nodeA, backend}) {
            try {
                if (p != null) {
                    p.close();
                }
            } catch (Exception e) {
                // best effort
            }
        }
    }

    @Test
    void generatedTokenFilesAreOwnerOnlyAndDistinct() throws Exception {
        Path blockdToken = nodeA.dataDir().resolve("api-token");
        Path credential = nodeA.dataDir().resolve("backend-credential");
        Path apiToken = backend.stateDir().resolve("api-token");
        Path registration = backend.registrationTokenFile();
        for (Path f : List.of(blockdToken, credential, apiToken, registration)) {
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(f))).as(f.toString())
                    .isEqualTo("rw-------");
        }
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(backend.stateDir())))
                .isEqualTo("rwx------");
        List<String> secrets = List.of(Files.readString(blockdToken), Files.readString(credential),
                Files.readString(apiToken), Files.readString(registration));
        assertThat(secrets).doesNotHaveDuplicates();
        // The backend's state holds only a digest of the node's credential.
        try (var files = Files.walk(backend.stateDir())) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                assertThat(Files.readString(f)).as(f.toString()).doesNotContain(Files.readString(credential).strip());
            }
        }
    }

    @Test
    void blockdRefusesEveryCallWithoutItsToken() {
        nodeA.createVolume("guarded", 1 << 20);
        String[][] calls = {
                {"GET", "/v1/volumes"}, {"POST", "/v1/volumes"}, {"GET", "/v1/volumes/guarded"},
                {"DELETE", "/v1/volumes/guarded"}, {"PUT", "/v1/volumes/guarded/size"},
                {"PUT", "/v1/volumes/guarded/access"}, {"POST", "/v1/volumes/guarded/fence"},
                {"POST", "/v1/volumes/guarded/unfence"}, {"POST", "/v1/volumes/guarded/migration-export"},
                {"DELETE", "/v1/volumes/guarded/migration-export"}, {"POST", "/v1/volumes/guarded/snapshots"},
                {"GET", "/v1/volumes/guarded/snapshots"}, {"POST", "/v1/volumes/guarded/device"},
                {"GET", "/v1/sinks"}, {"POST", "/v1/sinks"}, {"POST", "/v1/sinks/guarded/activate"},
                {"POST", "/v1/sinks/guarded/abort"}, {"PUT", "/v1/sinks/guarded/source"},
                {"GET", "/v1/node/capabilities"}, {"GET", "/metrics"}, {"GET", "/v1/no-such-thing"},
        };
        for (String[] c : calls) {
            for (String auth : new String[] {null, "Bearer wrong", "Bearer " + backend.token(), "Basic x"}) {
                JsonHttp.Reply r = nodeA.callAs(c[0], c[1], body(c[0]), auth);
                assertThat(r.status()).as(c[0] + " " + c[1] + " with " + auth).isEqualTo(401);
                assertThat(r.body().path("code").asText()).isEqualTo("UNAUTHORIZED");
            }
        }
        // Nothing happened to the volume.
        assertThat(nodeA.call("GET", "/v1/volumes/guarded", null).body().path("fenced").asBoolean()).isFalse();
        JsonHttp.Reply health = nodeA.callAs("GET", "/v1/health", null, null);
        assertThat(health.status()).isEqualTo(200);
        assertThat(health.body()).isEqualTo(JSON.createObjectNode().put("status", "ok"));
    }

    @Test
    void backendRefusesEveryCallWithoutItsTokenAndTheNodeTokensOnlyRegister() throws Exception {
        String[][] calls = {
                {"GET", "/v1/nodes"}, {"GET", "/v1/nodes/a"}, {"POST", "/v1/nodes"},
                {"POST", "/v1/nodes/a/heartbeat"}, {"POST", "/v1/nodes/a/events"},
                {"DELETE", "/v1/nodes/a/credential"}, {"GET", "/v1/volumes"}, {"POST", "/v1/volumes"},
                {"DELETE", "/v1/volumes/v"}, {"POST", "/v1/volumes/v/connection"}, {"GET", "/v1/migrations"},
                {"POST", "/v1/migrations"}, {"POST", "/v1/migrations/m/abort"}, {"GET", "/metrics"},
                {"GET", "/openapi.json"}, {"GET", "/v1/no-such-thing"},
        };
        for (String[] c : calls) {
            for (String auth : new String[] {null, "Bearer wrong", "Bearer " + nodeA.token()}) {
                JsonHttp.Reply r = backend.callAs(c[0], c[1], body(c[0]), auth);
                assertThat(r.status()).as(c[0] + " " + c[1] + " with " + auth).isEqualTo(401);
                assertThat(r.body().path("code").asText()).isEqualTo("unauthorized");
            }
        }
        String registration = "Bearer " + Files.readString(backend.registrationTokenFile()).strip();
        String credential = "Bearer " + Files.readString(nodeA.dataDir().resolve("backend-credential")).strip();
        for (String auth : new String[] {registration, credential}) {
            for (String[] c : new String[][] {{"GET", "/v1/nodes"}, {"GET", "/v1/volumes"}, {"POST", "/v1/volumes"},
                    {"DELETE", "/v1/nodes/a/credential"}, {"GET", "/metrics"}, {"POST", "/v1/migrations"}}) {
                JsonHttp.Reply r = backend.callAs(c[0], c[1], body(c[0]), auth);
                assertThat(r.status()).as(c[0] + " " + c[1]).isEqualTo(403);
                assertThat(r.body().path("code").asText()).isEqualTo("forbidden");
            }
        }
        JsonHttp.Reply health = backend.callAs("GET", "/v1/health", null, null);
        assertThat(health.status()).isEqualTo(200);
        assertThat(health.body()).isEqualTo(JSON.createObjectNode().put("status", "ok"));
    }

    @Test
    void anEvilNodeGetsOnlyItsOwnTokenAndCannotTakeOverAnExistingNode() throws Exception {
        String registration = "Bearer " + Files.readString(backend.registrationTokenFile()).strip();
        String evilUrl = "http://127.0.0.1:" + attacker.getAddress().getPort();
        String evilCredential = "evil-credential-0123456789abcdef";
        Map<String, Object> evil = Map.of("name", "evil", "apiUrl", evilUrl, "nbdHost", "127.0.0.1", "nbdPort", 9,
                "credential", evilCredential, "apiToken", "the-attackers-own-token");

        // Without a token nothing registers; with the registration token "evil" does.
        assertThat(backend.callAs("POST", "/v1/nodes", JSON.writeValueAsString(evil), null).status()).isEqualTo(401);
        assertThat(backend.callAs("POST", "/v1/nodes", JSON.writeValueAsString(evil), registration).status())
                .isEqualTo(201);

        // The operator places a volume on "evil": the backend calls the attacker with evil's own token.
        backend.call("POST", "/v1/volumes", Map.of("name", "on-evil", "sizeBytes", 1 << 20, "node", "evil"));
        assertThat(stolen).isNotEmpty().allMatch(h -> h.equals("Bearer the-attackers-own-token"));

        // Taking over node "a": with the registration token, evil's credential or even the API token.
        Map<String, Object> hijack = Map.of("name", "a", "apiUrl", evilUrl, "nbdHost", "127.0.0.1", "nbdPort", 9,
                "credential", "attacker-credential-0123456789ab", "apiToken", "attacker-token");
        for (String auth : new String[] {registration, "Bearer " + evilCredential, "Bearer " + backend.token()}) {
            JsonHttp.Reply r = backend.callAs("POST", "/v1/nodes", JSON.writeValueAsString(hijack), auth);
            assertThat(r.status()).as("re-registering a with " + auth).isEqualTo(403);
            assertThat(r.body().path("message").asText()).contains("dlsm node reset-credential a")
                    .contains("DELETE /v1/nodes/a/credential");
        }
        JsonNode a = backend.call("GET", "/v1/nodes/a", null).body();
        assertThat(a.path("apiUrl").asText()).isEqualTo(nodeA.apiBase());
        assertThat(a.toString()).doesNotContain(nodeA.token());

        // Work placed on "a" still goes to the real node, and its token never reached the attacker.
        JsonHttp.Reply created = backend.call("POST", "/v1/volumes", Map.of("name", "on-a", "sizeBytes", 1 << 20,
                "node", "a"));
        assertThat(created.status()).isEqualTo(201);
        assertThat(nodeA.call("GET", "/v1/volumes/on-a", null).status()).isEqualTo(200);
        assertThat(stolen).noneMatch(h -> h.contains(nodeA.token()));
    }

    @Test
    void aRestartedNodeRegistersWithItsCredentialAndKeepsItsName() {
        nodeA.restart();
        JsonNode a = awaitNode("a", n -> n.path("nodeAuth").asText().equals("CREDENTIAL")
                && n.path("apiUrl").asText().equals(nodeA.apiBase()));
        assertThat(a.path("backendAuth").asText()).isEqualTo("TOKEN");
        assertThat(backend.call("POST", "/v1/volumes", Map.of("name", "after-restart", "sizeBytes", 1 << 20,
                "node", "a")).status()).isEqualTo(201);
    }

    @Test
    void afterAnOperatorResetTheNodeBindsItsCredentialAgainByItself() {
        // Restarted first, so that it last registered with its credential: the change is then visible.
        nodeA.restart();
        awaitNode("a", n -> n.path("nodeAuth").asText().equals("CREDENTIAL")
                && n.path("apiUrl").asText().equals(nodeA.apiBase()));
        JsonHttp.Reply reset = backend.call("DELETE", "/v1/nodes/a/credential", null);
        assertThat(reset.status()).isEqualTo(200);
        // Its next heartbeat is refused (401), so it registers again with the registration token.
        awaitNode("a", n -> n.path("nodeAuth").asText().equals("REGISTRATION_TOKEN")
                && n.path("apiUrl").asText().equals(nodeA.apiBase()));
        String registration = "Bearer " + backendRegistrationToken();
        Map<String, Object> hijack = Map.of("name", "a", "apiUrl", "http://127.0.0.1:9", "nbdHost", "127.0.0.1",
                "nbdPort", 9, "credential", "attacker-credential-0123456789ab");
        assertThat(backend.callAs("POST", "/v1/nodes", json(hijack), registration).status()).isEqualTo(403);
    }

    private static String backendRegistrationToken() {
        try {
            return Files.readString(backend.registrationTokenFile()).strip();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static String json(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void malformedRequestTargetsAre400JsonForTokenHoldersAnd401ForOthers() throws Exception {
        String[] targets = {"/v1/volumes/%zz", "/v1/volumes/[]", "/v1/volumes/\u00e9", "/v1/volumes/%C3%28",
                "/v1/nodes/%"};
        for (String target : targets) {
            for (Object[] d : new Object[][] {{nodeA.apiBase(), nodeA.authorization(), "BAD_REQUEST_TARGET",
                    "UNAUTHORIZED"}, {backend.url(), "Bearer " + backend.token(), "bad_request", "unauthorized"}}) {
                String base = (String) d[0];
                String answer = rawGet(base, target, (String) d[1]);
                assertThat(answer).as(base + target).startsWith("HTTP/1.1 400");
                JsonNode body = JSON.readTree(answer.substring(answer.indexOf("\r\n\r\n") + 4));
                assertThat(body.path("code").asText()).isEqualTo(d[2]);
                assertThat(body.has("message") && body.has("details")).isTrue();
                String anonymous = rawGet(base, target, null);
                assertThat(anonymous).as(base + target + " without token").startsWith("HTTP/1.1 401")
                        .contains("\"" + d[3] + "\"");
            }
        }
        // Both daemons are unharmed.
        assertThat(nodeA.call("GET", "/v1/volumes", null).status()).isEqualTo(200);
        assertThat(backend.call("GET", "/v1/nodes", null).status()).isEqualTo(200);
    }

    /** What a client sends: a JSON body on POST and PUT (Grizzly refuses a DELETE with one, 400, unread). */
    private static String body(String method) {
        return method.equals("POST") || method.equals("PUT") ? "{}" : null;
    }

    /** A GET whose target goes out as UTF-8 bytes, unchecked: no URI class would send these. */
    private static String rawGet(String baseUrl, String target, String authorization) throws IOException {
        java.net.URI base = java.net.URI.create(baseUrl);
        try (Socket s = new Socket(base.getHost(), base.getPort())) {
            s.setSoTimeout(60_000);
            String head = "GET " + target + " HTTP/1.1\r\nHost: " + base.getHost() + "\r\nConnection: close\r\n"
                    + (authorization == null ? "" : "Authorization: " + authorization + "\r\n") + "\r\n";
            s.getOutputStream().write(head.getBytes(StandardCharsets.UTF_8));
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static JsonNode awaitNode(String name, java.util.function.Predicate<JsonNode> done) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            JsonHttp.Reply r = backend.call("GET", "/v1/nodes/" + name, null);
            if (r.status() == 200 && done.test(r.body())) {
                return r.body();
            }
            assertThat(System.nanoTime()).as("node " + name + " registered as expected: " + r.body())
                    .isLessThan(deadline);
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
    }
}
