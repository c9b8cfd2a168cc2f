package io.dlsm.backend.auth;

import io.dlsm.backend.node.Caller;
import io.dlsm.backend.node.NodeKeys;
import java.util.Optional;

/**
 * Tells from a bearer token who is calling: the operator (API token), a newcomer node
 * (registration token), a registered node (its own credential), or, with
 * {@code --insecure-no-auth}, anyone.
 */
public final class Authenticator {

    private static final String SCHEME = "Bearer ";

    private final boolean open;
    private final TokenCheck operator;
    private final TokenCheck registration;
    private final NodeKeys nodes;

    private Authenticator(boolean open, TokenCheck operator, TokenCheck registration, NodeKeys nodes) {
        this.open = open;
        this.operator = operator;
        this.registration = registration;
        this.nodes = nodes;
    }

    /** {@code --insecure-no-auth}: every call is let through. */
    public static Authenticator open() {
        return new Authenticator(true, TokenCheck.disabled(), TokenCheck.disabled(), null);
    }

    public static Authenticator requiring(TokenCheck operator, TokenCheck registration, NodeKeys nodes) {
        if (!operator.enabled() || !registration.enabled()) {
            throw new IllegalArgumentException("both the API and the registration token are required");
        }
        return new Authenticator(false, operator, registration, nodes);
    }

    public boolean isOpen() {
        return open;
    }

    /** The caller an {@code Authorization} header value (null when absent) proves, or why not. */
    public Result authenticate(String header) {
        if (open) {
            return new Result(Optional.of(new Caller.Anyone()), null);
        }
        if (header == null) {
            return Result.refused("missing bearer token");
        }
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        if (header.length() <= SCHEME.length() || !header.regionMatches(true, 0, SCHEME, 0, SCHEME.length())) {
            return Result.refused("authorization must use the Bearer scheme");
        }
        String token = header.substring(SCHEME.length()).strip();
        if (operator.matches(token)) {
            return new Result(Optional.of(new Caller.Operator()), null);
        }
        if (registration.matches(token)) {
            return new Result(Optional.of(new Caller.Registrar()), null);
        }
        Optional<Caller> node = nodes.nodeWithCredential(token).map(Caller.Member::new);
        return node.isPresent() ? new Result(node, null) : Result.refused("invalid bearer token");
    }

    /** A caller, or the reason there is none. */
    public record Result(Optional<Caller> caller, String refusal) {
        static Result refused(String why) {
            return new Result(Optional.empty(), why);
        }
    }
}
