package io.dlsm.blockd.config;

import io.dlsm.blockd.dm.KernelPathSetting;
import io.dlsm.blockd.nbd.server.NbdLimits;
import io.dlsm.blockd.tls.TlsMode;
import io.dlsm.blockd.tls.TlsSettings;
import java.util.List;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.function.Function;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * blockd's command line. A config file ({@code --config FILE}, Java properties whose keys are
 * the long option names without dashes, e.g. {@code nbd-listen=0.0.0.0:10809}) supplies
 * defaults; flags on the command line win over it.
 */
@Command(name = "dlsm-blockd", mixinStandardHelpOptions = true, version = "dlsm-blockd 0.1.0",
        description = "DLSM node daemon: serves this node's volumes over NBD and runs migration sinks.",
        sortOptions = false)
public final class BlockdCommand implements Callable<Integer> {
    @Option(names = "--config", paramLabel = "FILE",
            description = "Properties file with defaults for every option below (key = option name without dashes).")
    Path config;

    @Option(names = "--data-dir", paramLabel = "DIR", defaultValue = "/var/lib/dlsm/blockd",
            description = "Where volumes and state live (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--nbd-listen", paramLabel = "HOST:PORT", defaultValue = "127.0.0.1:10809",
            description = "NBD server address; port 0 picks a free port (default: ${DEFAULT-VALUE}).")
    String nbdListen;

    @Option(names = "--api-listen", paramLabel = "HOST:PORT", defaultValue = "127.0.0.1:7810",
            description = "Control API address; port 0 picks a free port (default: ${DEFAULT-VALUE}).")
    String apiListen;

    @Option(names = "--io-threads", paramLabel = "N", defaultValue = "8",
            description = "Worker threads executing NBD requests (default: ${DEFAULT-VALUE}).")
    int ioThreads;

    @Option(names = "--max-connections", paramLabel = "N", defaultValue = "256",
            description = "NBD connections accepted at once (default: ${DEFAULT-VALUE}).")
    int maxConnections;

    @Option(names = "--nbd-handshake-timeout", paramLabel = "SECONDS", defaultValue = "10",
            description = "An NBD connection that has not chosen an export by then is closed, so silent "
                    + "connections cannot hold the --max-connections slots (default: ${DEFAULT-VALUE}).")
    int nbdHandshakeTimeoutSeconds;

    @Option(names = "--nbd-stall-timeout", paramLabel = "SECONDS", defaultValue = "120",
            description = "A request's data must arrive, and each reply must leave, within this time, or the NBD "
                    + "connection ends, so slow senders and readers cannot pin buffers; idle clients are never "
                    + "timed out (default: ${DEFAULT-VALUE}).")
    int nbdStallTimeoutSeconds;

    @Option(names = "--nbd-connection-buffer", paramLabel = "BYTES", defaultValue = "67108864",
            description = "Request and reply data one NBD connection may hold in memory; past it the server reads "
                    + "no more of that client's requests until it reads its replies; at least 33554432, the "
                    + "largest request (default: ${DEFAULT-VALUE}).")
    long nbdConnectionBufferBytes;

    @Option(names = "--nbd-buffer-budget", paramLabel = "BYTES", defaultValue = "536870912",
            description = "Request and reply buffers all NBD connections together may hold; a connection that "
                    + "would exceed it waits; at least --nbd-connection-buffer (default: ${DEFAULT-VALUE}).")
    long nbdBufferBudgetBytes;

    @Option(names = "--token-file", paramLabel = "FILE",
            description = "File holding the bearer token every control API call must carry (default: "
                    + "DATA_DIR/api-token, made with a random token at first start, mode 0600).")
    Path tokenFile;

    @Option(names = "--source-retry-deadline", paramLabel = "SECONDS", defaultValue = "60",
            description = "How long a sink retries an unreachable source before failing a read with EIO "
                    + "and reporting DEGRADED; a sink may set its own (default: ${DEFAULT-VALUE}).")
    int sourceRetryDeadlineSeconds;

    @Option(names = "--backend-url", paramLabel = "URL",
            description = "REST backend to register with and heartbeat to (needs --node-name).")
    String backendUrl;

    @Option(names = "--node-name", paramLabel = "NAME",
            description = "This node's name at the backend (needs --backend-url).")
    String nodeName;

    @Option(names = "--registration-token-file", paramLabel = "FILE",
            description = "File holding the backend's registration token (its STATE_DIR/registration-token), "
                    + "presented only at this node's first registration.")
    Path backendTokenFile;

    @Option(names = "--kernel-path", paramLabel = "MODE", defaultValue = "off",
            description = "Present volumes through device-mapper: off, auto (the best this kernel allows), "
                    + "linear_over_nbd or dm_clone (refuses to start if unavailable) (default: ${DEFAULT-VALUE}).")
    KernelPathSetting kernelPath;

    @Option(names = "--insecure-no-auth",
            description = "Serve the control API to anybody who can connect, without a token: for labs only.")
    boolean insecureNoAuth;

    @Option(names = "--tls-cert", paramLabel = "FILE",
            description = "PEM certificate (chain) of this node for NBD over TLS; with --tls-key and --tls-ca. "
                    + "The NBD server then offers NBD_OPT_STARTTLS and a sink's link to its source uses TLS.")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "FILE",
            description = "PEM private key of --tls-cert (PKCS#8 or PKCS#1 RSA, unencrypted).")
    Path tlsKey;

    @Option(names = "--tls-ca", paramLabel = "FILE",
            description = "PEM CA certificate(s) every peer's certificate must chain to: NBD clients must present "
                    + "one (mutual TLS), and servers this node dials must present one naming the dialled host.")
    Path tlsCa;

    @Option(names = "--tls", paramLabel = "MODE",
            description = "require (plain NBD clients get NBD_REP_ERR_TLS_REQD) or offer (plain clients are still "
                    + "served, for a rolling upgrade only) (default: require when --tls-cert is given).")
    TlsMode tlsMode;

    @Option(names = "--tls-allowed-subject", paramLabel = "DN",
            description = "Accept NBD clients only with this certificate subject, e.g. 'CN=node-b,O=DLSM' "
                    + "(repeatable; default: any certificate signed by --tls-ca).")
    List<String> tlsAllowedSubjects;

    private final Function<BlockdConfig, Integer> daemon;

    public BlockdCommand(Function<BlockdConfig, Integer> daemon) {
        this.daemon = daemon;
    }

    @Override
    public Integer call() {
        if (ioThreads < 1 || maxConnections < 1 || sourceRetryDeadlineSeconds < 1) {
            throw new CommandLine.ParameterException(new CommandLine(this),
                    "--io-threads, --max-connections and --source-retry-deadline must be at least 1");
        }
        if (nbdHandshakeTimeoutSeconds < 1 || nbdStallTimeoutSeconds < 1) {
            throw new CommandLine.ParameterException(new CommandLine(this),
                    "--nbd-handshake-timeout and --nbd-stall-timeout must be at least 1");
        }
        try {
            nbdLimits();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(new CommandLine(this),
                    "--nbd-connection-buffer / --nbd-buffer-budget: " + e.getMessage());
        }
        if ((backendUrl == null) != (nodeName == null)) {
            throw new CommandLine.ParameterException(new CommandLine(this),
                    "--backend-url and --node-name go together");
        }
        if (insecureNoAuth && tokenFile != null) {
            throw new CommandLine.ParameterException(new CommandLine(this),
                    "--insecure-no-auth and --token-file contradict each other: choose one");
        }
        int tlsFiles = (tlsCert == null ? 0 : 1) + (tlsKey == null ? 0 : 1) + (tlsCa == null ? 0 : 1);
        if (tlsFiles != 0 && tlsFiles != 3) {
            throw new CommandLine.ParameterException(new CommandLine(this),
                    "--tls-cert, --tls-key and --tls-ca go together");
        }
        if (tlsFiles == 0 && (tlsMode != null || (tlsAllowedSubjects != null && !tlsAllowedSubjects.isEmpty()))) {
            throw new CommandLine.ParameterException(new CommandLine(this),
                    "--tls and --tls-allowed-subject need --tls-cert, --tls-key and --tls-ca");
        }
        return daemon.apply(toConfig());
    }

    BlockdConfig toConfig() {
        Optional<BlockdConfig.Registration> registration = Optional.empty();
        if (backendUrl != null && nodeName != null) {
            // A trailing slash makes URI.resolve keep the base path (a backend behind a proxy prefix).
            String base = backendUrl.endsWith("/") ? backendUrl : backendUrl + "/";
            registration = Optional.of(new BlockdConfig.Registration(java.net.URI.create(base), nodeName,
                    Optional.ofNullable(backendTokenFile)));
        }
        return new BlockdConfig(dataDir, HostPort.parse(nbdListen), HostPort.parse(apiListen), ioThreads,
                maxConnections, Optional.ofNullable(tokenFile),
                java.time.Duration.ofSeconds(sourceRetryDeadlineSeconds), registration, kernelPath, nbdLimits(),
                insecureNoAuth, tls());
    }

    private Optional<TlsSettings> tls() {
        if (tlsCert == null) {
            return Optional.empty();
        }
        return Optional.of(new TlsSettings(tlsCert, tlsKey, tlsCa, tlsMode == null ? TlsMode.REQUIRE : tlsMode,
                tlsAllowedSubjects == null ? List.of() : tlsAllowedSubjects));
    }

    private NbdLimits nbdLimits() {
        return new NbdLimits(java.time.Duration.ofSeconds(nbdHandshakeTimeoutSeconds),
                java.time.Duration.ofSeconds(nbdStallTimeoutSeconds), nbdConnectionBufferBytes, nbdBufferBudgetBytes);
    }

    /** Parses and runs; returns the process exit code. */
    public static int run(Function<BlockdConfig, Integer> daemon, String... args) {
        CommandLine cl = new CommandLine(new BlockdCommand(daemon)).setCaseInsensitiveEnumValuesAllowed(true);
        configFile(args).ifPresent(f -> cl.setDefaultValueProvider(
                new CommandLine.PropertiesDefaultProvider(f.toFile())));
        return cl.execute(args);
    }

    /** The config file must be known before parsing, since it supplies the defaults. */
    static Optional<Path> configFile(String[] args) {
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--config") && i + 1 < args.length) {
                return Optional.of(Path.of(args[i + 1]));
            }
            if (args[i].startsWith("--config=")) {
                return Optional.of(Path.of(args[i].substring("--config=".length())));
            }
        }
        return Optional.empty();
    }
}
