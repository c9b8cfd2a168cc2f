package io.dlsm.backend.api.error;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.backend.server.ApiTestSupport;
import jakarta.ws.rs.client.Entity;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ErrorMappingTest extends ApiTestSupport {

    @Override
    protected List<Class<?>> extraResources() {
        return List.of(ProbeResource.class);
    }

    @Test
    void validBodyIsAccepted() {
        Response response = post("{\"name\":\"a\",\"sizeGiB\":3,\"extents\":[{\"offset\":0,\"length\":1}]}");

        assertThat(response.getStatus()).isEqualTo(200);
        assertThat(response.readEntity(Map.class)).containsEntry("sizeGiB", 3);
    }

    @Test
    void unknownPathIsJson404() {
        Map<String, Object> error = error(target("/v1/nope").request().get(), 404);

        assertThat(error).containsEntry("code", "not_found").containsEntry("message", "no resource at /v1/nope");
        assertThat(error.get("details")).isEqualTo(Map.of());
    }

    @Test
    void wrongMethodIsJson405AndKeepsAllowHeader() {
        Response response = target("/v1/health").request().delete();

        assertThat(response.getHeaderString("Allow")).contains("GET");
        assertThat(error(response, 405)).containsEntry("code", "method_not_allowed");
    }

    @Test
    void wrongTypeNamesTheField() {
        Map<String, Object> error = error(post("{\"name\":\"a\",\"sizeGiB\":\"big\"}"), 400);

        assertThat(error).containsEntry("code", "invalid_json");
        assertThat(error.get("message")).asString()
                .isEqualTo("field 'sizeGiB': value \"big\" is not a valid integer");
        assertThat(details(error)).containsEntry("field", "sizeGiB");
    }

    @Test
    void nestedFieldPathIncludesArrayIndex() {
        Map<String, Object> error = error(post("{\"sizeGiB\":1,\"extents\":[{\"offset\":0,\"length\":1},{\"offset\":[]}]}"), 400);

        assertThat(details(error)).containsEntry("field", "extents[1].offset");
    }

    @Test
    void unknownFieldIsRejectedByName() {
        Map<String, Object> error = error(post("{\"name\":\"a\",\"sizeGiB\":1,\"colour\":\"red\"}"), 400);

        assertThat(details(error)).containsEntry("field", "colour");
        assertThat(error.get("message")).asString().contains("unknown field");
    }

    @Test
    void nullForPrimitiveIsRejected() {
        Map<String, Object> error = error(post("{\"name\":\"a\",\"sizeGiB\":null}"), 400);

        assertThat(details(error)).containsEntry("field", "sizeGiB");
        assertThat(error.get("message")).asString().isEqualTo("field 'sizeGiB': required integer is missing or null");
    }

    @Test
    void missingPrimitiveIsRejectedRatherThanDefaultedToZero() {
        assertThat(details(error(post("{\"name\":\"a\"}"), 400))).containsEntry("field", "sizeGiB");
    }

    @Test
    void recordValidationMessageReachesTheClient() {
        Map<String, Object> error = error(post("{\"name\":\" \",\"sizeGiB\":1}"), 400);

        assertThat(error.get("message")).asString().contains("name must not be blank");
    }

    @Test
    void malformedJsonReportsWhere() {
        Map<String, Object> error = error(post("{\"name\": \"a\",\n \"sizeGiB\": }"), 400);

        assertThat(error).containsEntry("code", "invalid_json");
        assertThat(details(error)).containsEntry("line", 2).doesNotContainKey("field");
    }

    @Test
    void apiExceptionKeepsStatusCodeAndDetails() {
        Map<String, Object> error = error(target("/test/api-error").request().get(), 403);

        assertThat(error)
                .containsEntry("code", "forbidden")
                .containsEntry("message", "volume is fenced")
                .containsEntry("details", Map.of("volume", "vol-1"));
    }

    @Test
    void unexpectedExceptionIs500WithoutInternals() {
        Map<String, Object> error = error(target("/test/bug").request().get(), 500);

        assertThat(error).containsEntry("code", "internal_error").containsEntry("message", "internal error");
        assertThat(details(error)).containsKey("incident");
        assertThat(error.toString()).doesNotContain("secret internal detail");
    }

    @Test
    void wrongMediaTypeIsJson415() {
        Response response = target("/test/echo").request().post(Entity.entity("x", MediaType.TEXT_PLAIN_TYPE));

        assertThat(error(response, 415)).containsEntry("code", "unsupported_media_type");
    }

    private Response post(String json) {
        return target("/test/echo").request().post(Entity.entity(json, MediaType.APPLICATION_JSON_TYPE));
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> error(Response response, int status) {
        assertThat(response.getStatus()).isEqualTo(status);
        assertThat(response.getMediaType().isCompatible(MediaType.APPLICATION_JSON_TYPE)).isTrue();
        Map<String, Object> body = response.readEntity(Map.class);
        assertThat(body).containsOnlyKeys("code", "message", "details");
        return body;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> details(Map<String, Object> error) {
        return (Map<String, Object>) error.get("details");
    }
}
