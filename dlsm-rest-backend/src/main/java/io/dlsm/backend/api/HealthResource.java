package io.dlsm.backend.api;

import io.dlsm.backend.BackendInfo;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import java.time.Clock;
import java.time.Duration;

/** Liveness: answers as long as the process serves requests. */
@Path("/v1/health")
@Produces(MediaType.APPLICATION_JSON)
public final class HealthResource {

    private final BackendInfo info;
    private final Clock clock;

    @Inject
    public HealthResource(BackendInfo info, Clock clock) {
        this.info = info;
        this.clock = clock;
    }

    @GET
    public Health health() {
        long uptime = Duration.between(info.startedAt(), clock.instant()).toSeconds();
        return new Health("ok", info.version(), Math.max(0, uptime));
    }
}
