package io.dlsm.blockd.nbd.client;

import io.dlsm.blockd.nbd.Nbd;
import java.io.IOException;

/**
 * The server refused an option during the handshake (an NBD_REP_ERR_* reply), for example
 * NBD_REP_ERR_UNKNOWN for an export it does not have. The connection is unusable afterwards.
 */
public class NbdOptionException extends IOException {
    private final int option;
    private final int replyType;

    public NbdOptionException(int option, int replyType, String message) {
        super(message);
        this.option = option;
        this.replyType = replyType;
    }

    public int option() {
        return option;
    }

    /** The NBD_REP_ERR_* value the server sent. */
    public int replyType() {
        return replyType;
    }

    static String replyName(int replyType) {
        return switch (replyType) {
            case Nbd.NBD_REP_ERR_UNSUP -> "NBD_REP_ERR_UNSUP";
            case Nbd.NBD_REP_ERR_POLICY -> "NBD_REP_ERR_POLICY";
            case Nbd.NBD_REP_ERR_INVALID -> "NBD_REP_ERR_INVALID";
            case Nbd.NBD_REP_ERR_PLATFORM -> "NBD_REP_ERR_PLATFORM";
            case Nbd.NBD_REP_ERR_TLS_REQD -> "NBD_REP_ERR_TLS_REQD";
            case Nbd.NBD_REP_ERR_UNKNOWN -> "NBD_REP_ERR_UNKNOWN";
            case Nbd.NBD_REP_ERR_SHUTDOWN -> "NBD_REP_ERR_SHUTDOWN";
            case Nbd.NBD_REP_ERR_BLOCK_SIZE_REQD -> "NBD_REP_ERR_BLOCK_SIZE_REQD";
            case Nbd.NBD_REP_ERR_TOO_BIG -> "NBD_REP_ERR_TOO_BIG";
            default -> String.format("NBD_REP_0x%08x", replyType);
        };
    }
}
