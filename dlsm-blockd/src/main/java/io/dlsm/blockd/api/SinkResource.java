package io.dlsm.blockd.api;

import io.dlsm.blockd.sink.SinkException;
import io.dlsm.blockd.sink.SinkManager;
import io.dlsm.blockd.sink.SinkStatus;
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
import java.util.Map;

/** Migration sinks of this node (the destination side of a migration). */
@Path("/v1/sinks")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public final class SinkResource {
    /** Body of activate: force skips asking the source whether it is fenced. */
    public record Activate(Boolean force) {
    }

    /** Body of the bandwidth change. */
    public record Bandwidth(Long bytesPerSecond) {
    }

    private final SinkManager sinks;

    public SinkResource(SinkManager sinks) {
        this.sinks = sinks;
    }

    @POST
    public Response create(SinkManager.CreateRequest body) {
        if (body == null) {
            throw new SinkException(SinkException.Kind.INVALID, "a JSON request body is required",
                    Map.of("field", "body"));
        }
        SinkStatus s = sinks.create(body);
        return Response.created(URI.create("/v1/sinks/" + s.name())).entity(s).build();
    }

    @GET
    public List<SinkStatus> list() {
        return sinks.list();
    }

    @GET
    @Path("{name}")
    public SinkStatus get(@PathParam("name") String name) {
        return sinks.get(name);
    }

    @POST
    @Path("{name}/activate")
    public SinkStatus activate(@PathParam("name") String name, Activate body) {
        return sinks.activate(name, body != null && Boolean.TRUE.equals(body.force()));
    }

    @PUT
    @Path("{name}/bandwidth")
    public SinkStatus bandwidth(@PathParam("name") String name, Bandwidth body) {
        return sinks.setBandwidth(name, body == null ? null : body.bytesPerSecond());
    }

    /** The source moved: {@code {host, port[, export]}}; the sink reconnects there. */
    @PUT
    @Path("{name}/source")
    public SinkStatus source(@PathParam("name") String name, SinkManager.Repoint body) {
        return sinks.repoint(name, body);
    }

    @POST
    @Path("{name}/abort")
    public SinkStatus abort(@PathParam("name") String name) {
        return sinks.abort(name);
    }

    @POST
    @Path("{name}/commit")
    public SinkStatus commit(@PathParam("name") String name) {
        return sinks.commit(name);
    }
}
