package io.dlsm.backend.api.error;

import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.UriInfo;
import jakarta.ws.rs.ext.ExceptionMapper;
import jakarta.ws.rs.ext.Provider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Jersey's own failures (unknown path, wrong method, unsupported media type, ...) in the API's
 * JSON error shape instead of Grizzly's HTML page. Headers such as {@code Allow} on 405 are kept.
 */
@Provider
public final class WebApplicationExceptionMapper implements ExceptionMapper<WebApplicationException> {

    private static final Logger LOG = LoggerFactory.getLogger(WebApplicationExceptionMapper.class);

    @Context
    private UriInfo uriInfo;

    @Override
    public Response toResponse(WebApplicationException e) {
        Response original = e.getResponse();
        int status = original.getStatus();
        ErrorCode code = ErrorCode.forStatus(status);
        String message;
        if (status >= 500) {
            LOG.error("request failed with {}", status, e);
            message = original.getStatusInfo().getReasonPhrase();
        } else if (code == ErrorCode.NOT_FOUND && uriInfo != null) {
            message = "no resource at /" + uriInfo.getPath(false);
        } else {
            message = e.getMessage();
        }
        Response.ResponseBuilder response = ApiError.of(code, message).toResponse(status);
        original.getStringHeaders().forEach((name, values) -> {
            if (!name.equalsIgnoreCase("Content-Type") && !name.equalsIgnoreCase("Content-Length")) {
                values.forEach(value -> response.header(name, value));
            }
        });
        return response.build();
    }
}
