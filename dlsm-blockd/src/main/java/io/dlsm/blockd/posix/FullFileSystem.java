package io.dlsm.blockd.posix;

import com.sun.jna.LastErrorException;
import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Errno;
import java.io.IOException;
import java.util.Optional;

/**
 * Recognises a full file system or an exhausted quota in a failed file operation. The JDK's
 * file channels report errno only as strerror's text in the exception's message (glibc's
 * texts below, which the JDK uses verbatim); calls made through {@link LibC} carry the number.
 */
public final class FullFileSystem {
    private static final String ENOSPC_TEXT = "No space left on device";
    private static final String EDQUOT_TEXT = "Disk quota exceeded";

    private FullFileSystem() {
    }

    /** ENOSPC or EDQUOT if that is why {@code e} failed, looking through its causes. */
    public static Optional<Errno> errnoOf(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof BlockIoException b && (b.errno() == Errno.ENOSPC || b.errno() == Errno.EDQUOT)) {
                return Optional.of(b.errno());
            }
            if (t instanceof LastErrorException l) {
                if (l.getErrorCode() == LibC.ENOSPC) {
                    return Optional.of(Errno.ENOSPC);
                }
                if (l.getErrorCode() == LibC.EDQUOT) {
                    return Optional.of(Errno.EDQUOT);
                }
            }
            if (t instanceof IOException && t.getMessage() != null) {
                if (t.getMessage().contains(ENOSPC_TEXT)) {
                    return Optional.of(Errno.ENOSPC);
                }
                if (t.getMessage().contains(EDQUOT_TEXT)) {
                    return Optional.of(Errno.EDQUOT);
                }
            }
        }
        return Optional.empty();
    }

    /**
     * {@code e} as a {@link BlockIoException} with ENOSPC/EDQUOT and {@code message} when the
     * file system is full, else {@code e} itself.
     */
    public static IOException classify(IOException e, String message) {
        Optional<Errno> errno = errnoOf(e);
        return errno.isPresent() ? new BlockIoException(errno.get(), message, e) : e;
    }
}
