package io.dlsm.backend.auth;

import io.dlsm.backend.api.error.ForbiddenException;
import io.dlsm.backend.api.error.UnauthorizedException;
import io.dlsm.backend.node.Caller;
import jakarta.annotation.Priority;
import jakarta.inject.Inject;
import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.container.PreMatching;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.ext.Provider;
import java.util.Map;

/**
 * Requires {@code Authorization: Bearer <token>} on every call but the health check, and keeps
 * node credentials and the registration token to the calls a node makes. Pre-matching, so
 * unknown paths also answer 401 and do not reveal which paths exist.
 */
@Provider
@PreMatching
@Priority(Priorities.AUTHENTICATION)
public final class BearerAuthFilter implements ContainerRequestFilter {

    /** Answers everybody, and says nothing but "ok". */
    static final String HEALTH = "v1/health";

    private final Authenticator authenticator;

    @Inject
    public BearerAuthFilter(Authenticator authenticator) {
        this.authenticator = authenticator;
    }

    @Override
    public void filter(ContainerRequestContext request) {
        String path = stripSlashes(request.getUriInfo().getPath(true));
        if (path.equals(HEALTH) && request.getMethod().equals("GET")) {
            return;
        }
        Authenticator.Result r = authenticator.authenticate(request.getHeaderString(HttpHeaders.AUTHORIZATION));
        Caller caller = r.caller().orElseThrow(() -> new UnauthorizedException(r.refusal()));
        if (!allowed(caller, request.getMethod(), path)) {
            throw new ForbiddenException(caller instanceof Caller.Registrar
                    ? "the registration token only registers new nodes (POST /v1/nodes); use the API token"
                    : "a node's credential only registers, heartbeats and reports events for that node; "
                            + "use the API token", Map.of());
        }
        request.setSecurityContext(new CallerContext(caller));
    }

    static boolean allowed(Caller caller, String method, String path) {
        if (caller instanceof Caller.Operator || caller instanceof Caller.Anyone) {
            return true;
        }
        if (!method.equals("POST")) {
            return false;
        }
        if (path.equals("v1/nodes")) {
            return true;
        }
        return caller instanceof Caller.Member m
                && (path.equals("v1/nodes/" + m.node() + "/heartbeat") || path.equals("v1/nodes/" + m.node() + "/events"));
    }

    private static String stripSlashes(String path) {
        int from = 0;
        int to = path.length();
        while (from < to && path.charAt(from) == '/') {
            from++;
        }
        while (to > from && path.charAt(to - 1) == '/') {
            to--;
        }
        return path.substring(from, to);
    }
}
