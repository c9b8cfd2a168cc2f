package io.dlsm.backend.api.error;

import jakarta.ws.rs.core.Response;
import java.util.Map;

/** The request is valid but the current state forbids it (e.g. extending a migrating volume). */
public final class ConflictException extends ApiException {

    public ConflictException(String message, Map<String, Object> details) {
        super(Response.Status.CONFLICT, ErrorCode.CONFLICT, message, details);
    }
}
