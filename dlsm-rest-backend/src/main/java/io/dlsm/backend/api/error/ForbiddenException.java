package io.dlsm.backend.api.error;

import jakarta.ws.rs.core.Response;
import java.util.Map;

/** A valid credential that does not allow this call. */
public final class ForbiddenException extends ApiException {

    public ForbiddenException(String message, Map<String, Object> details) {
        super(Response.Status.FORBIDDEN, ErrorCode.FORBIDDEN, message, details);
    }
}
