package io.dlsm.backend.node;

/** Liveness as the backend sees it: DOWN after three missed heartbeats. */
public enum NodeState {
    UP,
    DOWN
}
