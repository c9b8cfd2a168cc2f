package io.dlsm.blockd.config;

import java.nio.file.Path;
import java.util.Optional;

/** Everything blockd is started with. */
public record BlockdConfig(Path dataDir, HostPort nbdListen, HostPort apiListen, int ioThreads,
                           int maxConnections, Optional<Path> tokenFile, java.time.Duration sourceRetryDeadline) {
}
