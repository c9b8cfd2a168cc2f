package io.dlsm.backend.node;

import java.time.Instant;

/**
 * A registered blockd node. {@code apiUrl} and the NBD address change when blockd restarts
 * on ephemeral ports, so everything else refers to a node by name and resolves the address
 * at call time. {@code nodeAuth}/{@code backendAuth} say how the node proved itself and how
 * the backend authenticates to it; the secrets themselves live in {@link NodeKeys}, never here.
 */
public record Node(String name, String apiUrl, String nbdHost, int nbdPort, NodeState state,
                   Instant lastHeartbeat, Long capacityBytes, Long freeBytes, Capabilities capabilities,
                   NodeAuth nodeAuth, BackendAuth backendAuth) {

    public Node withState(NodeState newState) {
        return new Node(name, apiUrl, nbdHost, nbdPort, newState, lastHeartbeat, capacityBytes, freeBytes,
                capabilities, nodeAuth, backendAuth);
    }

    /** The node's data directory's file system as its latest heartbeat reported it. */
    public Node withSpace(Long capacity, Long free) {
        return new Node(name, apiUrl, nbdHost, nbdPort, state, lastHeartbeat, capacity, free, capabilities,
                nodeAuth, backendAuth);
    }

    public Node heartbeatAt(Instant when) {
        return new Node(name, apiUrl, nbdHost, nbdPort, NodeState.UP, when, capacityBytes, freeBytes, capabilities,
                nodeAuth, backendAuth);
    }
}
