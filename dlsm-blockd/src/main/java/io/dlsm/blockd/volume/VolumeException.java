package io.dlsm.blockd.volume;

import java.util.Map;

/**
 * A control operation on volumes was refused. The kind decides the HTTP status at the API
 * edge; the message says what to do about it.
 */
public class VolumeException extends RuntimeException {
    public enum Kind { INVALID, NOT_FOUND, ALREADY_EXISTS, CONFLICT, STORAGE }

    private final Kind kind;
    private final Map<String, Object> details;

    public VolumeException(Kind kind, String message, Map<String, Object> details) {
        super(message);
        this.kind = kind;
        this.details = Map.copyOf(details);
    }

    public VolumeException(Kind kind, String message, Map<String, Object> details, Throwable cause) {
        super(message, cause);
        this.kind = kind;
        this.details = Map.copyOf(details);
    }

    public static VolumeException invalid(String field, String message) {
        return new VolumeException(Kind.INVALID, message, Map.of("field", field));
    }

    public static VolumeException notFound(String name) {
        return new VolumeException(Kind.NOT_FOUND, "no volume named '" + name + "' on this node",
                Map.of("volume", name));
    }

    public Kind kind() {
        return kind;
    }

    public Map<String, Object> details() {
        return details;
    }
}
