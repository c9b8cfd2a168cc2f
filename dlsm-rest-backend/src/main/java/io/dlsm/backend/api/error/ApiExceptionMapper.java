package io.dlsm.backend.api.error;

import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.ExceptionMapper;
import jakarta.ws.rs.ext.Provider;

/** Renders the {@link ApiException} family; these are expected outcomes, so no logging here. */
@Provider
public final class ApiExceptionMapper implements ExceptionMapper<ApiException> {

    @Override
    public Response toResponse(ApiException e) {
        Response.ResponseBuilder response = e.toError().toResponse(e.status().getStatusCode());
        e.headers().forEach(response::header);
        return response.build();
    }
}
