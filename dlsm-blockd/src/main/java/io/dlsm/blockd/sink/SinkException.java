package io.dlsm.blockd.sink;

import java.util.Map;

/** A sink control operation was refused; the kind picks the HTTP status at the API edge. */
public class SinkException extends RuntimeException {
    public enum Kind { INVALID, NOT_FOUND, CONFLICT, SOURCE_UNAVAILABLE, STORAGE }

    private final Kind kind;
    private final Map<String, Object> details;

    public SinkException(Kind kind, String message, Map<String, Object> details) {
        super(message);
        this.kind = kind;
        this.details = Map.copyOf(details);
    }

    public SinkException(Kind kind, String message, Map<String, Object> details, Throwable cause) {
        super(message, cause);
        this.kind = kind;
        this.details = Map.copyOf(details);
    }

    public Kind kind() {
        return kind;
    }

    public Map<String, Object> details() {
        return details;
    }
}
