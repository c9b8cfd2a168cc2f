package io.dlsm.backend.api;

import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;

/** Liveness: answers as long as the process serves requests, to anybody, revealing nothing else. */
@Path("/v1/health")
@Produces(MediaType.APPLICATION_JSON)
public final class HealthResource {

    @GET
    public Health health() {
        return new Health("ok");
    }
}
