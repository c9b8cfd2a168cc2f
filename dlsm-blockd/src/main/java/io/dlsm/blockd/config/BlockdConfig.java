package io.dlsm.blockd.config;

import io.dlsm.blockd.dm.KernelPathSetting;
import io.dlsm.blockd.nbd.server.NbdLimits;
import io.dlsm.blockd.tls.TlsSettings;
import java.net.URI;
import java.nio.file.Path;
import java.util.Optional;

/** Everything blockd is started with. */
public record BlockdConfig(Path dataDir, HostPort nbdListen, HostPort apiListen, int ioThreads,
                           int maxConnections, Optional<Path> tokenFile, java.time.Duration sourceRetryDeadline,
                           Optional<Registration> registration, KernelPathSetting kernelPath, NbdLimits nbdLimits,
                           Optional<TlsSettings> tls) {

    /** Without TLS. */
    public BlockdConfig(Path dataDir, HostPort nbdListen, HostPort apiListen, int ioThreads, int maxConnections,
                        Optional<Path> tokenFile, java.time.Duration sourceRetryDeadline,
                        Optional<Registration> registration, KernelPathSetting kernelPath, NbdLimits nbdLimits) {
        this(dataDir, nbdListen, apiListen, ioThreads, maxConnections, tokenFile, sourceRetryDeadline, registration,
                kernelPath, nbdLimits, Optional.empty());
    }

    /** With the NBD server's default limits. */
    public BlockdConfig(Path dataDir, HostPort nbdListen, HostPort apiListen, int ioThreads, int maxConnections,
                        Optional<Path> tokenFile, java.time.Duration sourceRetryDeadline,
                        Optional<Registration> registration, KernelPathSetting kernelPath) {
        this(dataDir, nbdListen, apiListen, ioThreads, maxConnections, tokenFile, sourceRetryDeadline, registration,
                kernelPath, NbdLimits.DEFAULTS);
    }

    /** Self-registration with the REST backend: where, under which node name, with which token. */
    public record Registration(URI backendUrl, String nodeName, Optional<Path> tokenFile) {
    }

    /** A standalone node (no registration) without the kernel path: tests and local use. */
    public BlockdConfig(Path dataDir, HostPort nbdListen, HostPort apiListen, int ioThreads, int maxConnections,
                        Optional<Path> tokenFile, java.time.Duration sourceRetryDeadline) {
        this(dataDir, nbdListen, apiListen, ioThreads, maxConnections, tokenFile, sourceRetryDeadline,
                Optional.empty(), KernelPathSetting.OFF);
    }
}
