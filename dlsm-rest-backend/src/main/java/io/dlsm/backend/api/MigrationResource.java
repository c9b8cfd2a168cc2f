package io.dlsm.backend.api;

import io.dlsm.backend.migration.Migration;
import io.dlsm.backend.migration.MigrationRequest;
import io.dlsm.backend.migration.MigrationService;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.net.URI;
import java.util.List;

/** Live migrations of volumes between nodes. */
@Path("/v1/migrations")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public final class MigrationResource {

    /** Body of the bandwidth change. */
    public record Bandwidth(Long bytesPerSecond) {
    }

    private final MigrationService migrations;

    @Inject
    public MigrationResource(MigrationService migrations) {
        this.migrations = migrations;
    }

    @POST
    public Response create(MigrationRequest body) {
        MigrationService.Created c = migrations.create(body);
        return (c.created() ? Response.created(URI.create("/v1/migrations/" + c.migration().id())) : Response.ok())
                .entity(c.migration()).build();
    }

    @GET
    public List<Migration> list() {
        return migrations.list();
    }

    @GET
    @Path("{id}")
    public Migration get(@PathParam("id") String id) {
        return migrations.get(id);
    }

    /** Bodiless POSTs accept any content type: clients differ in what they send with no body. */
    @POST
    @Path("{id}/switch")
    @Consumes(MediaType.WILDCARD)
    public Migration switchNow(@PathParam("id") String id) {
        return migrations.switchNow(id);
    }

    @PUT
    @Path("{id}/bandwidth")
    public Migration bandwidth(@PathParam("id") String id, Bandwidth body) {
        VolumeResource.requireBody(body);
        return migrations.setBandwidth(id, body.bytesPerSecond());
    }

    @POST
    @Path("{id}/abort")
    @Consumes(MediaType.WILDCARD)
    public Migration abort(@PathParam("id") String id) {
        return migrations.abort(id);
    }
}
