package io.dlsm.blockd.dm;

import java.util.Optional;

/** blockd's {@code --kernel-path}: whether and how this node presents volumes through device-mapper. */
public enum KernelPathSetting {
    /** The default: user space only, nothing touches device-mapper or nbd devices. */
    OFF,
    /** The best mode this node's kernel allows. */
    AUTO,
    LINEAR_OVER_NBD,
    DM_CLONE;

    /**
     * The mode to use on a node with {@code caps}; empty when an explicitly requested mode is
     * not available (blockd then refuses to start rather than silently run another mode).
     */
    public Optional<KernelPathMode> resolve(NodeCapabilities caps) {
        return switch (this) {
            case OFF -> Optional.of(KernelPathMode.USER_SPACE_ONLY);
            case AUTO -> Optional.of(caps.bestMode());
            case LINEAR_OVER_NBD -> KernelPathMode.LINEAR_OVER_NBD.supportedBy(caps)
                    ? Optional.of(KernelPathMode.LINEAR_OVER_NBD) : Optional.empty();
            case DM_CLONE -> KernelPathMode.DM_CLONE.supportedBy(caps)
                    ? Optional.of(KernelPathMode.DM_CLONE) : Optional.empty();
        };
    }
}
