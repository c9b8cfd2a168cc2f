package io.dlsm.backend.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.backend.server.ApiTestSupport;
import jakarta.ws.rs.core.Response;
import org.junit.jupiter.api.Test;

class MetricsResourceTest extends ApiTestSupport {

    @Test
    void exposesJvmMetersAndCountsRequestsByRoute() {
        target("/v1/health").request().get().close();
        target("/v1/health").request().get().close();
        target("/v1/no/such/thing").request().get().close();

        Response response = target("/metrics").request().get();

        assertThat(response.getStatus()).isEqualTo(200);
        assertThat(response.getHeaderString("Content-Type")).startsWith("text/plain");
        String body = response.readEntity(String.class);
        assertThat(body)
                .contains("jvm_memory_used_bytes")
                .contains("process_uptime_seconds")
                .containsPattern("dlsm_http_requests_total\\{[^}]*uri=\"/v1/health\"[^}]*\\} 2\\.0")
                // Unknown paths share one label value instead of one series per path.
                .containsPattern("dlsm_http_requests_total\\{[^}]*status=\"404\",uri=\"UNMATCHED\"\\} 1\\.0")
                .doesNotContain("/v1/no/such/thing");
    }
}
