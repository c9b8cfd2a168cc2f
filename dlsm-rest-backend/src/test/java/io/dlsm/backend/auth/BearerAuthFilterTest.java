package io.dlsm.backend.auth;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.backend.server.ApiTestSupport;
import jakarta.ws.rs.core.Response;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BearerAuthFilterTest extends ApiTestSupport {

    private static final String TOKEN = "s3cret-token";

    @Override
    protected TokenCheck tokenCheck() {
        return TokenCheck.requiring(TOKEN);
    }

    @Test
    void rightTokenIsAccepted() {
        assertThat(get("/v1/nodes", "Bearer " + TOKEN).getStatus()).isEqualTo(200);
    }

    @Test
    void schemeNameIsCaseInsensitive() {
        assertThat(get("/v1/nodes", "bearer " + TOKEN).getStatus()).isEqualTo(200);
    }

    @Test
    void missingTokenIs401Json() {
        Response response = get("/v1/nodes", null);

        assertThat(response.getHeaderString("WWW-Authenticate")).startsWith("Bearer");
        assertThat(unauthorized(response)).containsEntry("message", "missing bearer token");
    }

    @Test
    void wrongTokenIs401() {
        assertThat(unauthorized(get("/v1/nodes", "Bearer " + TOKEN + "x")))
                .containsEntry("message", "invalid bearer token");
    }

    @Test
    void otherSchemeIs401() {
        unauthorized(get("/v1/nodes", "Basic " + TOKEN));
    }

    @Test
    void healthAnswersWithoutTokenAndSaysOnlyOk() {
        Response response = get("/v1/health", null);
        assertThat(response.getStatus()).isEqualTo(200);
        assertThat(response.readEntity(Map.class)).isEqualTo(Map.of("status", "ok"));
    }

    @Test
    void theRegistrationTokenOnlyRegisters() {
        assertThat(get("/v1/nodes", "Bearer " + REGISTRATION_TOKEN).getStatus()).isEqualTo(403);
        assertThat(get("/v1/volumes", "Bearer " + REGISTRATION_TOKEN).getStatus()).isEqualTo(403);
        assertThat(get("/metrics", "Bearer " + REGISTRATION_TOKEN).getStatus()).isEqualTo(403);
    }

    @Test
    void metricsNeedTheTokenToo() {
        unauthorized(get("/metrics", null));
        assertThat(get("/metrics", "Bearer " + TOKEN).getStatus()).isEqualTo(200);
    }

    @Test
    void unknownPathsDoNotRevealThemselvesWithoutToken() {
        unauthorized(get("/v1/nope", null));
        assertThat(get("/v1/nope", "Bearer " + TOKEN).getStatus()).isEqualTo(404);
    }

    private Response get(String path, String authorization) {
        var request = target(path).request();
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        return request.get();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> unauthorized(Response response) {
        assertThat(response.getStatus()).isEqualTo(401);
        Map<String, Object> body = response.readEntity(Map.class);
        assertThat(body).containsEntry("code", "unauthorized").containsKeys("message", "details");
        return body;
    }
}
