package io.dlsm.backend.api.error;

import io.dlsm.backend.state.StateConflictException;
import io.dlsm.backend.state.StateStoreException;
import io.dlsm.backend.state.StateStoreUnavailableException;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.ExceptionMapper;
import jakarta.ws.rs.ext.Provider;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The state store's failures at the API edge: the store knows nothing of HTTP, this decides
 * what a client sees. In every case nothing was acknowledged, so the client may retry.
 */
@Provider
public final class StateStoreExceptionMapper implements ExceptionMapper<StateStoreException> {

    private static final Logger LOG = LoggerFactory.getLogger(StateStoreExceptionMapper.class);
    /** etcd elects a new leader or regains quorum within seconds. */
    static final String RETRY_AFTER_SECONDS = "5";

    @Override
    public Response toResponse(StateStoreException e) {
        if (e instanceof StateStoreUnavailableException) {
            LOG.warn("state store unavailable: {}", e.getMessage());
            return ApiError.of(ErrorCode.STORE_UNAVAILABLE, e.getMessage())
                    .toResponse(Response.Status.SERVICE_UNAVAILABLE.getStatusCode())
                    .header("Retry-After", RETRY_AFTER_SECONDS)
                    .build();
        }
        if (e instanceof StateConflictException c) {
            LOG.warn("state conflict: {}", e.getMessage());
            return ApiError.of(ErrorCode.CONFLICT, e.getMessage(), Map.of("kind", c.kind(), "id", c.id()))
                    .toResponse(Response.Status.CONFLICT.getStatusCode())
                    .build();
        }
        LOG.error("state store failed", e);
        return ApiError.of(ErrorCode.SERVER_ERROR, e.getMessage())
                .toResponse(Response.Status.INTERNAL_SERVER_ERROR.getStatusCode())
                .build();
    }
}
