package io.dlsm.backend.node;

/** What a node can present to its hypervisor; user-space NBD works everywhere. */
public record Capabilities(Boolean deviceMapper, Boolean dmClone, Boolean nbd) {

    public static final Capabilities NBD_ONLY = new Capabilities(false, false, true);

    public Capabilities {
        deviceMapper = Boolean.TRUE.equals(deviceMapper);
        dmClone = Boolean.TRUE.equals(dmClone);
        nbd = nbd == null || nbd;
    }
}
