package io.dlsm.blockd.api;

import jakarta.annotation.Priority;
import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.container.PreMatching;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Map;

/**
 * Every control call but the health check must carry the node's bearer token; compared in
 * constant time. Pre-matching, so unknown paths answer 401 too and cannot be probed.
 */
@PreMatching
@Priority(Priorities.AUTHENTICATION)
public final class BearerTokenFilter implements ContainerRequestFilter {
    private final byte[] expected;

    public BearerTokenFilter(String token) {
        this.expected = ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
    }

    /** Whether an {@code Authorization} header value (null if absent) carries the token. */
    public boolean accepts(String header) {
        byte[] given = header == null ? new byte[0] : header.getBytes(StandardCharsets.UTF_8);
        return MessageDigest.isEqual(expected, given);
    }

    @Override
    public void filter(ContainerRequestContext request) {
        if (request.getMethod().equals("GET")
                && ("/" + request.getUriInfo().getPath(true)).replaceAll("/+$", "").equals(HealthResource.PATH)) {
            return;
        }
        if (!accepts(request.getHeaderString(HttpHeaders.AUTHORIZATION))) {
            request.abortWith(Response.status(401).type(MediaType.APPLICATION_JSON_TYPE)
                    .header(HttpHeaders.WWW_AUTHENTICATE, "Bearer")
                    .entity(new ApiError("UNAUTHORIZED",
                            "missing or wrong bearer token: send 'Authorization: Bearer <token>' "
                                    + "with the token from this node's token file (DATA_DIR/api-token unless "
                                    + "--token-file names another)", Map.of()))
                    .build());
        }
    }
}
