package io.dlsm.blockd.nbd;

import io.dlsm.blockd.block.Errno;

/** The one mapping between internal errnos and NBD wire error values. */
public final class NbdErrors {
    private NbdErrors() {
    }

    public static int toWire(Errno errno) {
        return switch (errno) {
            case EPERM -> 1;
            case EIO -> 5;
            case ENOMEM -> 12;
            case EINVAL -> 22;
            // QEMU pauses a guest on ENOSPC (werror=enospc) and resumes it once space is
            // freed, while EIO is a guest I/O error: a full quota is the same condition.
            case ENOSPC, EDQUOT -> 28;
            case EOVERFLOW -> 75;
            case ENOTSUP -> 95;
            case ESHUTDOWN -> 108;
        };
    }

    /** A peer's wire error; unknown values are treated as EIO, as the spec asks. */
    public static Errno fromWire(int value) {
        return switch (value) {
            case 1 -> Errno.EPERM;
            case 12 -> Errno.ENOMEM;
            case 22 -> Errno.EINVAL;
            case 28 -> Errno.ENOSPC;
            case 75 -> Errno.EOVERFLOW;
            case 95 -> Errno.ENOTSUP;
            case 108 -> Errno.ESHUTDOWN;
            default -> Errno.EIO;
        };
    }
}
