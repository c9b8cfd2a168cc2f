package io.dlsm.backend.api;

import io.dlsm.backend.api.error.BadRequestException;
import io.dlsm.backend.migration.Migration;
import io.dlsm.backend.migration.MigrationService;
import io.dlsm.backend.node.Node;
import io.dlsm.backend.node.NodeEvent;
import io.dlsm.backend.node.NodeHeartbeat;
import io.dlsm.backend.node.NodeRegistration;
import io.dlsm.backend.node.NodeRegistry;
import jakarta.inject.Inject;
import io.dlsm.backend.auth.CallerContext;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.SecurityContext;
import jakarta.ws.rs.core.Response;
import java.net.URI;
import java.util.List;
import java.util.Optional;

/** blockd nodes register and heartbeat here; operators list them. */
@Path("/v1/nodes")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public final class NodeResource {

    private final NodeRegistry nodes;
    private final MigrationService migrations;

    @Inject
    public NodeResource(NodeRegistry nodes, MigrationService migrations) {
        this.nodes = nodes;
        this.migrations = migrations;
    }

    @POST
    public Response register(NodeRegistration body, @Context SecurityContext security) {
        NodeRegistry.Registered r = nodes.register(body, CallerContext.of(security));
        return (r.created() ? Response.created(URI.create("/v1/nodes/" + r.node().name())) : Response.ok())
                .entity(r.node()).build();
    }

    @GET
    public List<Node> list() {
        return nodes.list();
    }

    @GET
    @Path("{name}")
    public Node get(@PathParam("name") String name) {
        return nodes.get(name);
    }

    /**
     * Unbinds a node's credential (an operator's call): for a node reinstalled without its
     * {@code backend-credential}, whose registration the backend otherwise refuses.
     */
    @DELETE
    @Path("{name}/credential")
    public Node resetCredential(@PathParam("name") String name) {
        return nodes.resetCredential(name);
    }

    /** No body needed (older blockd sends none); a body of another type is ignored. */
    @POST
    @Path("{name}/heartbeat")
    @Consumes(MediaType.WILDCARD)
    public Response heartbeat(@PathParam("name") String name) {
        nodes.heartbeat(name, null);
        return Response.noContent().build();
    }

    /** A heartbeat with the node's current disk space, which pools and placement follow. */
    @POST
    @Path("{name}/heartbeat")
    @Consumes(MediaType.APPLICATION_JSON)
    public Response heartbeat(@PathParam("name") String name, NodeHeartbeat body) {
        nodes.heartbeat(name, body);
        return Response.noContent().build();
    }

    /**
     * A node's push: answered once handled, with the migration it moved on (200), or 204 when
     * no migration was waiting for it.
     */
    @POST
    @Path("{name}/events")
    public Response event(@PathParam("name") String name, NodeEvent event) {
        nodes.get(name);
        if (event == null || event.type() == null) {
            throw new BadRequestException("type", "an event with a type is required (one of VOLUME_FENCED)");
        }
        String volume = Names.requireName("volume", event.volume());
        Optional<Migration> moved = switch (event.type()) {
            case VOLUME_FENCED -> migrations.sourceFenced(name, volume);
        };
        return moved.map(m -> Response.ok(m)).orElseGet(Response::noContent).build();
    }
}
