package io.dlsm.blockd.dm;

import java.util.List;

/**
 * What this node's kernel offers the kernel path. {@code notes} say why something is missing,
 * so an operator looking at USER_SPACE_ONLY knows what to load or install.
 */
public record NodeCapabilities(boolean deviceMapper, boolean dmClone, boolean nbd, List<String> freeNbdDevices,
                               List<String> notes) {
    public NodeCapabilities {
        freeNbdDevices = List.copyOf(freeNbdDevices);
        notes = List.copyOf(notes);
    }

    /** The best mode these capabilities allow. */
    public KernelPathMode bestMode() {
        return KernelPathMode.choose(this);
    }
}
