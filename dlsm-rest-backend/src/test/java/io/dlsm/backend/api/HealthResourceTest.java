package io.dlsm.backend.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.backend.server.ApiTestSupport;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.Map;
import org.junit.jupiter.api.Test;

class HealthResourceTest extends ApiTestSupport {

    @Test
    void reportsTheStatusAndNothingElse() {
        Response response = target("/v1/health").request().get();

        assertThat(response.getStatus()).isEqualTo(200);
        assertThat(response.getMediaType().isCompatible(MediaType.APPLICATION_JSON_TYPE)).isTrue();
        // It answers without a token: no version, uptime, names or counts for an attacker to learn.
        assertThat(response.readEntity(Map.class)).isEqualTo(Map.of("status", "ok"));
    }

    @Test
    void wadlIsNotPublished() {
        assertThat(target("/application.wadl").request().get().getStatus()).isEqualTo(404);
    }
}
