package io.dlsm.blockd.dm;

import java.util.Map;

/** Why a volume's kernel device could not be created or removed; the API maps {@link Kind} to a status. */
public final class KernelDeviceException extends RuntimeException {
    public enum Kind {
        /** No volume or sink of that name on this node. */
        NOT_FOUND,
        /** The kernel path is off, the sink is in a phase that has no device, or no device is free. */
        CONFLICT,
        /** A dmsetup/nbd-client/losetup step failed; what was started has been torn down. */
        FAILED
    }

    private final Kind kind;
    private final String volume;

    public KernelDeviceException(Kind kind, String volume, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
        this.volume = volume;
    }

    public KernelDeviceException(Kind kind, String volume, String message) {
        this(kind, volume, message, null);
    }

    public Kind kind() {
        return kind;
    }

    public Map<String, Object> details() {
        return Map.of("volume", volume);
    }
}
