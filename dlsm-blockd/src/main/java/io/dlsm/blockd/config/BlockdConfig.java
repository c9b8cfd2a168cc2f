package io.dlsm.blockd.config;

import io.dlsm.blockd.dm.KernelPathSetting;
import java.nio.file.Path;
import java.util.Optional;

/** Everything blockd is started with. */
public record BlockdConfig(Path dataDir, HostPort nbdListen, HostPort apiListen, int ioThreads,
                           int maxConnections, Optional<Path> tokenFile, java.time.Duration sourceRetryDeadline,
                           KernelPathSetting kernelPath) {

    /** The kernel path off: what every node gets unless it asks for device-mapper. */
    public BlockdConfig(Path dataDir, HostPort nbdListen, HostPort apiListen, int ioThreads, int maxConnections,
                        Optional<Path> tokenFile, java.time.Duration sourceRetryDeadline) {
        this(dataDir, nbdListen, apiListen, ioThreads, maxConnections, tokenFile, sourceRetryDeadline,
                KernelPathSetting.OFF);
    }
}
