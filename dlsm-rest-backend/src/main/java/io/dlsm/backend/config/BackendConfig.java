package io.dlsm.backend.config;

import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * Resolved configuration of one backend process.
 *
 * @param listen    API listen address
 * @param stateDir  directory holding the backend's persistent state
 * @param tokenFile file holding the API token; empty: {@code STATE_DIR/api-token}, made at first start
 * @param registrationTokenFile file holding the token nodes register with; empty:
 *                  {@code STATE_DIR/registration-token}, made at first start
 * @param insecureNoAuth the API answers everybody (the explicit opt-out; both files are then empty)
  * @param etcd      the shared etcd store; empty means the records live in files under
 *                  {@code stateDir} (one backend)
 */
public record BackendConfig(ListenAddress listen, Path stateDir, Optional<Path> tokenFile,
                            Optional<Path> registrationTokenFile, boolean insecureNoAuth,
                            Optional<EtcdOptions> etcd) {

    /** Loopback by default: an API that can move volumes must be exposed on purpose. */
    public static final ListenAddress DEFAULT_LISTEN = new ListenAddress("127.0.0.1", 7800);

    public BackendConfig {
        Objects.requireNonNull(listen, "listen");
        Objects.requireNonNull(stateDir, "stateDir");
        Objects.requireNonNull(tokenFile, "tokenFile");
        Objects.requireNonNull(registrationTokenFile, "registrationTokenFile");
        if (insecureNoAuth && (tokenFile.isPresent() || registrationTokenFile.isPresent())) {
            throw new IllegalArgumentException("insecure-no-auth contradicts token-file and registration-token-file");
        }
        Objects.requireNonNull(etcd, "etcd");
    }

    /** With the records in files under {@code stateDir}. */
    public BackendConfig(ListenAddress listen, Path stateDir, Optional<Path> tokenFile,
                         Optional<Path> registrationTokenFile, boolean insecureNoAuth) {
        this(listen, stateDir, tokenFile, registrationTokenFile, insecureNoAuth, Optional.empty());
    }

    public BackendConfig(ListenAddress listen, Path stateDir, Optional<Path> tokenFile) {
        this(listen, stateDir, tokenFile, Optional.empty(), false);
    }
}
