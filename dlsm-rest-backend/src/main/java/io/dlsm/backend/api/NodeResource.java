package io.dlsm.backend.api;

import io.dlsm.backend.node.Node;
import io.dlsm.backend.node.NodeRegistration;
import io.dlsm.backend.node.NodeRegistry;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.net.URI;
import java.util.List;

/** blockd nodes register and heartbeat here; operators list them. */
@Path("/v1/nodes")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public final class NodeResource {

    private final NodeRegistry nodes;

    @Inject
    public NodeResource(NodeRegistry nodes) {
        this.nodes = nodes;
    }

    @POST
    public Response register(NodeRegistration body) {
        NodeRegistry.Registered r = nodes.register(body);
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

    /** No body needed; one is accepted and ignored so blockd versions may send stats later. */
    @POST
    @Path("{name}/heartbeat")
    @Consumes(MediaType.WILDCARD)
    public Response heartbeat(@PathParam("name") String name) {
        nodes.heartbeat(name);
        return Response.noContent().build();
    }
}
