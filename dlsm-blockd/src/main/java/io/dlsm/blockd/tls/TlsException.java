package io.dlsm.blockd.tls;

import java.io.IOException;

/**
 * TLS could not be set up: unreadable or mismatched certificate files at start, or a peer
 * that failed the handshake (no certificate, an unknown CA, a subject not allowed, a name
 * that does not match). The message says which file or which peer.
 */
public final class TlsException extends IOException {
    public TlsException(String message) {
        super(message);
    }

    public TlsException(String message, Throwable cause) {
        super(message, cause);
    }
}
