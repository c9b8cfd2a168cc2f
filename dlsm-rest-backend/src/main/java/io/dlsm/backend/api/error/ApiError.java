package io.dlsm.backend.api.error;

import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.Map;

/**
 * The one JSON error body of the API: {@code {"code": "...", "message": "...", "details": {...}}}.
 * {@code details} is always present (possibly empty) so clients need no null checks.
 */
public record ApiError(String code, String message, Map<String, Object> details) {

    public ApiError {
        details = details == null ? Map.of() : Map.copyOf(details);
    }

    public static ApiError of(ErrorCode code, String message) {
        return new ApiError(code.wire(), message, Map.of());
    }

    public static ApiError of(ErrorCode code, String message, Map<String, Object> details) {
        return new ApiError(code.wire(), message, details);
    }

    /** A response carrying this error; a builder so callers can still add headers. */
    public Response.ResponseBuilder toResponse(int status) {
        return Response.status(status).type(MediaType.APPLICATION_JSON_TYPE).entity(this);
    }
}
