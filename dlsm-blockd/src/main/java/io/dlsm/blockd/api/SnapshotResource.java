package io.dlsm.blockd.api;

import io.dlsm.blockd.snapshot.Snapshot;
import io.dlsm.blockd.snapshot.SnapshotStore;
import io.dlsm.blockd.volume.VolumeException;
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

/** Read-only point-in-time copies of a volume; a new volume is made from one with POST /v1/volumes. */
@Path("/v1/volumes/{volume}/snapshots")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public final class SnapshotResource {
    private final SnapshotStore snapshots;

    public SnapshotResource(SnapshotStore snapshots) {
        this.snapshots = snapshots;
    }

    @POST
    public Response create(@PathParam("volume") String volume, VolumeRequests.CreateSnapshot body) {
        if (body == null) {
            throw VolumeException.invalid("body", "a JSON request body is required");
        }
        Snapshot s = snapshots.create(volume, body.name());
        return Response.created(URI.create("/v1/volumes/" + volume + "/snapshots/" + s.name())).entity(s).build();
    }

    @GET
    public List<Snapshot> list(@PathParam("volume") String volume) {
        return snapshots.list(volume);
    }

    @GET
    @Path("{snapshot}")
    public Snapshot get(@PathParam("volume") String volume, @PathParam("snapshot") String snapshot) {
        return snapshots.get(volume, snapshot);
    }

    @DELETE
    @Path("{snapshot}")
    public Response delete(@PathParam("volume") String volume, @PathParam("snapshot") String snapshot) {
        snapshots.delete(volume, snapshot);
        return Response.noContent().build();
    }
}
