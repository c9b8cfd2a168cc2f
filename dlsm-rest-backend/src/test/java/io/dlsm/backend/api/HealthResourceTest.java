package io.dlsm.backend.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.backend.server.ApiTestSupport;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.Map;
import org.junit.jupiter.api.Test;

class HealthResourceTest extends ApiTestSupport {

    @Test
    void reportsStatusVersionAndUptime() {
        Response response = target("/v1/health").request().get();

        assertThat(response.getStatus()).isEqualTo(200);
        assertThat(response.getMediaType().isCompatible(MediaType.APPLICATION_JSON_TYPE)).isTrue();
        assertThat(response.readEntity(Map.class))
                .containsEntry("status", "ok")
                .containsEntry("version", "test-version")
                .containsEntry("uptimeSeconds", (int) UPTIME_SECONDS);
    }

    @Test
    void wadlIsNotPublished() {
        assertThat(target("/application.wadl").request().get().getStatus()).isEqualTo(404);
    }
}
