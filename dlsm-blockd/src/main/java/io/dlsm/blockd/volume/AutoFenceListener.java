package io.dlsm.blockd.volume;

/**
 * Told when a volume fenced itself because its last writer left while a migration was
 * prepared: the VM has moved to the target node, whose sink proxies every request over the
 * network until someone activates it. Whoever orchestrates the switch wants to hear this at
 * once rather than find it at its next poll.
 */
@FunctionalInterface
public interface AutoFenceListener {
    AutoFenceListener NONE = volume -> { };

    /** Called after the fence is durable, on the thread whose disconnect fired it; must not block. */
    void fencedAutomatically(String volume);
}
