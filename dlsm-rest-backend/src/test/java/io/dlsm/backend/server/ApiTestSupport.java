package io.dlsm.backend.server;

import io.dlsm.backend.BackendInfo;
import io.dlsm.backend.auth.Authenticator;
import io.dlsm.backend.auth.TokenCheck;
import io.dlsm.backend.metrics.BackendMetrics;
import io.dlsm.backend.metrics.ControlPlaneMetrics;
import io.dlsm.backend.node.NodeClient;
import io.dlsm.backend.state.FileStateStore;
import jakarta.ws.rs.core.Application;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.mockito.Mockito;
import org.glassfish.jersey.test.JerseyTest;
import org.glassfish.jersey.test.inmemory.InMemoryTestContainerFactory;
import org.glassfish.jersey.test.spi.TestContainerFactory;
import org.junit.jupiter.api.AfterEach;

/**
 * Runs the real {@link BackendApplication} in Jersey's in-memory container.
 *
 * <p>JerseyTest calls {@link #configure()} from its constructor, before subclass fields are
 * initialised, so subclasses customise through overridable methods, not constructor arguments.
 */
public abstract class ApiTestSupport extends JerseyTest {

    public static final Instant STARTED_AT = Instant.parse("2030-01-01T00:00:00Z");
    public static final long UPTIME_SECONDS = 42;

    // Assigned in configure(); deliberately no initializer, which would run after it and reset it.
    private BackendMetrics metrics;
    private NodeClient nodeClient;
    private ControlPlane controlPlane;
    private MutableClock clock;
    private Path stateDir;

    /** The mocked blockd client: stub it to script what the nodes answer. */
    protected NodeClient nodeClient() {
        return nodeClient;
    }

    /** The services behind the API; the background watcher is not started, tests drive it. */
    protected ControlPlane controlPlane() {
        return controlPlane;
    }

    protected MutableClock clock() {
        return clock;
    }

    protected Path stateDir() {
        return stateDir;
    }

    /** The token the server requires; none by default. */
    protected TokenCheck tokenCheck() {
        return TokenCheck.disabled();
    }

    /** The callers the server tells apart: open unless {@link #tokenCheck()} requires a token. */
    protected Authenticator authenticator() {
        TokenCheck operator = tokenCheck();
        return operator.enabled() ? Authenticator.requiring(operator, TokenCheck.requiring(REGISTRATION_TOKEN),
                controlPlane.nodeKeys()) : Authenticator.open();
    }

    /** The registration token when {@link #tokenCheck()} requires one. */
    public static final String REGISTRATION_TOKEN = "test-registration-token";

    /** Test-only resources to deploy next to the real ones. */
    protected List<Class<?>> extraResources() {
        return List.of();
    }

    @Override
    protected final Application configure() {
        metrics = new BackendMetrics();
        clock = new MutableClock(STARTED_AT.plusSeconds(UPTIME_SECONDS));
        nodeClient = Mockito.mock(NodeClient.class);
        // What blockd answers: the volume's view, fenced.
        Mockito.when(nodeClient.fence(Mockito.any(), Mockito.any())).thenAnswer(
                i -> new io.dlsm.backend.node.BlockdVolume(i.getArgument(1), 0, 0, true, 0, null));
        try {
            stateDir = Files.createTempDirectory("dlsm-api-test");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        controlPlane = new ControlPlane(new FileStateStore(stateDir), nodeClient, clock);
        ControlPlaneMetrics.bind(metrics.registry(), controlPlane.nodes(), controlPlane.volumes(),
                controlPlane.migrations());
        BackendInfo info = new BackendInfo("test-version", STARTED_AT);
        BackendApplication app = new BackendApplication(
                new BackendBinder(info, clock, metrics.registry(), authenticator(), controlPlane));
        extraResources().forEach(app::register);
        return app;
    }

    @Override
    protected TestContainerFactory getTestContainerFactory() {
        return new InMemoryTestContainerFactory();
    }

    @AfterEach
    void closeMetrics() throws IOException {
        controlPlane.close();
        metrics.close();
        try (var files = Files.walk(stateDir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
    }
}
