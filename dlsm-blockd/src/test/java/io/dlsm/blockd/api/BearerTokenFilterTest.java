package io.dlsm.blockd.api;

import static org.assertj.core.api.Assertions.assertThat;

import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class BearerTokenFilterTest extends InMemoryApi {
    @Override
    Optional<String> token() {
        return Optional.of("s3cret-token");
    }

    private static void assertUnauthorized(Response r) {
        assertThat(r.getStatus()).isEqualTo(401);
        assertThat(r.getHeaderString("WWW-Authenticate")).isEqualTo("Bearer");
        assertThat(json(r).path("code").asText()).isEqualTo("UNAUTHORIZED");
    }

    @Test
    void missingTokenIs401() {
        assertUnauthorized(target("/v1/volumes").request(MediaType.APPLICATION_JSON_TYPE).get());
    }

    @Test
    void wrongTokensAre401() {
        for (String header : new String[] {"Bearer wrong", "Bearer s3cret-token ", "bearer s3cret-token",
            "s3cret-token", "Basic czNjcmV0LXRva2Vu", "Bearer s3cret-toke"}) {
            assertUnauthorized(target("/v1/volumes").request().header("Authorization", header).get());
        }
    }

    @Test
    void rightTokenIs200() {
        assertThat(call("/v1/volumes").get().getStatus()).isEqualTo(200);
        assertThat(post("/v1/volumes", "{\"name\":\"v\",\"sizeBytes\":512}").getStatus()).isEqualTo(201);
    }
}
