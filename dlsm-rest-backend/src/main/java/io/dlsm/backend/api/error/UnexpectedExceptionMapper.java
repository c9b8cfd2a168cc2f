package io.dlsm.backend.api.error;

import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.ExceptionMapper;
import jakarta.ws.rs.ext.Provider;
import java.util.Map;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Bugs: anything no more specific mapper claims. The client gets an incident id instead of a
 * stack trace; the log line with the same id has the trace.
 */
@Provider
public final class UnexpectedExceptionMapper implements ExceptionMapper<Throwable> {

    private static final Logger LOG = LoggerFactory.getLogger(UnexpectedExceptionMapper.class);

    @Override
    public Response toResponse(Throwable e) {
        String incident = UUID.randomUUID().toString();
        LOG.error("unexpected error, incident {}", incident, e);
        return ApiError.of(ErrorCode.INTERNAL_ERROR, "internal error", Map.of("incident", incident))
                .toResponse(Response.Status.INTERNAL_SERVER_ERROR.getStatusCode())
                .build();
    }
}
