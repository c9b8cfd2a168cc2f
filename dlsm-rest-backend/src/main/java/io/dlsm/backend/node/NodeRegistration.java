package io.dlsm.backend.node;

/** Body of {@code POST /v1/nodes}: what a blockd says about itself when it (re-)registers. */
public record NodeRegistration(String name, String apiUrl, String nbdHost, Integer nbdPort,
                               Capabilities capabilities, Long capacityBytes, Long freeBytes) {
}
