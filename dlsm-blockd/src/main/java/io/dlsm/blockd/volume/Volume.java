package io.dlsm.blockd.volume;

import java.time.Instant;

/** A volume as the control API shows it. */
public record Volume(String name, long sizeBytes, long allocatedBytes, boolean readOnly,
                     int connections, String exportName, Instant createdAt) {
}
