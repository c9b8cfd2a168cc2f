package io.dlsm.backend.api;

import io.dlsm.backend.snapshot.Snapshot;
import io.dlsm.backend.snapshot.SnapshotService;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.net.URI;
import java.util.List;

/** Snapshots of a volume; volumes are made from them with {@code POST /v1/volumes {source}}. */
@Path("/v1/volumes/{name}/snapshots")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public final class SnapshotResource {

    /** Body of create. */
    public record CreateSnapshot(String name) {
    }

    private final SnapshotService snapshots;

    @Inject
    public SnapshotResource(SnapshotService snapshots) {
        this.snapshots = snapshots;
    }

    @POST
    public Response create(@PathParam("name") String volume, CreateSnapshot body) {
        VolumeResource.requireBody(body);
        SnapshotService.Created c = snapshots.create(volume, body.name());
        return (c.created()
                ? Response.created(URI.create("/v1/volumes/" + volume + "/snapshots/" + c.snapshot().name()))
                : Response.ok()).entity(c.snapshot()).build();
    }

    @GET
    public List<Snapshot> list(@PathParam("name") String volume) {
        return snapshots.list(volume);
    }

    @DELETE
    @Path("{snap}")
    public Response delete(@PathParam("name") String volume, @PathParam("snap") String snap) {
        snapshots.delete(volume, snap);
        return Response.noContent().build();
    }
}
