package io.dlsm.backend.api.error;

import jakarta.ws.rs.core.Response;
import java.util.Map;

/** A request field is missing or wrong; {@code details.field} names it so clients can point at it. */
public final class BadRequestException extends ApiException {

    public BadRequestException(String field, String message) {
        super(Response.Status.BAD_REQUEST, ErrorCode.BAD_REQUEST, message, Map.of("field", field));
    }
}
