package io.dlsm.backend.volume;

import java.util.Map;

/** What a host connector (os-brick via the Cinder shim) needs to attach a volume. */
public record ConnectionInfo(String driverVolumeType, Map<String, Object> data) {
}
