package io.dlsm.blockd.dm;

import java.util.function.Supplier;

/** What the control plane needs to choose a presentation per node: capabilities and the mode in force. */
public final class NodeKernel {
    /** The capabilities endpoint's answer. {@code mode} is null when the setting cannot be honoured. */
    public record Report(NodeCapabilities capabilities, KernelPathMode bestMode, KernelPathSetting setting,
                         KernelPathMode mode) {
    }

    private final Supplier<NodeCapabilities> probe;
    private final KernelPathSetting setting;

    /** @param probe asked on every call: free nbd devices change as volumes come and go */
    public NodeKernel(Supplier<NodeCapabilities> probe, KernelPathSetting setting) {
        this.probe = probe;
        this.setting = setting;
    }

    public KernelPathSetting setting() {
        return setting;
    }

    public Report report() {
        NodeCapabilities c = probe.get();
        return new Report(c, c.bestMode(), setting, setting.resolve(c).orElse(null));
    }
}
