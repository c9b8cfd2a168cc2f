package io.dlsm.blockd.api;

import io.dlsm.blockd.sink.SinkException;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.ExceptionMapper;
import jakarta.ws.rs.ext.Provider;

/** Sink failures to HTTP; a source that cannot be reached is the upstream's fault (502). */
@Provider
public final class SinkExceptionMapper implements ExceptionMapper<SinkException> {
    @Override
    public Response toResponse(SinkException e) {
        int status = switch (e.kind()) {
            case INVALID -> 400;
            case NOT_FOUND -> 404;
            case CONFLICT -> 409;
            case SOURCE_UNAVAILABLE -> 502;
            case STORAGE -> 500;
        };
        return Response.status(status).type(MediaType.APPLICATION_JSON_TYPE)
                .entity(new ApiError(e.kind().name(), e.getMessage(), e.details())).build();
    }
}
