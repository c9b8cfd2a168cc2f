package io.dlsm.blockd.api;

import io.dlsm.blockd.volume.VolumeException;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.ExceptionMapper;
import jakarta.ws.rs.ext.Provider;

/** Volume failures to HTTP: the kind picks the status, the code is stable for scripts. */
@Provider
public final class VolumeExceptionMapper implements ExceptionMapper<VolumeException> {
    @Override
    public Response toResponse(VolumeException e) {
        int status = switch (e.kind()) {
            case INVALID -> 400;
            case NOT_FOUND -> 404;
            case ALREADY_EXISTS, CONFLICT -> 409;
            case STORAGE -> 500;
        };
        return Response.status(status).type(MediaType.APPLICATION_JSON_TYPE)
                .entity(new ApiError(e.kind().name(), e.getMessage(), e.details())).build();
    }
}
