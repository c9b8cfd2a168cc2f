package io.dlsm.blockd.api;

import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import java.util.Map;

/** Liveness for supervisors: answers without a token, so it says nothing but "ok". */
@Path(HealthResource.PATH)
@Produces(MediaType.APPLICATION_JSON)
public final class HealthResource {
    static final String PATH = "/v1/health";

    @GET
    public Map<String, String> health() {
        return Map.of("status", "ok");
    }
}
