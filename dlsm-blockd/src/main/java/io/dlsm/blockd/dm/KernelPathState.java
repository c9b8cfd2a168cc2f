package io.dlsm.blockd.dm;

import java.util.EnumSet;
import java.util.Set;

/**
 * Where a volume's kernel device is. Both modes start the same way (nbd connected, then a
 * linear proxy table over it) and end the same way (linear over the local device, nbd gone);
 * only dm-clone has the HYDRATING step in between, where the kernel copies. A LOCAL device on
 * the volume's own file is fenced with the volume when it migrates away from this node.
 */
public enum KernelPathState {
    /** Recorded, nothing set up yet. */
    PLANNED,
    /** /dev/nbdN is attached to the export. */
    NBD_CONNECTED,
    /** /dev/mapper/dlsm-VOL exists: linear over /dev/nbdN. The device handed to the hypervisor. */
    PROXY,
    /** dm-clone table live, the kernel hydrates the local device (DM_CLONE only). */
    HYDRATING,
    /** linear over the local device; nbd disconnected: no user-space hop, no network. */
    LOCAL,
    /**
     * The volume was fenced (it is migrating away and its VM has left): the table is
     * {@code error}, so nothing can write the file the migration's sink reads behind the
     * write gate's back. Unfencing loads the linear table again.
     */
    FENCED,
    /** Torn down; the state file is deleted once this is reached. */
    REMOVED;

    private Set<KernelPathState> next(KernelPathMode mode) {
        return switch (this) {
            case PLANNED -> EnumSet.of(NBD_CONNECTED, REMOVED);
            case NBD_CONNECTED -> EnumSet.of(PROXY, REMOVED);
            case PROXY -> mode == KernelPathMode.DM_CLONE ? EnumSet.of(HYDRATING, REMOVED) : EnumSet.of(LOCAL, REMOVED);
            case HYDRATING -> EnumSet.of(LOCAL, REMOVED);
            case LOCAL -> EnumSet.of(FENCED, REMOVED);
            case FENCED -> EnumSet.of(LOCAL, REMOVED);
            case REMOVED -> EnumSet.noneOf(KernelPathState.class);
        };
    }

    public boolean canMoveTo(KernelPathState target, KernelPathMode mode) {
        return next(mode).contains(target);
    }
}
