package io.dlsm.blockd.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import jakarta.ws.rs.client.Entity;
import jakarta.ws.rs.core.Response;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The full application on a node whose kernel path is off: the device endpoint says so with 409. */
class DeviceResourceOffTest extends InMemoryApi {
    @Override
    Optional<String> token() {
        return Optional.empty();
    }

    @Test
    void kernelPathOffIs409SayingWhatToDo() throws Exception {
        Response r = target("/v1/volumes/vol1/device").request().post(Entity.json(""));
        assertThat(r.getStatus()).isEqualTo(409);
        JsonNode j = MAPPER.readTree(r.readEntity(String.class));
        assertThat(j.get("message").asText()).contains("no device-mapper path").contains("--kernel-path auto");
        // The volume API next to it is untouched by the extra resource.
        assertThat(target("/v1/volumes").request().get().getStatus()).isEqualTo(200);
    }
}
