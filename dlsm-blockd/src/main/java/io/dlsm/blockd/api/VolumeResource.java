package io.dlsm.blockd.api;

import io.dlsm.blockd.snapshot.SnapshotStore;
import io.dlsm.blockd.volume.Volume;
import io.dlsm.blockd.volume.VolumeException;
import io.dlsm.blockd.volume.VolumeStore;
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

/** Volumes of this node: sparse files exported over NBD under their own name. */
@Path("/v1/volumes")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public final class VolumeResource {
    private final VolumeStore store;
    private final SnapshotStore snapshots;

    public VolumeResource(VolumeStore store, SnapshotStore snapshots) {
        this.store = store;
        this.snapshots = snapshots;
    }

    @POST
    public Response create(VolumeRequests.Create body) {
        requireBody(body);
        Volume v = body.source() == null ? createEmpty(body) : createFrom(body, body.source());
        return Response.created(URI.create("/v1/volumes/" + v.name())).entity(v).build();
    }

    private Volume createEmpty(VolumeRequests.Create body) {
        if (body.sizeBytes() == null) {
            throw VolumeException.invalid("sizeBytes", "sizeBytes is required");
        }
        return store.create(body.name(), body.sizeBytes(), Boolean.TRUE.equals(body.readOnly()));
    }

    /** Without sizeBytes the new volume is as large as its source. */
    private Volume createFrom(VolumeRequests.Create body, VolumeRequests.Source src) {
        if (Boolean.TRUE.equals(body.readOnly())) {
            throw VolumeException.invalid("readOnly", "a volume made from a source starts writable;"
                    + " set readOnly afterwards with PUT /v1/volumes/" + body.name() + "/access");
        }
        if (src.volume() == null) {
            throw VolumeException.invalid("source.volume", "source.volume is required");
        }
        if (src.snapshot() == null) {
            long size = body.sizeBytes() != null ? body.sizeBytes() : store.get(src.volume()).sizeBytes();
            return store.createCopy(body.name(), size, src.volume());
        }
        long size = body.sizeBytes() != null ? body.sizeBytes()
                : snapshots.get(src.volume(), src.snapshot()).sizeBytes();
        return snapshots.restore(src.volume(), src.snapshot(), body.name(), size);
    }

    @GET
    public List<Volume> list() {
        return store.list();
    }

    @GET
    @Path("{name}")
    public Volume get(@PathParam("name") String name) {
        return store.get(name);
    }

    @PUT
    @Path("{name}/size")
    public Volume resize(@PathParam("name") String name, VolumeRequests.Resize body) {
        requireBody(body);
        if (body.sizeBytes() == null) {
            throw VolumeException.invalid("sizeBytes", "sizeBytes is required");
        }
        return store.resize(name, body.sizeBytes());
    }

    @PUT
    @Path("{name}/access")
    public Volume access(@PathParam("name") String name, VolumeRequests.Access body) {
        requireBody(body);
        if (body.readOnly() == null) {
            throw VolumeException.invalid("readOnly", "readOnly is required");
        }
        return store.setReadOnly(name, body.readOnly());
    }

    /** Source side of a migration: from now on only the sink's migration export may write. */
    @POST
    @Path("{name}/fence")
    public Volume fence(@PathParam("name") String name) {
        return store.fence(name);
    }

    @POST
    @Path("{name}/unfence")
    public Volume unfence(@PathParam("name") String name) {
        return store.unfence(name);
    }

    /** Opens the unlisted export a sink on another node connects to; idempotent. */
    @POST
    @Path("{name}/migration-export")
    public Volume openMigrationExport(@PathParam("name") String name) {
        return store.openMigrationExport(name);
    }

    @DELETE
    @Path("{name}/migration-export")
    public Volume closeMigrationExport(@PathParam("name") String name) {
        return store.closeMigrationExport(name);
    }

    @DELETE
    @Path("{name}")
    public Response delete(@PathParam("name") String name) {
        store.delete(name);
        return Response.noContent().build();
    }

    private static void requireBody(Object body) {
        if (body == null) {
            throw VolumeException.invalid("body", "a JSON request body is required");
        }
    }
}
