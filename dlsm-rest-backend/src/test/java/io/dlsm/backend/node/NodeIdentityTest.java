package io.dlsm.backend.node;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.backend.auth.TokenCheck;
import io.dlsm.backend.server.ApiTestSupport;
import jakarta.ws.rs.client.Entity;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Who may register which node name, through the real filter and registry: the registration
 * token binds a name to the node's credential once; after that only the credential moves it.
 */
class NodeIdentityTest extends ApiTestSupport {

    private static final String OPERATOR = "Bearer operator-token";
    private static final String REGISTRAR = "Bearer " + REGISTRATION_TOKEN;
    private static final String CRED_A = "credential-of-node-a-0123456789";
    private static final String CRED_B = "credential-of-node-b-0123456789";

    @Override
    protected TokenCheck tokenCheck() {
        return TokenCheck.requiring("operator-token");
    }

    private static Map<String, Object> registration(String name, int port, String credential, String apiToken) {
        Map<String, Object> m = new HashMap<>(Map.of("name", name, "apiUrl", "http://127.0.0.1:" + port,
                "nbdHost", "127.0.0.1", "nbdPort", port + 1));
        if (credential != null) {
            m.put("credential", credential);
        }
        if (apiToken != null) {
            m.put("apiToken", apiToken);
        }
        return m;
    }

    private Response post(String path, Object body, String auth) {
        return target(path).request().header("Authorization", auth).post(body == null ? Entity.text("")
                : Entity.entity(body, MediaType.APPLICATION_JSON_TYPE));
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> node(String name) {
        return target("/v1/nodes/" + name).request().header("Authorization", OPERATOR).get(Map.class);
    }

    @Test
    void theFirstRegistrationBindsTheCredentialAndOnlyItMovesTheName() {
        assertThat(post("/v1/nodes", registration("a", 7000, CRED_A, "token-a"), REGISTRAR).getStatus())
                .isEqualTo(201);
        assertThat(node("a")).containsEntry("nodeAuth", "REGISTRATION_TOKEN").containsEntry("backendAuth", "TOKEN");
        assertThat(node("a").toString()).doesNotContain(CRED_A).doesNotContain("token-a");

        // The node itself, restarted on another port: its credential moves it, its new token goes along.
        assertThat(post("/v1/nodes", registration("a", 8000, null, "token-a2"), "Bearer " + CRED_A).getStatus())
                .isEqualTo(200);
        assertThat(node("a")).containsEntry("nodeAuth", "CREDENTIAL").containsEntry("apiUrl", "http://127.0.0.1:8000");
        Node a = controlPlane().nodes().get("a");
        assertThat(controlPlane().nodeKeys().tokenFor(a)).contains("token-a2");

        // Anybody else: refused, whatever token they hold, with the way out in the message.
        assertThat(post("/v1/nodes", registration("b", 9000, CRED_B, "token-b"), REGISTRAR).getStatus())
                .isEqualTo(201);
        for (String auth : new String[] {REGISTRAR, OPERATOR, "Bearer " + CRED_B}) {
            Response r = post("/v1/nodes", registration("a", 6666, "attacker-credential-0123456", "x"), auth);
            assertThat(r.getStatus()).as(auth).isEqualTo(403);
            assertThat(r.readEntity(String.class)).contains("dlsm node reset-credential a");
        }
        assertThat(node("a")).containsEntry("apiUrl", "http://127.0.0.1:8000");
    }

    @Test
    void aTokenGoesOnlyToTheUrlItWasRegisteredWith() {
        post("/v1/nodes", registration("a", 7000, CRED_A, "token-a"), REGISTRAR).close();
        Node a = controlPlane().nodes().get("a");
        Node elsewhere = new Node("a", "http://203.0.113.9:7000", a.nbdHost(), a.nbdPort(), a.state(),
                a.lastHeartbeat(), null, null, a.capabilities(), a.nodeAuth(), a.backendAuth());
        assertThat(controlPlane().nodeKeys().tokenFor(a)).contains("token-a");
        assertThat(controlPlane().nodeKeys().tokenFor(elsewhere)).isEmpty();
    }

    @Test
    void aFirstRegistrationWithoutACredentialIsRefused() {
        Response r = post("/v1/nodes", registration("a", 7000, null, "token-a"), REGISTRAR);
        assertThat(r.getStatus()).isEqualTo(400);
        assertThat(r.readEntity(Map.class).get("details")).isEqualTo(Map.of("field", "credential"));
    }

    @Test
    void aCredentialSpeaksOnlyForItsOwnNode() {
        post("/v1/nodes", registration("a", 7000, CRED_A, null), REGISTRAR).close();
        post("/v1/nodes", registration("b", 9000, CRED_B, null), REGISTRAR).close();
        assertThat(post("/v1/nodes/a/heartbeat", null, "Bearer " + CRED_A).getStatus()).isEqualTo(204);
        assertThat(post("/v1/nodes/b/heartbeat", null, "Bearer " + CRED_A).getStatus()).isEqualTo(403);
        assertThat(post("/v1/nodes/b/events", Map.of("type", "VOLUME_FENCED", "volume", "v"), "Bearer " + CRED_A)
                .getStatus()).isEqualTo(403);
        assertThat(node("a")).containsEntry("backendAuth", "NONE");
    }

    @Test
    void anOperatorResetLetsAReinstalledNodeBindANewCredential() {
        post("/v1/nodes", registration("a", 7000, CRED_A, null), REGISTRAR).close();
        Response reset = target("/v1/nodes/a/credential").request().header("Authorization", OPERATOR).delete();
        assertThat(reset.getStatus()).isEqualTo(200);
        // Only the operator may reset.
        assertThat(target("/v1/nodes/a/credential").request().header("Authorization", REGISTRAR).delete()
                .getStatus()).isEqualTo(403);

        String fresh = "a-fresh-credential-0123456789";
        assertThat(post("/v1/nodes", registration("a", 7100, fresh, null), REGISTRAR).getStatus()).isEqualTo(200);
        assertThat(post("/v1/nodes/a/heartbeat", null, "Bearer " + CRED_A).getStatus()).isEqualTo(401);
        assertThat(post("/v1/nodes/a/heartbeat", null, "Bearer " + fresh).getStatus()).isEqualTo(204);
    }
}
