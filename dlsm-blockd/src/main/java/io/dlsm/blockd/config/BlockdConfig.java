package io.dlsm.blockd.config;

import java.net.URI;
import java.nio.file.Path;
import java.util.Optional;

/** Everything blockd is started with. */
public record BlockdConfig(Path dataDir, HostPort nbdListen, HostPort apiListen, int ioThreads,
                           int maxConnections, Optional<Path> tokenFile, java.time.Duration sourceRetryDeadline,
                           Optional<Registration> registration) {

    /** Self-registration with the REST backend: where, under which node name, with which token. */
    public record Registration(URI backendUrl, String nodeName, Optional<Path> tokenFile) {
    }

    /** A node that does not register itself (standalone use, tests). */
    public BlockdConfig(Path dataDir, HostPort nbdListen, HostPort apiListen, int ioThreads, int maxConnections,
                        Optional<Path> tokenFile, java.time.Duration sourceRetryDeadline) {
        this(dataDir, nbdListen, apiListen, ioThreads, maxConnections, tokenFile, sourceRetryDeadline,
                Optional.empty());
    }
}
