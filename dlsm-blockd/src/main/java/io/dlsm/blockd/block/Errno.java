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
    EOVERFLOW,
    ENOTSUP,
    ESHUTDOWN
}
