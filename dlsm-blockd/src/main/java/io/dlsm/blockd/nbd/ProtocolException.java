package io.dlsm.blockd.nbd;

import java.io.IOException;

/** The peer broke the framing of the protocol; the connection cannot continue. */
public class ProtocolException extends IOException {
    public ProtocolException(String message) {
        super(message);
    }
}
