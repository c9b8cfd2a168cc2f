package io.dlsm.backend.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyLong;
import static org.mockito.ArgumentMatchers.argThat;
import static org.mockito.ArgumentMatchers.eq;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import io.dlsm.backend.node.BlockdSink;
import io.dlsm.backend.node.BlockdVolume;
import io.dlsm.backend.node.NodeCallException;
import io.dlsm.backend.server.ApiTestSupport;
import jakarta.ws.rs.client.Entity;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code POST /v1/volumes/{name}/connection} in mode "local": the device is created on the
 * host's node before the answer, only where that node registered the kernel path.
 */
class LocalConnectionResourceTest extends ApiTestSupport {
    static final long SIZE = 64L << 20;

    static Map<String, Object> registration(String name, int port, boolean deviceMapper, boolean dmClone) {
        Map<String, Object> r = new HashMap<>(NodeResourceTest.registration(name, port));
        r.put("capabilities", Map.of("deviceMapper", deviceMapper, "dmClone", dmClone, "nbd", true));
        return r;
    }

    @BeforeEach
    void cluster() {
        post("/v1/nodes", registration("n1", 7000, true, false)).close();
        post("/v1/nodes", registration("n2", 7100, true, true)).close();
        post("/v1/nodes", NodeResourceTest.registration("plain", 7200)).close();
        when(nodeClient().createVolume(any(), any(), anyLong()))
                .thenAnswer(i -> new BlockdVolume(i.getArgument(1), i.getArgument(2), 0, false, 0, null));
        when(nodeClient().createDevice(any(), any())).thenAnswer(i -> "/dev/mapper/dlsm-" + i.getArgument(1));
        assertThat(post("/v1/volumes", Map.of("name", "v1", "sizeBytes", SIZE, "node", "n1")).getStatus())
                .isEqualTo(201);
        assertThat(post("/v1/volumes", Map.of("name", "v2", "sizeBytes", SIZE, "node", "plain")).getStatus())
                .isEqualTo(201);
    }

    @Test
    void localOnAKernelPathNodeCreatesTheDeviceThereBeforeAnswering() {
        Response r = post("/v1/volumes/v1/connection", Map.of("host", "n1", "mode", "local"));

        assertThat(r.getStatus()).isEqualTo(200);
        assertThat(json(r)).isEqualTo(Map.of("driverVolumeType", "local",
                "data", Map.of("device_path", "/dev/mapper/dlsm-v1")));
        verify(nodeClient()).createDevice(argThat(n -> n.name().equals("n1")), eq("v1"));
    }

    @Test
    void nodeWithoutDeviceMapperIs409NamingTheNode() {
        Response r = post("/v1/volumes/v2/connection", Map.of("host", "plain", "mode", "local"));

        assertThat(r.getStatus()).isEqualTo(409);
        Map<String, Object> error = json(r);
        assertThat((String) error.get("message")).contains("node 'plain' has no device-mapper path")
                .contains("--kernel-path auto").contains("mode 'nbd'");
        assertThat(error.get("details")).isEqualTo(Map.of("volume", "v2", "node", "plain"));
        verify(nodeClient(), never()).createDevice(any(), any());
        // The user-space connection still works there.
        assertThat(post("/v1/volumes/v2/connection", Map.of("host", "plain", "mode", "nbd")).getStatus())
                .isEqualTo(200);
    }

    @Test
    void aHostHoldingNeitherTheVolumeNorASinkIs409() {
        Response r = post("/v1/volumes/v1/connection", Map.of("host", "n2", "mode", "local"));

        assertThat(r.getStatus()).isEqualTo(409);
        assertThat((String) json(r).get("message")).contains("host 'n2' holds neither volume 'v1'");
        verify(nodeClient(), never()).createDevice(any(), any());
    }

    @Test
    void duringAMigrationTheTargetGetsItsDeviceOverTheSink() {
        when(nodeClient().openMigrationExport(any(), eq("v1"))).thenReturn("v1@tok");
        when(nodeClient().getVolume(any(), eq("v1")))
                .thenReturn(Optional.of(new BlockdVolume("v1", SIZE, 1 << 20, false, 1, "v1@tok")));
        when(nodeClient().createSink(any(), eq("v1"), any(), eq(7001), eq("v1@tok"), anyLong()))
                .thenReturn(new BlockdSink("v1", "PROXY", 1024, 0, 0, 0, 0, 0, 0, 0, 0, null, null, null, null,
                        null, null, null));
        assertThat(post("/v1/migrations", Map.of("volume", "v1", "targetNode", "n2")).getStatus()).isEqualTo(201);

        Response r = post("/v1/volumes/v1/connection", Map.of("host", "n2", "mode", "local"));

        assertThat(r.getStatus()).isEqualTo(200);
        assertThat(json(r).get("data")).isEqualTo(Map.of("device_path", "/dev/mapper/dlsm-v1"));
        verify(nodeClient()).createDevice(argThat(n -> n.name().equals("n2")), eq("v1"));
    }

    @Test
    void aFailingDeviceCreationIs502AndNoDeviceIsClaimed() {
        when(nodeClient().createDevice(any(), eq("v1")))
                .thenThrow(new NodeCallException("n1", "create the kernel device of v1", 500, "dmsetup failed"));

        Response r = post("/v1/volumes/v1/connection", Map.of("host", "n1", "mode", "local"));

        assertThat(r.getStatus()).isEqualTo(502);
        assertThat((String) json(r).get("message")).contains("'n1'").contains("kernel device of v1");
    }

    @Test
    void detachingFromAKernelPathNodeRemovesItsDevice() {
        assertThat(target("/v1/volumes/v1/connection/n1").request().delete().getStatus()).isEqualTo(204);

        verify(nodeClient()).deleteDevice(argThat(n -> n.name().equals("n1")), eq("v1"));
    }

    @Test
    void detachingFromANodeWithoutDeviceMapperOrAnUnknownHostHasNothingToRemove() {
        assertThat(target("/v1/volumes/v2/connection/plain").request().delete().getStatus()).isEqualTo(204);
        assertThat(target("/v1/volumes/v2/connection/compute-9").request().delete().getStatus()).isEqualTo(204);

        verify(nodeClient(), never()).deleteDevice(any(), any());
    }

    @Test
    void detachingAnUnknownVolumeIs404() {
        Response r = target("/v1/volumes/nope/connection/n1").request().delete();

        assertThat(r.getStatus()).isEqualTo(404);
        assertThat((String) json(r).get("message")).contains("nope");
    }

    @Test
    void aFailingDeviceRemovalIs502NamingTheNode() {
        org.mockito.Mockito.doThrow(new NodeCallException("n1", "remove the kernel device of v1", 500, "device busy"))
                .when(nodeClient()).deleteDevice(any(), eq("v1"));

        Response r = target("/v1/volumes/v1/connection/n1").request().delete();

        assertThat(r.getStatus()).isEqualTo(502);
        assertThat((String) json(r).get("message")).contains("'n1'").contains("kernel device of v1");
    }

    private Response post(String path, Object body) {
        return target(path).request().post(Entity.entity(body, MediaType.APPLICATION_JSON_TYPE));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> json(Response r) {
        return r.readEntity(Map.class);
    }
}
