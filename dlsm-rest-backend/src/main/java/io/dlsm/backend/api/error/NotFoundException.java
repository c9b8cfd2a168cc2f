package io.dlsm.backend.api.error;

import jakarta.ws.rs.core.Response;
import java.util.Map;

/** An unknown id in the path. */
public final class NotFoundException extends ApiException {

    public NotFoundException(String kind, String id) {
        super(Response.Status.NOT_FOUND, ErrorCode.NOT_FOUND, "no " + kind + " '" + id + "'", Map.of(kind, id));
    }
}
