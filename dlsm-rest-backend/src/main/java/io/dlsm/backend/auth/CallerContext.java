package io.dlsm.backend.auth;

import io.dlsm.backend.node.Caller;
import jakarta.ws.rs.core.SecurityContext;
import java.security.Principal;

/** The authenticated caller, handed to resources as JAX-RS's security context. */
public final class CallerContext implements SecurityContext {

    /** The principal resources unwrap to learn who called. */
    public record CallerPrincipal(Caller caller) implements Principal {
        @Override
        public String getName() {
            return caller instanceof Caller.Member m ? "node:" + m.node() : caller.getClass().getSimpleName();
        }
    }

    private final CallerPrincipal principal;

    public CallerContext(Caller caller) {
        this.principal = new CallerPrincipal(caller);
    }

    /** The caller behind {@code context}; a request no filter authenticated counts as a newcomer (least power). */
    public static Caller of(SecurityContext context) {
        return context != null && context.getUserPrincipal() instanceof CallerPrincipal p
                ? p.caller() : new Caller.Registrar();
    }

    @Override
    public Principal getUserPrincipal() {
        return principal;
    }

    @Override
    public boolean isUserInRole(String role) {
        return false;
    }

    @Override
    public boolean isSecure() {
        return false;
    }

    @Override
    public String getAuthenticationScheme() {
        return "Bearer";
    }
}
