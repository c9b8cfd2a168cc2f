package io.dlsm.blockd.api;

import io.dlsm.blockd.dm.KernelDeviceException;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.ExceptionMapper;
import jakarta.ws.rs.ext.Provider;

/** Kernel device failures to HTTP: a failed dmsetup/nbd-client/losetup step is the node's fault (500). */
@Provider
public final class KernelDeviceExceptionMapper implements ExceptionMapper<KernelDeviceException> {
    @Override
    public Response toResponse(KernelDeviceException e) {
        int status = switch (e.kind()) {
            case NOT_FOUND -> 404;
            case CONFLICT -> 409;
            case FAILED -> 500;
        };
        return Response.status(status).type(MediaType.APPLICATION_JSON_TYPE)
                .entity(new ApiError(e.kind().name(), e.getMessage(), e.details())).build();
    }
}
