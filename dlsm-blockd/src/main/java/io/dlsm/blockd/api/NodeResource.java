package io.dlsm.blockd.api;

import io.dlsm.blockd.dm.NodeKernel;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;

/** This node's kernel capabilities, so the control plane can choose how to present volumes here. */
@Path("/v1/node")
@Produces(MediaType.APPLICATION_JSON)
public final class NodeResource {
    private final NodeKernel kernel;

    public NodeResource(NodeKernel kernel) {
        this.kernel = kernel;
    }

    @GET
    @Path("capabilities")
    public NodeKernel.Report capabilities() {
        return kernel.report();
    }
}
