package io.dlsm.backend.node;

/**
 * Body of {@code POST /v1/nodes/{name}/events}: something a blockd pushes because the backend
 * would otherwise learn it only at its next poll.
 */
public record NodeEvent(Type type, String volume) {
    public enum Type {
        /** The volume fenced itself on this node: its last writer (the VM) left during a migration. */
        VOLUME_FENCED
    }
}
