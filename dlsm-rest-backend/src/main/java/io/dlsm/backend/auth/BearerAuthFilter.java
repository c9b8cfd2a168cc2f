package io.dlsm.backend.auth;

import io.dlsm.backend.api.error.UnauthorizedException;
import jakarta.annotation.Priority;
import jakarta.inject.Inject;
import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.container.PreMatching;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.ext.Provider;

/**
 * Requires {@code Authorization: Bearer <token>} on every call when a token is configured.
 * Pre-matching, so unknown paths also answer 401 and do not reveal which paths exist.
 */
@Provider
@PreMatching
@Priority(Priorities.AUTHENTICATION)
public final class BearerAuthFilter implements ContainerRequestFilter {

    private static final String SCHEME = "Bearer ";

    private final TokenCheck tokenCheck;

    @Inject
    public BearerAuthFilter(TokenCheck tokenCheck) {
        this.tokenCheck = tokenCheck;
    }

    @Override
    public void filter(ContainerRequestContext request) {
        if (!tokenCheck.enabled()) {
            return;
        }
        String header = request.getHeaderString(HttpHeaders.AUTHORIZATION);
        if (header == null) {
            throw new UnauthorizedException("missing bearer token");
        }
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        if (header.length() <= SCHEME.length() || !header.regionMatches(true, 0, SCHEME, 0, SCHEME.length())) {
            throw new UnauthorizedException("authorization must use the Bearer scheme");
        }
        if (!tokenCheck.matches(header.substring(SCHEME.length()).strip())) {
            throw new UnauthorizedException("invalid bearer token");
        }
    }
}
