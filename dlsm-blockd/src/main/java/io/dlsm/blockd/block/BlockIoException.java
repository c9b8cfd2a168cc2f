package io.dlsm.blockd.block;

import java.io.IOException;

/** A block operation failed; {@link #errno()} is what the requester is told. */
public class BlockIoException extends IOException {
    private final Errno errno;

    public BlockIoException(Errno errno, String message) {
        super(message);
        this.errno = errno;
    }

    public BlockIoException(Errno errno, String message, Throwable cause) {
        super(message, cause);
        this.errno = errno;
    }

    public Errno errno() {
        return errno;
    }
}
