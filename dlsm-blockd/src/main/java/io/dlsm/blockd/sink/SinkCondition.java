package io.dlsm.blockd.sink;

/**
 * Why a hydrating sink is not making progress, beside its phase: the operator's fix differs
 * (bring the source back or repoint the sink, or free space on this node), so the reasons do.
 */
public enum SinkCondition {
    /** Nothing is in the way. */
    OK,
    /** The source stayed unreachable past the retry deadline (the sink is DEGRADED). */
    SOURCE_UNREACHABLE,
    /**
     * This node's file system (or quota) is full: hydration is paused and guest writes and
     * first reads fail with ENOSPC until space is freed; then it resumes by itself.
     */
    NO_SPACE
}
