package io.dlsm.backend.server;

import io.dlsm.backend.BackendInfo;
import io.dlsm.apiguard.RequestTargetGuard;
import io.dlsm.apiguard.SecretFile;
import io.dlsm.backend.api.error.ErrorCode;
import io.dlsm.backend.auth.Authenticator;
import io.dlsm.backend.auth.TokenCheck;
import io.dlsm.backend.config.BackendConfig;
import io.dlsm.backend.config.ListenAddress;
import io.dlsm.backend.metrics.BackendMetrics;
import io.dlsm.backend.metrics.ControlPlaneMetrics;
import io.dlsm.backend.node.HttpNodeClient;
import io.dlsm.backend.etcd.EtcdConnection;
import io.dlsm.backend.node.NodeKeys;
import io.dlsm.backend.state.EtcdStateStore;
import io.dlsm.backend.state.FileStateStore;
import io.dlsm.backend.state.StateStore;
import io.dlsm.backend.state.StateStoreException;
import java.util.Optional;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.glassfish.grizzly.http.server.HttpServer;
import org.glassfish.jersey.grizzly2.httpserver.GrizzlyHttpServerFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A running API server: Grizzly plus everything it serves, stopped together by {@link #close()}. */
public final class BackendServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(BackendServer.class);
    /** The generated tokens' file names in the state dir; the CLI and tests read them there. */
    public static final String API_TOKEN = "api-token";
    public static final String REGISTRATION_TOKEN = "registration-token";
    /** Lets in-flight requests finish on SIGTERM without making a supervisor wait long. */
    private static final long SHUTDOWN_GRACE_SECONDS = 5;

    private final HttpServer http;
    private final BackendMetrics metrics;
    private final ControlPlane controlPlane;
    private final ListenAddress address;
    private final Optional<EtcdConnection> etcd;

    private BackendServer(HttpServer http, BackendMetrics metrics, ControlPlane controlPlane, ListenAddress address,
                          Optional<EtcdConnection> etcd) {
        this.http = http;
        this.metrics = metrics;
        this.controlPlane = controlPlane;
        this.address = address;
        this.etcd = etcd;
    }

    public static BackendServer start(BackendConfig config, Clock clock) throws IOException {
        prepareStateDir(config.stateDir());
        Optional<EtcdConnection> etcd = config.etcd().isPresent()
                ? Optional.of(EtcdConnection.open(config.etcd().get()))
                : Optional.empty();
        BackendMetrics metrics = new BackendMetrics();
        ControlPlane controlPlane = null;
        try {
            StateStore store = etcd.<StateStore>map(c -> new EtcdStateStore(c.client(), c.options().prefix()))
                    .orElseGet(() -> new FileStateStore(config.stateDir()));
            // The nodes' keys live with the other records, so every backend sharing etcd knows them.
            NodeKeys keys = new NodeKeys(store);
            Authenticator authenticator = authenticator(config, keys);
            // Loads the persisted state: nodes, volumes and the migrations to resume.
            controlPlane = new ControlPlane(store, keys, new HttpNodeClient(keys), clock);
            ControlPlaneMetrics.bind(metrics.registry(), controlPlane.nodes(), controlPlane.volumes(),
                    controlPlane.migrations());
            BackendInfo info = new BackendInfo(BackendInfo.buildVersion(), clock.instant());
            BackendApplication app = new BackendApplication(
                    new BackendBinder(info, clock, metrics.registry(), authenticator, controlPlane));
            ListenAddress listen = config.listen();
            HttpServer http = GrizzlyHttpServerFactory.createHttpServer(uri(listen), app, false);
            RequestTargetGuard.install(http, header -> authenticator.authenticate(header).caller().isPresent(),
                    ErrorCode.UNAUTHORIZED.wire(), ErrorCode.BAD_REQUEST.wire());
            try {
                http.start();
            } catch (IOException e) {
                http.shutdownNow();
                throw new IOException("cannot listen on " + listen.hostPort() + ": " + e.getMessage(), e);
            }
            // With port 0 the listener knows the port the OS picked only after binding.
            int port = http.getListeners().iterator().next().getPort();
            ListenAddress bound = listen.withPort(port);
            LOG.info("dlsm-rest-backend {} listening on {}, state in {}", info.version(), bound.hostPort(),
                    etcd.map(c -> "etcd " + c.options().describe()).orElse(config.stateDir().toString()));
            // Resumes unfinished migrations only once the API can answer about them.
            controlPlane.start();
            return new BackendServer(http, metrics, controlPlane, bound, etcd);
        } catch (StateStoreException e) {
            close(controlPlane, metrics, etcd);
            // Not a bug: etcd unreachable or a record unreadable; the message says which.
            throw new IOException("cannot load the state: " + e.getMessage(), e);
        } catch (IOException | RuntimeException e) {
            close(controlPlane, metrics, etcd);
            throw e;
        }
    }

    private static void close(ControlPlane controlPlane, BackendMetrics metrics, Optional<EtcdConnection> etcd) {
        if (controlPlane != null) {
            controlPlane.close();
        }
        metrics.close();
        etcd.ifPresent(EtcdConnection::close);
    }

    /** Where the API actually listens (the real port when port 0 was asked for). */
    public ListenAddress address() {
        return address;
    }

    @Override
    public void close() {
        try {
            http.shutdown(SHUTDOWN_GRACE_SECONDS, TimeUnit.SECONDS).get(SHUTDOWN_GRACE_SECONDS + 1, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            http.shutdownNow();
        } catch (ExecutionException | TimeoutException e) {
            LOG.warn("graceful shutdown did not finish, forcing it", e);
            http.shutdownNow();
        } finally {
            close(controlPlane, metrics, etcd);
        }
        LOG.info("dlsm-rest-backend stopped");
    }

    private static URI uri(ListenAddress listen) throws IOException {
        try {
            return new URI("http", null, listen.host(), listen.port(), "/", null, null);
        } catch (URISyntaxException e) {
            throw new IOException("bad listen host '" + listen.host() + "'", e);
        }
    }

    /** Fail at startup rather than on the first state change if the directory is unusable. */
    private static void prepareStateDir(Path stateDir) throws IOException {
        Files.createDirectories(stateDir);
        if (!Files.isWritable(stateDir)) {
            throw new IOException("state dir " + stateDir + " is not writable");
        }
        // It holds the nodes' tokens and credential digests: nobody else may read or list it.
        Files.setPosixFilePermissions(stateDir, PosixFilePermissions.fromString("rwx------"));
    }

    private static Authenticator authenticator(BackendConfig config, NodeKeys keys) throws IOException {
        if (config.insecureNoAuth()) {
            LOG.warn("--insecure-no-auth: the API on {} answers ANYBODY who can connect, without a token: they can "
                    + "create, delete and migrate volumes, and register any node name at any address. For labs only",
                    config.listen().hostPort());
            return Authenticator.open();
        }
        return Authenticator.requiring(tokenCheck(config.tokenFile(), config.stateDir().resolve(API_TOKEN), "API"),
                tokenCheck(config.registrationTokenFile(), config.stateDir().resolve(REGISTRATION_TOKEN),
                        "registration"), keys);
    }

    /** The given file's token, else the state dir's, made at first start. */
    private static TokenCheck tokenCheck(Optional<Path> given, Path generated, String what) throws IOException {
        if (given.isPresent()) {
            return TokenCheck.requiring(SecretFile.read(given.get()));
        }
        TokenCheck check = TokenCheck.requiring(SecretFile.readOrCreate(generated));
        LOG.info("the {} token is in {}", what, generated);
        return check;
    }
}
