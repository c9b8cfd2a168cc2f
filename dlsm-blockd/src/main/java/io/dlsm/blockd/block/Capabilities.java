package io.dlsm.blockd.block;

/**
 * What a block device can do. NBD export flags are computed from this, so a client is only
 * offered what the store really implements.
 */
public record Capabilities(
        boolean readOnly,
        boolean flush,
        boolean fua,
        boolean trim,
        boolean writeZeroes,
        boolean fastZero,
        boolean blockStatus,
        boolean multiConn) {

    public Capabilities withReadOnly(boolean ro) {
        return new Capabilities(ro, flush, fua, trim, writeZeroes, fastZero, blockStatus, multiConn);
    }
}
