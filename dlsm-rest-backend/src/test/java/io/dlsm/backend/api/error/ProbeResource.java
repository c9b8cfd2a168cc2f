package io.dlsm.backend.api.error;

import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.List;
import java.util.Map;

/** Test-only endpoints that make each exception family happen. */
@Path("/test")
@Produces(MediaType.APPLICATION_JSON)
public class ProbeResource {

    public record Extent(long offset, long length) {
    }

    public record Sample(String name, int sizeGiB, List<Extent> extents) {
        public Sample {
            if (name != null && name.isBlank()) {
                throw new IllegalArgumentException("name must not be blank");
            }
        }
    }

    @POST
    @Path("/echo")
    @Consumes(MediaType.APPLICATION_JSON)
    public Sample echo(Sample sample) {
        return sample;
    }

    @GET
    @Path("/api-error")
    public String apiError() {
        throw new ApiException(Response.Status.FORBIDDEN, ErrorCode.FORBIDDEN, "volume is fenced",
                Map.of("volume", "vol-1"));
    }

    @GET
    @Path("/bug")
    public String bug() {
        throw new IllegalStateException("secret internal detail");
    }
}
