package io.dlsm.backend.api.error;

import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.Response;
import java.util.Map;

/** Missing or wrong credentials. */
public final class UnauthorizedException extends ApiException {

    public UnauthorizedException(String message) {
        super(Response.Status.UNAUTHORIZED, ErrorCode.UNAUTHORIZED, message);
    }

    @Override
    public Map<String, String> headers() {
        return Map.of(HttpHeaders.WWW_AUTHENTICATE, "Bearer realm=\"dlsm\"");
    }
}
