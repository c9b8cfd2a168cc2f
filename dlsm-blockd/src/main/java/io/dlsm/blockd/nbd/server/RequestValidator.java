package io.dlsm.blockd.nbd.server;

import static io.dlsm.blockd.nbd.Nbd.*;

import io.dlsm.blockd.block.Capabilities;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.nbd.Request;
import java.util.Optional;

/**
 * Decides, without touching any state, whether a request may be executed, and if not which
 * errno the client gets. The connection calls this before allocating or executing anything.
 */
public final class RequestValidator {
    private RequestValidator() {
    }

    /** The facts about the export and session that validity depends on. */
    public record ExportView(long size, Capabilities capabilities, boolean structuredReplies,
                             boolean blockStatusNegotiated) {
    }

    public static Optional<Errno> validate(Request r, ExportView e) {
        // FUA is valid on every command once NBD_FLAG_SEND_FUA was offered: the spec says the
        // server MUST accept it anywhere, since existing clients (qemu) set it on FLUSH.
        int allowed = NBD_CMD_FLAG_FUA | switch (r.type()) {
            case NBD_CMD_READ -> e.structuredReplies() ? NBD_CMD_FLAG_DF : 0;
            case NBD_CMD_WRITE, NBD_CMD_TRIM -> 0;
            case NBD_CMD_WRITE_ZEROES -> NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
            case NBD_CMD_BLOCK_STATUS -> NBD_CMD_FLAG_REQ_ONE;
            case NBD_CMD_FLUSH, NBD_CMD_DISC -> 0;
            default -> -1;
        };
        if (allowed < 0) {
            return Optional.of(Errno.EINVAL);
        }
        if ((r.flags() & ~allowed) != 0) {
            return Optional.of(Errno.EINVAL);
        }
        Capabilities c = e.capabilities();
        if (r.hasFlag(NBD_CMD_FLAG_FUA) && !c.fua()) {
            return Optional.of(Errno.EINVAL);
        }
        boolean mutating = r.type() == NBD_CMD_WRITE || r.type() == NBD_CMD_TRIM
                || r.type() == NBD_CMD_WRITE_ZEROES;
        if (r.type() == NBD_CMD_READ || r.type() == NBD_CMD_WRITE) {
            if (r.length() > MAX_PAYLOAD) {
                return Optional.of(e.structuredReplies() ? Errno.EOVERFLOW : Errno.EINVAL);
            }
        }
        if (mutating && c.readOnly()) {
            return Optional.of(Errno.EPERM);
        }
        switch (r.type()) {
            case NBD_CMD_TRIM -> {
                if (!c.trim()) {
                    return Optional.of(Errno.EINVAL);
                }
            }
            case NBD_CMD_WRITE_ZEROES -> {
                if (!c.writeZeroes() || (r.hasFlag(NBD_CMD_FLAG_FAST_ZERO) && !c.fastZero())) {
                    return Optional.of(Errno.EINVAL);
                }
            }
            case NBD_CMD_FLUSH -> {
                return c.flush() ? Optional.empty() : Optional.of(Errno.EINVAL);
            }
            case NBD_CMD_DISC -> {
                return Optional.empty();
            }
            case NBD_CMD_BLOCK_STATUS -> {
                if (!e.blockStatusNegotiated() || r.length() == 0) {
                    return Optional.of(Errno.EINVAL);
                }
            }
            default -> {
            }
        }
        // Offsets are unsigned on the wire: a "negative" one is past any end.
        long end = r.offset() + r.length();
        if (r.offset() < 0 || end < r.offset() || end > e.size()) {
            return Optional.of(mutating ? Errno.ENOSPC : Errno.EINVAL);
        }
        return Optional.empty();
    }
}
