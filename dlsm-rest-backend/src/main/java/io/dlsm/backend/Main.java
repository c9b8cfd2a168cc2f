package io.dlsm.backend;

import io.dlsm.backend.config.BackendConfig;
import io.dlsm.backend.config.CliOptions;
import io.dlsm.backend.config.ConfigException;
import io.dlsm.backend.config.ConfigLoader;
import io.dlsm.backend.config.EtcdFlags;
import io.dlsm.backend.server.BackendServer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Clock;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.bridge.SLF4JBridgeHandler;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Command line entry point. Once listening it prints exactly one line, {@code READY api=HOST:PORT},
 * to stdout (logs go to stderr) and serves until SIGTERM/SIGINT.
 */
@Command(
        name = "dlsm-rest-backend",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = "DLSM control plane: REST API for volumes and live migrations.")
public final class Main implements Callable<Integer> {

    /** Exit status for unusable configuration, matching picocli's status for bad usage. */
    static final int EXIT_CONFIG = 2;
    static final int EXIT_STARTUP = 1;

    private static final Logger LOG = LoggerFactory.getLogger(Main.class);

    @Option(names = "--" + ConfigLoader.LISTEN, paramLabel = "HOST:PORT",
            description = "API listen address; port 0 picks a free port (default: 127.0.0.1:7800).")
    private String listen;

    @Option(names = "--" + ConfigLoader.STATE_DIR, paramLabel = "DIR",
            description = "Directory for the backend's persistent state (required; created if missing).")
    private Path stateDir;

    @Option(names = "--" + ConfigLoader.TOKEN_FILE, paramLabel = "FILE",
            description = "File holding the API token every request must present (default: STATE_DIR/api-token, "
                    + "made with a random token at first start, mode 0600).")
    private Path tokenFile;

    @Option(names = "--" + ConfigLoader.REGISTRATION_TOKEN_FILE, paramLabel = "FILE",
            description = "File holding the token a node presents at its first registration, and only there "
                    + "(default: STATE_DIR/registration-token, made at first start, mode 0600).")
    private Path registrationTokenFile;

    @Option(names = "--" + ConfigLoader.INSECURE_NO_AUTH,
            description = "Serve the API to anybody who can connect, without tokens, and let any node register "
                    + "as any name: for labs only.")
    private Boolean insecureNoAuth;

    @Option(names = "--config", paramLabel = "FILE",
            description = "Java properties file; keys are the long option names without dashes "
                    + "(listen, state-dir, token-file, registration-token-file, insecure-no-auth, etcd-endpoints, ...). "
                    + "Flags override it.")
    private Path configFile;

    @Option(names = "--" + ConfigLoader.ETCD_ENDPOINTS, paramLabel = "URL[,URL...]",
            description = "Keep the state in this etcd cluster (v3 API) instead of files under --state-dir, "
                    + "so several backends share it; e.g. http://127.0.0.1:2379.")
    private String etcdEndpoints;

    @Option(names = "--" + ConfigLoader.ETCD_PREFIX, paramLabel = "PREFIX",
            description = "Key prefix of this installation in etcd (default: /dlsm).")
    private String etcdPrefix;

    @Option(names = "--" + ConfigLoader.ETCD_CA, paramLabel = "FILE",
            description = "PEM CA bundle for https:// etcd endpoints.")
    private Path etcdCa;

    @Option(names = "--" + ConfigLoader.ETCD_CERT, paramLabel = "FILE",
            description = "PEM client certificate for etcd (with --etcd-key).")
    private Path etcdCert;

    @Option(names = "--" + ConfigLoader.ETCD_KEY, paramLabel = "FILE",
            description = "PEM (PKCS#8) private key of --etcd-cert.")
    private Path etcdKey;

    @Option(names = "--" + ConfigLoader.ETCD_USER, paramLabel = "NAME",
            description = "etcd user, for clusters with authentication (with --etcd-password-file).")
    private String etcdUser;

    @Option(names = "--" + ConfigLoader.ETCD_PASSWORD_FILE, paramLabel = "FILE",
            description = "File holding the etcd user's password.")
    private Path etcdPasswordFile;

    @Spec
    private CommandSpec spec;

    private final Clock clock;

    public Main(Clock clock) {
        this.clock = clock;
    }

    public static void main(String[] args) {
        // Grizzly and Jersey log through java.util.logging; route it to logback (stderr).
        SLF4JBridgeHandler.removeHandlersForRootLogger();
        SLF4JBridgeHandler.install();
        int status = new CommandLine(new Main(Clock.systemUTC())).execute(args);
        // After a normal stop the JVM is already exiting through the shutdown hook.
        if (status != 0) {
            System.exit(status);
        }
    }

    @Override
    public Integer call() throws InterruptedException {
        BackendConfig config;
        try {
            config = ConfigLoader.load(new CliOptions(listen, stateDir, tokenFile, registrationTokenFile,
                    insecureNoAuth, configFile,
                    new EtcdFlags(etcdEndpoints, etcdPrefix, etcdCa, etcdCert, etcdKey, etcdUser, etcdPasswordFile)));
        } catch (ConfigException e) {
            spec.commandLine().getErr().println(spec.name() + ": " + e.getMessage());
            return EXIT_CONFIG;
        }

        BackendServer server;
        try {
            server = BackendServer.start(config, clock);
        } catch (IOException e) {
            LOG.error("cannot start: {}", e.getMessage(), e);
            return EXIT_STARTUP;
        }

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                server.close();
            } finally {
                stopped.countDown();
            }
        }, "dlsm-shutdown"));

        PrintWriter out = spec.commandLine().getOut();
        out.println("READY api=" + server.address().hostPort());
        out.flush();
        stopped.await();
        return 0;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"dlsm-rest-backend " + BackendInfo.buildVersion()};
        }
    }
}
