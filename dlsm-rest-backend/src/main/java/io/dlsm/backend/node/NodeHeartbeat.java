package io.dlsm.backend.node;

/**
 * Optional body of {@code POST /v1/nodes/{name}/heartbeat}: the capacity and free bytes of the
 * file system under the node's data directory, so pools follow the space as volumes grow.
 */
public record NodeHeartbeat(Long capacityBytes, Long freeBytes) {
}
