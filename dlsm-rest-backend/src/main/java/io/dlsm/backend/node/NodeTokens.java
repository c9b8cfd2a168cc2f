package io.dlsm.backend.node;

import java.util.Optional;

/** The bearer token to present to a node's control API at the address it is known by. */
@FunctionalInterface
public interface NodeTokens {
    /** Empty when the node registered none, or when {@code node.apiUrl()} is not the URL it registered it for. */
    Optional<String> tokenFor(Node node);
}
