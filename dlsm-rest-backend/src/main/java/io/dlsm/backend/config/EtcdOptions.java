package io.dlsm.backend.config;

import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Where the shared state lives when several backends run: an etcd cluster (its v3 API).
 *
 * @param endpoints    client URLs of the cluster's members ({@code http://} or {@code https://})
 * @param prefix       key prefix of this DLSM installation, e.g. {@code /dlsm}
 * @param ca           PEM CA bundle that signed the members' certificates (TLS)
 * @param cert         PEM client certificate, for clusters with {@code --client-cert-auth}
 * @param key          PEM (PKCS#8) private key of {@code cert}
 * @param user         etcd user name, for clusters with authentication enabled
 * @param passwordFile file holding that user's password (never on the command line)
 */
public record EtcdOptions(List<URI> endpoints, String prefix, Optional<Path> ca, Optional<Path> cert,
                          Optional<Path> key, Optional<String> user, Optional<Path> passwordFile) {

    public static final String DEFAULT_PREFIX = "/dlsm";

    public EtcdOptions {
        endpoints = List.copyOf(endpoints);
        Objects.requireNonNull(prefix, "prefix");
        Objects.requireNonNull(ca, "ca");
        Objects.requireNonNull(cert, "cert");
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(passwordFile, "passwordFile");
        if (endpoints.isEmpty()) {
            throw new IllegalArgumentException("at least one etcd endpoint is required");
        }
    }

    /** TLS is on when any endpoint is {@code https} or a CA is given; then all must be https. */
    public boolean tls() {
        return ca.isPresent() || endpoints.stream().anyMatch(u -> "https".equals(u.getScheme()));
    }

    /** The URLs as the operator wrote them, for logs and errors. */
    public String describe() {
        return String.join(",", endpoints.stream().map(URI::toString).toList()) + " (prefix " + prefix + ")";
    }
}
