package io.dlsm.blockd.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import jakarta.ws.rs.client.Entity;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class VolumeResourceTest extends InMemoryApi {
    private static final String ONE_MIB = "{\"name\":\"v1\",\"sizeBytes\":1048576}";

    @Override
    Optional<String> token() {
        return Optional.empty();
    }

    /** Asserts the status and the error body's shape; returns the body. */
    private static JsonNode assertError(Response r, int status, String code) {
        assertThat(r.getStatus()).isEqualTo(status);
        assertThat(r.getMediaType().isCompatible(MediaType.APPLICATION_JSON_TYPE)).isTrue();
        JsonNode body = json(r);
        assertThat(body.path("code").asText()).isEqualTo(code);
        assertThat(body.path("message").asText()).isNotBlank();
        assertThat(body.path("details").isObject()).as("details object in %s", body).isTrue();
        return body;
    }

    @Test
    void createAnswers201WithLocationAndTheVolume() {
        Response r = post("/v1/volumes", ONE_MIB);
        assertThat(r.getStatus()).isEqualTo(201);
        assertThat(r.getLocation().getPath()).isEqualTo("/v1/volumes/v1");
        JsonNode v = json(r);
        assertThat(v.path("name").asText()).isEqualTo("v1");
        assertThat(v.path("sizeBytes").asLong()).isEqualTo(1 << 20);
        assertThat(v.path("readOnly").asBoolean()).isFalse();
        assertThat(v.path("exportName").asText()).isEqualTo("v1");
        assertThat(v.path("createdAt").asText()).endsWith("Z");
    }

    @Test
    void getAndListAnswer200() {
        post("/v1/volumes", ONE_MIB).close();
        post("/v1/volumes", "{\"name\":\"v0\",\"sizeBytes\":512,\"readOnly\":true}").close();

        Response one = call("/v1/volumes/v1").get();
        assertThat(one.getStatus()).isEqualTo(200);
        assertThat(json(one).path("sizeBytes").asLong()).isEqualTo(1 << 20);

        Response all = call("/v1/volumes").get();
        assertThat(all.getStatus()).isEqualTo(200);
        JsonNode list = json(all);
        assertThat(list.isArray()).isTrue();
        assertThat(list).extracting(n -> n.path("name").asText()).containsExactly("v0", "v1");
        assertThat(list.get(0).path("readOnly").asBoolean()).isTrue();
    }

    @Test
    void unknownVolumeIs404Json() {
        JsonNode body = assertError(call("/v1/volumes/ghost").get(), 404, "NOT_FOUND");
        assertThat(body.path("details").path("volume").asText()).isEqualTo("ghost");
    }

    @Test
    void duplicateIs409() {
        post("/v1/volumes", ONE_MIB).close();
        assertError(post("/v1/volumes", ONE_MIB), 409, "ALREADY_EXISTS");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "wrong type        | {\"name\":\"x\",\"sizeBytes\":\"big\"}                  | sizeBytes",
        "wrong name type   | {\"name\":[1],\"sizeBytes\":512}                        | name",
        "unknown field     | {\"name\":\"x\",\"sizeBytes\":512,\"colour\":\"red\"}     | colour",
        "truncated JSON    | {\"name\":\"x\",                                        | body",
        "trailing garbage  | {\"name\":\"x\",\"sizeBytes\":512} {}                   | body",
        "not an object     | [1,2]                                                   | body",
        "missing sizeBytes | {\"name\":\"x\"}                                        | sizeBytes",
        "missing name      | {\"sizeBytes\":512}                                     | name",
        "bad name          | {\"name\":\"../x\",\"sizeBytes\":512}                    | name",
        "unaligned size    | {\"name\":\"x\",\"sizeBytes\":513}                       | sizeBytes",
        "string readOnly   | {\"name\":\"x\",\"sizeBytes\":512,\"readOnly\":\"yes\"}   | readOnly",
    })
    void badCreateBodyIs400NamingTheField(String why, String body, String field) {
        JsonNode error = assertError(post("/v1/volumes", body.strip()), 400, "INVALID");
        assertThat(error.path("details").path("field").asText()).as(why).isEqualTo(field);
    }

    @Test
    void missingBodyIs400() {
        Response r = call("/v1/volumes").post(Entity.entity("", MediaType.APPLICATION_JSON_TYPE));
        assertThat(assertError(r, 400, "INVALID").path("details").path("field").asText()).isEqualTo("body");
    }

    @Test
    void unknownPathAndMethodAreJsonToo() {
        assertError(call("/v2/nothing").get(), 404, "NOT_FOUND");
        assertError(call("/v1/volumes").delete(), 405, "METHOD_NOT_ALLOWED");
        Response textBody = call("/v1/volumes").post(Entity.entity(ONE_MIB, MediaType.TEXT_PLAIN_TYPE));
        assertError(textBody, 415, "UNSUPPORTED_MEDIA_TYPE");
    }

    @Test
    void putSizeGrowsAndRefusesShrink() {
        post("/v1/volumes", ONE_MIB).close();
        Response grown = put("/v1/volumes/v1/size", "{\"sizeBytes\":2097152}");
        assertThat(grown.getStatus()).isEqualTo(200);
        assertThat(json(grown).path("sizeBytes").asLong()).isEqualTo(2 << 20);
        assertError(put("/v1/volumes/v1/size", "{\"sizeBytes\":512}"), 409, "CONFLICT");
        assertError(put("/v1/volumes/v1/size", "{}"), 400, "INVALID");
        assertError(put("/v1/volumes/ghost/size", "{\"sizeBytes\":2097152}"), 404, "NOT_FOUND");
    }

    @Test
    void putAccessTogglesReadOnly() {
        post("/v1/volumes", ONE_MIB).close();
        Response ro = put("/v1/volumes/v1/access", "{\"readOnly\":true}");
        assertThat(ro.getStatus()).isEqualTo(200);
        assertThat(json(ro).path("readOnly").asBoolean()).isTrue();
        assertThat(json(call("/v1/volumes/v1").get()).path("readOnly").asBoolean()).isTrue();
        JsonNode missing = assertError(put("/v1/volumes/v1/access", "{}"), 400, "INVALID");
        assertThat(missing.path("details").path("field").asText()).isEqualTo("readOnly");
    }

    @Test
    void deleteIs204ThenTheVolumeIsGone() {
        post("/v1/volumes", ONE_MIB).close();
        assertThat(call("/v1/volumes/v1").delete().getStatus()).isEqualTo(204);
        assertError(call("/v1/volumes/v1").get(), 404, "NOT_FOUND");
        assertError(call("/v1/volumes/v1").delete(), 404, "NOT_FOUND");
    }
}
