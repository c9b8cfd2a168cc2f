package io.dlsm.backend.api.error;

import jakarta.ws.rs.core.Response;
import java.util.Map;

/**
 * Base of every failure the API reports on purpose: an HTTP status plus a stable
 * {@link ErrorCode}. Domain code throws subclasses (or this) and {@link ApiExceptionMapper}
 * renders them; nothing else needs to know about HTTP.
 */
public class ApiException extends RuntimeException {

    private final Response.Status status;
    private final ErrorCode code;
    private final Map<String, Object> details;

    public ApiException(Response.Status status, ErrorCode code, String message) {
        this(status, code, message, Map.of());
    }

    public ApiException(Response.Status status, ErrorCode code, String message, Map<String, Object> details) {
        super(message);
        this.status = status;
        this.code = code;
        this.details = Map.copyOf(details);
    }

    public Response.Status status() {
        return status;
    }

    public ErrorCode code() {
        return code;
    }

    public Map<String, Object> details() {
        return details;
    }

    /** Headers the status requires, e.g. {@code WWW-Authenticate} on 401 (RFC 9110 §15.5.2). */
    public Map<String, String> headers() {
        return Map.of();
    }

    public ApiError toError() {
        return ApiError.of(code, getMessage(), details);
    }
}
