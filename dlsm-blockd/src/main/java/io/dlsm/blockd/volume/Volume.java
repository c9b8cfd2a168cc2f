package io.dlsm.blockd.volume;

import java.time.Instant;

/**
 * A volume as the control API shows it. {@code writers} counts ordinary NBD clients offered
 * write access and a kernel device writing the volume's file; {@code migrationExport} is the export a sink on another node reads from.
 */
public record Volume(String name, long sizeBytes, long allocatedBytes, boolean readOnly,
                     boolean fenced, int connections, int writers, String exportName,
                     String migrationExport, Instant createdAt) {
}
