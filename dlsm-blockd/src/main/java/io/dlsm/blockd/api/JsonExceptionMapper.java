package io.dlsm.blockd.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.ExceptionMapper;
import jakarta.ws.rs.ext.Provider;
import java.util.Map;
import java.util.stream.Collectors;

/** Unparseable or mistyped request bodies: 400, naming the field where there is one. */
@Provider
public final class JsonExceptionMapper implements ExceptionMapper<JsonProcessingException> {
    @Override
    public Response toResponse(JsonProcessingException e) {
        String field = "body";
        String message = "request body is not valid JSON: " + e.getOriginalMessage();
        if (e instanceof JsonMappingException m && !m.getPath().isEmpty()) {
            field = m.getPath().stream()
                    .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                    .collect(Collectors.joining("."));
            message = e instanceof UnrecognizedPropertyException
                    ? "unknown field '" + field + "'"
                    : "field '" + field + "' has the wrong type or format";
        }
        return Response.status(400).type(MediaType.APPLICATION_JSON_TYPE)
                .entity(new ApiError("INVALID", message, Map.of("field", field))).build();
    }
}
