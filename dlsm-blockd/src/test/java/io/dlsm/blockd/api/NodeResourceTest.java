package io.dlsm.blockd.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.dlsm.blockd.dm.KernelPathSetting;
import io.dlsm.blockd.dm.NodeCapabilities;
import io.dlsm.blockd.dm.NodeKernel;
import jakarta.ws.rs.core.Response;
import java.util.List;
import org.glassfish.jersey.server.ResourceConfig;
import org.glassfish.jersey.test.JerseyTest;
import org.glassfish.jersey.test.inmemory.InMemoryTestContainerFactory;
import org.glassfish.jersey.test.spi.TestContainerFactory;
import org.junit.jupiter.api.Test;

class NodeResourceTest extends JerseyTest {
    @Override
    protected ResourceConfig configure() {
        NodeKernel kernel = new NodeKernel(() -> new NodeCapabilities(true, false, true, List.of("/dev/nbd1"),
                List.of("no dm-clone target")), KernelPathSetting.DM_CLONE);
        ResourceConfig rc = new ResourceConfig();
        rc.register(new Json(Json.newMapper()));
        rc.registerResources(BlockdApplication.boundTo(new NodeResource(kernel)));
        return rc;
    }

    @Override
    protected TestContainerFactory getTestContainerFactory() {
        return new InMemoryTestContainerFactory();
    }

    @Test
    void reportsCapabilitiesBestModeAndWhetherTheSettingHolds() throws Exception {
        Response r = target("/v1/node/capabilities").request().get();
        assertThat(r.getStatus()).isEqualTo(200);
        JsonNode j = InMemoryApi.MAPPER.readTree(r.readEntity(String.class));
        assertThat(j.at("/capabilities/deviceMapper").asBoolean()).isTrue();
        assertThat(j.at("/capabilities/dmClone").asBoolean()).isFalse();
        assertThat(j.at("/capabilities/freeNbdDevices/0").asText()).isEqualTo("/dev/nbd1");
        assertThat(j.at("/capabilities/notes/0").asText()).isEqualTo("no dm-clone target");
        assertThat(j.at("/bestMode").asText()).isEqualTo("LINEAR_OVER_NBD");
        assertThat(j.at("/setting").asText()).isEqualTo("DM_CLONE");
        assertThat(j.at("/mode").isNull()).isTrue();
    }
}
