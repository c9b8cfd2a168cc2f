package io.dlsm.backend.migration;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/** auto: switch as soon as the VM left the source (or at once if it has no writer); manual: on request. */
public enum SwitchMode {
    AUTO,
    MANUAL;

    @JsonValue
    public String wire() {
        return name().toLowerCase(Locale.ROOT);
    }

    @JsonCreator
    public static SwitchMode parse(String value) {
        for (SwitchMode m : values()) {
            if (m.wire().equals(value)) {
                return m;
            }
        }
        throw new IllegalArgumentException("switchMode must be \"auto\" or \"manual\", got \"" + value + "\"");
    }
}
