package io.dlsm.blockd.config;

import io.dlsm.blockd.dm.KernelPathSetting;
import io.dlsm.blockd.nbd.server.NbdLimits;
import io.dlsm.blockd.tls.TlsSettings;
import java.net.URI;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Everything blockd is started with.
 *
 * @param tokenFile the control API's bearer token; empty: {@code DATA_DIR/api-token}, made at first start
 * @param insecureNoAuth the control API answers everybody (an explicit opt-out; tokenFile is then empty)
 * @param tls NBD over TLS (x509, mutual) for the server and for a sink's link to its source; empty: plain NBD
 */
public record BlockdConfig(Path dataDir, HostPort nbdListen, HostPort apiListen, int ioThreads,
                           int maxConnections, Optional<Path> tokenFile, java.time.Duration sourceRetryDeadline,
                           Optional<Registration> registration, KernelPathSetting kernelPath, NbdLimits nbdLimits,
                           boolean insecureNoAuth, Optional<TlsSettings> tls) {

    /** Requiring a token (from {@code tokenFile} or the generated one), without TLS. */
    public BlockdConfig(Path dataDir, HostPort nbdListen, HostPort apiListen, int ioThreads, int maxConnections,
                        Optional<Path> tokenFile, java.time.Duration sourceRetryDeadline,
                        Optional<Registration> registration, KernelPathSetting kernelPath, NbdLimits nbdLimits) {
        this(dataDir, nbdListen, apiListen, ioThreads, maxConnections, tokenFile, sourceRetryDeadline, registration,
                kernelPath, nbdLimits, false, Optional.empty());
    }

    /** Without TLS. */
    public BlockdConfig(Path dataDir, HostPort nbdListen, HostPort apiListen, int ioThreads, int maxConnections,
                        Optional<Path> tokenFile, java.time.Duration sourceRetryDeadline,
                        Optional<Registration> registration, KernelPathSetting kernelPath, NbdLimits nbdLimits,
                        boolean insecureNoAuth) {
        this(dataDir, nbdListen, apiListen, ioThreads, maxConnections, tokenFile, sourceRetryDeadline, registration,
                kernelPath, nbdLimits, insecureNoAuth, Optional.empty());
    }

    /** Requiring a token (from {@code tokenFile} or the generated one). */
    public BlockdConfig(Path dataDir, HostPort nbdListen, HostPort apiListen, int ioThreads, int maxConnections,
                        Optional<Path> tokenFile, java.time.Duration sourceRetryDeadline,
                        Optional<Registration> registration, KernelPathSetting kernelPath, NbdLimits nbdLimits,
                        Optional<TlsSettings> tls) {
        this(dataDir, nbdListen, apiListen, ioThreads, maxConnections, tokenFile, sourceRetryDeadline, registration,
                kernelPath, nbdLimits, false, tls);
    }

    /** With the NBD server's default limits. */
    public BlockdConfig(Path dataDir, HostPort nbdListen, HostPort apiListen, int ioThreads, int maxConnections,
                        Optional<Path> tokenFile, java.time.Duration sourceRetryDeadline,
                        Optional<Registration> registration, KernelPathSetting kernelPath) {
        this(dataDir, nbdListen, apiListen, ioThreads, maxConnections, tokenFile, sourceRetryDeadline, registration,
                kernelPath, NbdLimits.DEFAULTS);
    }

    /**
     * Self-registration with the REST backend: where, under which node name, and the file with
     * the backend's registration token (needed for the first registration only; later ones
     * use the credential this node keeps in {@code DATA_DIR/backend-credential}).
     */
    public record Registration(URI backendUrl, String nodeName, Optional<Path> tokenFile) {
    }

    /** A standalone node (no registration) without the kernel path: tests and local use. */
    public BlockdConfig(Path dataDir, HostPort nbdListen, HostPort apiListen, int ioThreads, int maxConnections,
                        Optional<Path> tokenFile, java.time.Duration sourceRetryDeadline) {
        this(dataDir, nbdListen, apiListen, ioThreads, maxConnections, tokenFile, sourceRetryDeadline,
                Optional.empty(), KernelPathSetting.OFF);
    }
}
