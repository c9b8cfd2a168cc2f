package io.dlsm.backend.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.backend.server.ApiTestSupport;
import jakarta.ws.rs.client.Entity;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class NodeResourceTest extends ApiTestSupport {

    static Map<String, Object> registration(String name, int port) {
        return Map.of("name", name, "apiUrl", "http://127.0.0.1:" + port, "nbdHost", "127.0.0.1", "nbdPort", port + 1);
    }

    @Test
    void registersReRegistersAndLists() {
        Response first = post("/v1/nodes", registration("n1", 7000));
        assertThat(first.getStatus()).isEqualTo(201);
        @SuppressWarnings("unchecked")
        Map<String, Object> node = first.readEntity(Map.class);
        assertThat(node).containsEntry("state", "UP").containsEntry("nbdPort", 7001)
                .containsEntry("capabilities", Map.of("deviceMapper", false, "dmClone", false, "nbd", true));

        // blockd restarted on other ports: same name, new addresses, 200.
        Response again = post("/v1/nodes", registration("n1", 8000));
        assertThat(again.getStatus()).isEqualTo(200);
        assertThat(target("/v1/nodes/n1").request().get(Map.class)).containsEntry("apiUrl", "http://127.0.0.1:8000");
        assertThat(target("/v1/nodes").request().get(List.class)).hasSize(1);
    }

    @Test
    void heartbeatsKeepANodeUpAndMissedOnesTurnItDown() {
        post("/v1/nodes", registration("n1", 7000)).close();
        clock().advance(Duration.ofSeconds(10));
        assertThat(post("/v1/nodes/n1/heartbeat", null).getStatus()).isEqualTo(204);
        clock().advance(Duration.ofSeconds(14));
        controlPlane().nodes().markMissedHeartbeats();
        assertThat(target("/v1/nodes/n1").request().get(Map.class)).containsEntry("state", "UP");

        clock().advance(Duration.ofSeconds(2));
        controlPlane().nodes().markMissedHeartbeats();
        assertThat(target("/v1/nodes/n1").request().get(Map.class)).containsEntry("state", "DOWN");

        post("/v1/nodes/n1/heartbeat", null).close();
        assertThat(target("/v1/nodes/n1").request().get(Map.class)).containsEntry("state", "UP");
    }

    @Test
    void spaceComesWithTheRegistrationAndFollowsEveryHeartbeat() {
        Map<String, Object> reg = new java.util.HashMap<>(registration("n1", 7000));
        reg.put("capacityBytes", 100L << 30);
        reg.put("freeBytes", 60L << 30);
        post("/v1/nodes", reg).close();
        assertThat(target("/v1/nodes/n1").request().get(Map.class)).containsEntry("capacityBytes", 100L << 30)
                .containsEntry("freeBytes", 60L << 30);

        assertThat(post("/v1/nodes/n1/heartbeat", Map.of("capacityBytes", 100L << 30, "freeBytes", 59L << 30))
                .getStatus()).isEqualTo(204);
        assertThat(target("/v1/nodes/n1").request().get(Map.class)).containsEntry("freeBytes", 59L << 30);
        // A heartbeat without a body (an older blockd) keeps what the node said last.
        post("/v1/nodes/n1/heartbeat", null).close();
        assertThat(target("/v1/nodes/n1").request().get(Map.class)).containsEntry("freeBytes", 59L << 30);
    }

    @Test
    void impossibleSpaceIsRefusedNamingTheField() {
        post("/v1/nodes", registration("n1", 7000)).close();
        Response more = post("/v1/nodes/n1/heartbeat", Map.of("capacityBytes", 10, "freeBytes", 11));
        assertThat(more.getStatus()).isEqualTo(400);
        assertThat(more.readEntity(Map.class).get("details")).isEqualTo(Map.of("field", "freeBytes"));
        Response half = post("/v1/nodes/n1/heartbeat", Map.of("freeBytes", 1));
        assertThat(half.getStatus()).isEqualTo(400);
        assertThat(half.readEntity(Map.class).get("details")).isEqualTo(Map.of("field", "capacityBytes"));
        Map<String, Object> reg = new java.util.HashMap<>(registration("n2", 7100));
        reg.put("capacityBytes", -1L);
        reg.put("freeBytes", 0L);
        assertThat(post("/v1/nodes", reg).getStatus()).isEqualTo(400);
        assertThat(target("/v1/nodes/n1").request().get(Map.class)).containsEntry("state", "UP");
    }

    @Test
    void unknownNodeIs404() {
        assertThat(post("/v1/nodes/ghost/heartbeat", null).getStatus()).isEqualTo(404);
        assertThat(target("/v1/nodes/ghost").request().get().getStatus()).isEqualTo(404);
    }

    @Test
    void badFieldsAreNamed() {
        Response r = post("/v1/nodes", Map.of("name", "n1", "apiUrl", "ftp://x", "nbdHost", "h", "nbdPort", 1));
        assertThat(r.getStatus()).isEqualTo(400);
        assertThat(r.readEntity(Map.class).get("details")).isEqualTo(Map.of("field", "apiUrl"));
        Response port = post("/v1/nodes", Map.of("name", "n1", "apiUrl", "http://x:1", "nbdHost", "h", "nbdPort", 0));
        assertThat(port.readEntity(Map.class).get("details")).isEqualTo(Map.of("field", "nbdPort"));
        Response name = post("/v1/nodes", Map.of("name", "../x", "apiUrl", "http://x:1", "nbdHost", "h", "nbdPort", 1));
        assertThat(name.readEntity(Map.class).get("details")).isEqualTo(Map.of("field", "name"));
    }

    private Response post(String path, Object body) {
        return target(path).request().post(body == null ? Entity.text("") : Entity.entity(body,
                MediaType.APPLICATION_JSON_TYPE));
    }
}
