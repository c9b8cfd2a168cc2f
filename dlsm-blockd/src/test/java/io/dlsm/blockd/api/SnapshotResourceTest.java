package io.dlsm.blockd.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import jakarta.ws.rs.core.Response;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Snapshots and volumes made from snapshots or volumes, through the HTTP API. */
class SnapshotResourceTest extends InMemoryApi {

    @Override
    Optional<String> token() {
        return Optional.empty();
    }

    @BeforeEach
    void volume() {
        post("/v1/volumes", "{\"name\":\"v1\",\"sizeBytes\":1048576}").close();
    }

    private static JsonNode assertStatus(Response r, int status) {
        assertThat(r.getStatus()).isEqualTo(status);
        return json(r);
    }

    @Test
    void createListGetAndDelete() {
        Response created = post("/v1/volumes/v1/snapshots", "{\"name\":\"s1\"}");
        assertThat(created.getLocation().getPath()).isEqualTo("/v1/volumes/v1/snapshots/s1");
        JsonNode s = assertStatus(created, 201);
        assertThat(s.path("volume").asText()).isEqualTo("v1");
        assertThat(s.path("sizeBytes").asLong()).isEqualTo(1 << 20);
        assertThat(s.path("exportName").asText()).isEqualTo("v1@snap-s1");

        assertThat(assertStatus(call("/v1/volumes/v1/snapshots").get(), 200))
                .extracting(n -> n.path("name").asText()).containsExactly("s1");
        assertThat(assertStatus(call("/v1/volumes/v1/snapshots/s1").get(), 200).path("name").asText())
                .isEqualTo("s1");
        assertThat(call("/v1/volumes/v1/snapshots/s1").delete().getStatus()).isEqualTo(204);
        JsonNode gone = assertStatus(call("/v1/volumes/v1/snapshots/s1").delete(), 404);
        assertThat(gone.path("details").path("snapshot").asText()).isEqualTo("s1");
    }

    @Test
    void errorsNameTheVolumeAndSnapshot() {
        post("/v1/volumes/v1/snapshots", "{\"name\":\"s1\"}").close();
        assertThat(assertStatus(post("/v1/volumes/v1/snapshots", "{\"name\":\"s1\"}"), 409).path("code").asText())
                .isEqualTo("ALREADY_EXISTS");
        assertStatus(post("/v1/volumes/ghost/snapshots", "{\"name\":\"s1\"}"), 404);
        assertStatus(post("/v1/volumes/v1/snapshots", "{\"name\":\"a/b\"}"), 400);
        assertStatus(post("/v1/volumes/v1/snapshots", "{}"), 400);
        JsonNode busy = assertStatus(call("/v1/volumes/v1").delete(), 409);
        assertThat(busy.path("message").asText()).contains("s1").contains("delete them first");
        assertThat(busy.path("details").path("snapshots").get(0).asText()).isEqualTo("s1");
    }

    @Test
    void volumesFromASnapshotAndFromAVolume() {
        post("/v1/volumes/v1/snapshots", "{\"name\":\"s1\"}").close();

        JsonNode fromSnap = assertStatus(post("/v1/volumes",
                "{\"name\":\"v2\",\"sizeBytes\":2097152,\"source\":{\"volume\":\"v1\",\"snapshot\":\"s1\"}}"), 201);
        assertThat(fromSnap.path("sizeBytes").asLong()).isEqualTo(2 << 20);
        JsonNode clone = assertStatus(post("/v1/volumes",
                "{\"name\":\"v3\",\"source\":{\"volume\":\"v1\"}}"), 201);
        assertThat(clone.path("sizeBytes").asLong()).isEqualTo(1 << 20);

        assertStatus(post("/v1/volumes",
                "{\"name\":\"v4\",\"sizeBytes\":512,\"source\":{\"volume\":\"v1\"}}"), 400);
        assertStatus(post("/v1/volumes",
                "{\"name\":\"v4\",\"source\":{\"volume\":\"v1\",\"snapshot\":\"nope\"}}"), 404);
        assertStatus(post("/v1/volumes", "{\"name\":\"v4\",\"source\":{}}"), 400);
        assertStatus(post("/v1/volumes", "{\"name\":\"v2\",\"source\":{\"volume\":\"v1\"}}"), 409);
    }
}
