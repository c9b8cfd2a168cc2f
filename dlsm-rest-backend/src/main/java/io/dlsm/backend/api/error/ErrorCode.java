package io.dlsm.backend.api.error;

/**
 * Stable machine-readable error codes. Clients (the Cinder shim) branch on these, never on
 * messages, so a wire value must not change once released; add new constants instead.
 */
public enum ErrorCode {
    BAD_REQUEST("bad_request"),
    INVALID_JSON("invalid_json"),
    UNAUTHORIZED("unauthorized"),
    FORBIDDEN("forbidden"),
    NOT_FOUND("not_found"),
    METHOD_NOT_ALLOWED("method_not_allowed"),
    NOT_ACCEPTABLE("not_acceptable"),
    UNSUPPORTED_MEDIA_TYPE("unsupported_media_type"),
    CLIENT_ERROR("client_error"),
    CONFLICT("conflict"),
    /** A blockd node failed or could not be reached (HTTP 502). */
    NODE_FAILED("node_failed"),
    /** The shared state store (etcd) did not confirm a change; retry later (HTTP 503). */
    STORE_UNAVAILABLE("store_unavailable"),
    SERVER_ERROR("server_error"),
    INTERNAL_ERROR("internal_error");

    private final String wire;

    ErrorCode(String wire) {
        this.wire = wire;
    }

    public String wire() {
        return wire;
    }

    /** The code for a status that reached us without a more specific one. */
    public static ErrorCode forStatus(int status) {
        return switch (status) {
            case 400 -> BAD_REQUEST;
            case 401 -> UNAUTHORIZED;
            case 403 -> FORBIDDEN;
            case 404 -> NOT_FOUND;
            case 405 -> METHOD_NOT_ALLOWED;
            case 406 -> NOT_ACCEPTABLE;
            case 409 -> CONFLICT;
            case 415 -> UNSUPPORTED_MEDIA_TYPE;
            default -> status >= 500 ? SERVER_ERROR : CLIENT_ERROR;
        };
    }
}
