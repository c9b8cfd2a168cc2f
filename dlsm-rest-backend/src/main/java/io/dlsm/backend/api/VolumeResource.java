package io.dlsm.backend.api;

import io.dlsm.backend.api.error.BadRequestException;
import io.dlsm.backend.migration.CrossNodeCopies;
import io.dlsm.backend.migration.Migration;
import io.dlsm.backend.migration.MigrationService;
import io.dlsm.backend.snapshot.VolumeSource;
import io.dlsm.backend.volume.ConnectionInfo;
import io.dlsm.backend.volume.Volume;
import io.dlsm.backend.volume.VolumeService;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
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

/** Volumes: create on a node, list, show, grow, delete, and how a host attaches one. */
@Path("/v1/volumes")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public final class VolumeResource {

    /** Body of create; with a {@code source} the volume is filled from it (sizeBytes, node optional). */
    public record CreateVolume(String name, Long sizeBytes, String node, VolumeSource source) {
    }

    /** Body of the size change. */
    public record Resize(Long sizeBytes) {
    }

    /** Body of the connection request. */
    public record ConnectionRequest(String host, String mode) {
    }

    private final VolumeService volumes;
    private final MigrationService migrations;
    private final CrossNodeCopies copies;

    @Inject
    public VolumeResource(VolumeService volumes, MigrationService migrations, CrossNodeCopies copies) {
        this.volumes = volumes;
        this.migrations = migrations;
        this.copies = copies;
    }

    @POST
    public Response create(CreateVolume body) {
        requireBody(body);
        VolumeService.Created c = body.source() == null
                ? volumes.create(body.name(), body.sizeBytes(), body.node())
                : copies.create(body.name(), body.sizeBytes(), body.node(), body.source());
        return (c.created() ? Response.created(URI.create("/v1/volumes/" + c.volume().name())) : Response.ok())
                .entity(c.volume()).build();
    }

    @GET
    public List<Volume> list() {
        return volumes.list();
    }

    @GET
    @Path("{name}")
    public Volume get(@PathParam("name") String name) {
        return volumes.get(name);
    }

    @PUT
    @Path("{name}/size")
    public Volume resize(@PathParam("name") String name, Resize body) {
        requireBody(body);
        return volumes.extend(name, body.sizeBytes());
    }

    @DELETE
    @Path("{name}")
    public Response delete(@PathParam("name") String name) {
        volumes.delete(name);
        return Response.noContent().build();
    }

    @POST
    @Path("{name}/connection")
    public ConnectionInfo connection(@PathParam("name") String name, ConnectionRequest body) {
        requireBody(body);
        return volumes.connection(name, body.host(), body.mode(),
                migrations.activeFor(name).map(Migration::targetNode));
    }

    /**
     * The host detached: its kernel device, if it has one, is torn down. Idempotent; the
     * answer is 204 also when there was nothing to tear down (mode nbd, or already gone).
     */
    @DELETE
    @Path("{name}/connection/{host}")
    public Response disconnect(@PathParam("name") String name, @PathParam("host") String host) {
        volumes.disconnect(name, host);
        return Response.noContent().build();
    }

    static void requireBody(Object body) {
        if (body == null) {
            throw new BadRequestException("body", "a JSON request body is required");
        }
    }
}
