package io.dlsm.backend.config;

import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * Resolved configuration of one backend process.
 *
 * @param listen    API listen address
 * @param stateDir  directory holding the backend's persistent state
 * @param tokenFile file holding the static bearer token; empty means the API is open
 * @param nodeTokenFile file holding the token the backend presents to every blockd; empty
 *                  means the nodes' control APIs are called without one
 * @param etcd      the shared etcd store; empty means the records live in files under
 *                  {@code stateDir} (one backend)
 */
public record BackendConfig(ListenAddress listen, Path stateDir, Optional<Path> tokenFile,
                            Optional<Path> nodeTokenFile, Optional<EtcdOptions> etcd) {

    /** Loopback by default: an API that can move volumes must be exposed on purpose. */
    public static final ListenAddress DEFAULT_LISTEN = new ListenAddress("127.0.0.1", 7800);

    public BackendConfig {
        Objects.requireNonNull(listen, "listen");
        Objects.requireNonNull(stateDir, "stateDir");
        Objects.requireNonNull(tokenFile, "tokenFile");
        Objects.requireNonNull(nodeTokenFile, "nodeTokenFile");
        Objects.requireNonNull(etcd, "etcd");
    }

    public BackendConfig(ListenAddress listen, Path stateDir, Optional<Path> tokenFile,
                         Optional<Path> nodeTokenFile) {
        this(listen, stateDir, tokenFile, nodeTokenFile, Optional.empty());
    }

    public BackendConfig(ListenAddress listen, Path stateDir, Optional<Path> tokenFile) {
        this(listen, stateDir, tokenFile, Optional.empty());
    }
}
