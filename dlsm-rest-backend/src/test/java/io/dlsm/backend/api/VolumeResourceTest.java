package io.dlsm.backend.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyLong;
import static org.mockito.ArgumentMatchers.eq;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.times;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import io.dlsm.backend.node.BlockdVolume;
import io.dlsm.backend.node.NodeCallException;
import io.dlsm.backend.server.ApiTestSupport;
import jakarta.ws.rs.client.Entity;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class VolumeResourceTest extends ApiTestSupport {

    static final long SIZE = 1L << 30;

    @BeforeEach
    void nodes() {
        post("/v1/nodes", NodeResourceTest.registration("n1", 7000)).close();
        post("/v1/nodes", NodeResourceTest.registration("n2", 7100)).close();
        when(nodeClient().createVolume(any(), any(), anyLong()))
                .thenAnswer(i -> new BlockdVolume(i.getArgument(1), i.getArgument(2), 0, false, 0, null));
    }

    @Test
    void createIsIdempotentForTheSameRequestAndConflictsOtherwise() {
        Response created = post("/v1/volumes", Map.of("name", "v1", "sizeBytes", SIZE, "node", "n1"));
        assertThat(created.getStatus()).isEqualTo(201);
        assertThat(json(created)).containsEntry("state", "AVAILABLE").containsEntry("node", "n1")
                .doesNotContainKey("migrationId");

        assertThat(post("/v1/volumes", Map.of("name", "v1", "sizeBytes", SIZE, "node", "n1")).getStatus())
                .isEqualTo(200);
        assertThat(post("/v1/volumes", Map.of("name", "v1", "sizeBytes", SIZE, "node", "n2")).getStatus())
                .isEqualTo(409);
        verify(nodeClient(), times(1)).createVolume(any(), eq("v1"), eq(SIZE));
        assertThat(target("/v1/volumes").request().get(List.class)).hasSize(1);
        assertThat(json(target("/v1/volumes/v1").request().get())).containsEntry("sizeBytes", (int) SIZE);
    }

    @Test
    void createAdoptsAVolumeBlockdAlreadyMadeBeforeACrash() {
        when(nodeClient().createVolume(any(), eq("v1"), anyLong()))
                .thenThrow(new NodeCallException("n1", "create volume v1", 409, "exists"));
        when(nodeClient().getVolume(any(), eq("v1")))
                .thenReturn(Optional.of(new BlockdVolume("v1", SIZE, 0, false, 0, null)));

        assertThat(post("/v1/volumes", Map.of("name", "v1", "sizeBytes", SIZE, "node", "n1")).getStatus())
                .isEqualTo(201);
    }

    @Test
    void placementErrorsNameTheNode() {
        Response unknown = post("/v1/volumes", Map.of("name", "v1", "sizeBytes", SIZE, "node", "nope"));
        assertThat(unknown.getStatus()).isEqualTo(400);
        Map<String, Object> error = json(unknown);
        assertThat(error.get("details")).isEqualTo(Map.of("field", "node"));
        assertThat((String) error.get("message")).contains("nope");

        clock().advance(Duration.ofSeconds(60));
        controlPlane().nodes().markMissedHeartbeats();
        Response down = post("/v1/volumes", Map.of("name", "v1", "sizeBytes", SIZE, "node", "n1"));
        assertThat(down.getStatus()).isEqualTo(409);
        assertThat((String) json(down).get("message")).contains("n1").contains("DOWN");
    }

    @Test
    void badSizesNameTheField() {
        Response r = post("/v1/volumes", Map.of("name", "v1", "sizeBytes", 1000, "node", "n1"));
        assertThat(r.getStatus()).isEqualTo(400);
        assertThat(json(r).get("details")).isEqualTo(Map.of("field", "sizeBytes"));
        assertThat(json(post("/v1/volumes", Map.of("name", "v1", "node", "n1"))).get("details"))
                .isEqualTo(Map.of("field", "sizeBytes"));
    }

    @Test
    void extendGrowsOnlyAndDeleteRemoves() {
        post("/v1/volumes", Map.of("name", "v1", "sizeBytes", SIZE, "node", "n1")).close();
        when(nodeClient().resizeVolume(any(), eq("v1"), anyLong())).thenReturn(null);

        Response grown = put("/v1/volumes/v1/size", Map.of("sizeBytes", 2 * SIZE));
        assertThat(grown.getStatus()).isEqualTo(200);
        assertThat(json(grown)).containsEntry("sizeBytes", 2 * SIZE);
        Response shrink = put("/v1/volumes/v1/size", Map.of("sizeBytes", SIZE));
        assertThat(shrink.getStatus()).isEqualTo(400);

        assertThat(target("/v1/volumes/v1").request().delete().getStatus()).isEqualTo(204);
        verify(nodeClient()).deleteVolume(any(), eq("v1"));
        assertThat(target("/v1/volumes/v1").request().delete().getStatus()).isEqualTo(404);
        assertThat(put("/v1/volumes/v1/size", Map.of("sizeBytes", SIZE)).getStatus()).isEqualTo(404);
    }

    @Test
    void aFailingNodeIs502NamingNodeAndCall() {
        when(nodeClient().createVolume(any(), eq("v1"), anyLong()))
                .thenThrow(new NodeCallException("n1", "create volume v1", 0, "unreachable"));

        Response r = post("/v1/volumes", Map.of("name", "v1", "sizeBytes", SIZE, "node", "n1"));

        assertThat(r.getStatus()).isEqualTo(502);
        Map<String, Object> error = json(r);
        assertThat(error).containsEntry("code", "node_failed");
        assertThat((String) error.get("message")).contains("'n1'").contains("create volume v1");
        assertThat(target("/v1/volumes/v1").request().get().getStatus()).isEqualTo(404);
    }

    @Test
    void connectionGivesTheNodesNbdAddress() {
        post("/v1/volumes", Map.of("name", "v1", "sizeBytes", SIZE, "node", "n1")).close();

        Response r = post("/v1/volumes/v1/connection", Map.of("host", "compute-1", "mode", "nbd"));

        assertThat(r.getStatus()).isEqualTo(200);
        assertThat(json(r)).isEqualTo(Map.of("driverVolumeType", "nbd",
                "data", Map.of("host", "127.0.0.1", "port", 7001, "export", "v1")));
        assertThat(post("/v1/volumes/v1/connection", Map.of("host", "h", "mode", "local")).getStatus())
                .isEqualTo(409);
        assertThat(json(post("/v1/volumes/v1/connection", Map.of("host", "h", "mode", "iscsi"))).get("details"))
                .isEqualTo(Map.of("field", "mode"));
        verify(nodeClient(), never()).deleteVolume(any(), any());
    }

    private Response post(String path, Object body) {
        return target(path).request().post(Entity.entity(body, MediaType.APPLICATION_JSON_TYPE));
    }

    private Response put(String path, Object body) {
        return target(path).request().put(Entity.entity(body, MediaType.APPLICATION_JSON_TYPE));
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> json(Response r) {
        return r.readEntity(Map.class);
    }
}
