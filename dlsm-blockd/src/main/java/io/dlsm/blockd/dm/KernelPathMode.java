package io.dlsm.blockd.dm;

/** How a node presents a migrating volume to its hypervisor (docs/kernel-path.md). */
public enum KernelPathMode {
    /** dm-clone copies in the kernel: linear(nbd→source) → clone → linear(local). */
    DM_CLONE,
    /** blockd's sink copies; the kernel sees linear over a local nbd device, then linear(local). */
    LINEAR_OVER_NBD,
    /** No device-mapper path: the hypervisor attaches blockd's NBD export directly. */
    USER_SPACE_ONLY;

    /** Every kernel mode needs device-mapper and at least one free nbd device. */
    public static KernelPathMode choose(NodeCapabilities c) {
        if (!c.deviceMapper() || !c.nbd() || c.freeNbdDevices().isEmpty()) {
            return USER_SPACE_ONLY;
        }
        return c.dmClone() ? DM_CLONE : LINEAR_OVER_NBD;
    }

    /** Whether {@code c} supports this mode. */
    public boolean supportedBy(NodeCapabilities c) {
        return switch (this) {
            case USER_SPACE_ONLY -> true;
            case LINEAR_OVER_NBD -> choose(c) != USER_SPACE_ONLY;
            case DM_CLONE -> choose(c) == DM_CLONE;
        };
    }
}
