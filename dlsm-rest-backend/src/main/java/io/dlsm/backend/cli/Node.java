package io.dlsm.backend.cli;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.util.Map;

/** A blockd node as the backend reports it ({@code GET /v1/nodes}). */
@JsonIgnoreProperties(ignoreUnknown = true)
public record Node(
        String name,
        String apiUrl,
        String nbdHost,
        int nbdPort,
        String state,
        String lastHeartbeat,
        Long capacityBytes,
        Long freeBytes,
        Map<String, Boolean> capabilities,
        String nodeAuth,
        String backendAuth) {

    /** Where NBD clients connect, bracketing IPv6 literals so the port stays unambiguous. */
    public String nbdAddress() {
        String host = nbdHost != null && nbdHost.contains(":") ? "[" + nbdHost + "]" : nbdHost;
        return host + ":" + nbdPort;
    }
}
