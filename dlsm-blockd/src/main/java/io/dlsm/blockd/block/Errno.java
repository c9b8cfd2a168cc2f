package io.dlsm.blockd.block;

/**
 * The error numbers a block operation can fail with. The NBD protocol carries exactly these
 * (its values are Linux's); {@code io.dlsm.blockd.nbd.NbdErrors#toWire} is the one place that
 * turns them into wire values.
 */
public enum Errno {
    EPERM,
    EIO,
    ENOMEM,
    EINVAL,
    ENOSPC,
    /** A quota is exhausted: NBD has no such value, so the peer is told ENOSPC. */
    EDQUOT,
    EOVERFLOW,
    ENOTSUP,
    ESHUTDOWN
}
