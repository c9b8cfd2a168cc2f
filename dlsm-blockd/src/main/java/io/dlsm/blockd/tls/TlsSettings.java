package io.dlsm.blockd.tls;

import java.nio.file.Path;
import java.util.List;

/**
 * The TLS options blockd was started with: this node's certificate chain and private key
 * (PEM), the CA certificates that peers' certificates must chain to (PEM), the server's mode,
 * and the client certificate subjects the NBD server accepts (empty = any certificate the CA
 * signed).
 */
public record TlsSettings(Path certificate, Path privateKey, Path ca, TlsMode mode, List<String> allowedSubjects) {
    public TlsSettings {
        allowedSubjects = List.copyOf(allowedSubjects);
    }
}
