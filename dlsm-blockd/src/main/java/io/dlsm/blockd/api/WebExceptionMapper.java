package io.dlsm.blockd.api;

import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.ExceptionMapper;
import jakarta.ws.rs.ext.Provider;
import java.util.Map;

/** Jersey's own refusals (unknown path, wrong method or media type) as JSON too. */
@Provider
public final class WebExceptionMapper implements ExceptionMapper<WebApplicationException> {
    @Override
    public Response toResponse(WebApplicationException e) {
        Response r = e.getResponse();
        String code = switch (r.getStatus()) {
            case 401 -> "UNAUTHORIZED";
            case 404 -> "NOT_FOUND";
            case 405 -> "METHOD_NOT_ALLOWED";
            case 415 -> "UNSUPPORTED_MEDIA_TYPE";
            default -> "HTTP_" + r.getStatus();
        };
        return Response.status(r.getStatus()).type(MediaType.APPLICATION_JSON_TYPE)
                .entity(new ApiError(code, e.getMessage(), Map.of())).build();
    }
}
