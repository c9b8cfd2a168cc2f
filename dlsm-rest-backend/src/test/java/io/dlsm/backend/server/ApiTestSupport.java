package io.dlsm.backend.server;

import io.dlsm.backend.BackendInfo;
import io.dlsm.backend.auth.TokenCheck;
import io.dlsm.backend.metrics.BackendMetrics;
import jakarta.ws.rs.core.Application;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
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

    /** The token the server requires; none by default. */
    protected TokenCheck tokenCheck() {
        return TokenCheck.disabled();
    }

    /** Test-only resources to deploy next to the real ones. */
    protected List<Class<?>> extraResources() {
        return List.of();
    }

    @Override
    protected final Application configure() {
        metrics = new BackendMetrics();
        Clock clock = Clock.fixed(STARTED_AT.plusSeconds(UPTIME_SECONDS), ZoneOffset.UTC);
        BackendInfo info = new BackendInfo("test-version", STARTED_AT);
        BackendApplication app =
                new BackendApplication(new BackendBinder(info, clock, metrics.registry(), tokenCheck()));
        extraResources().forEach(app::register);
        return app;
    }

    @Override
    protected TestContainerFactory getTestContainerFactory() {
        return new InMemoryTestContainerFactory();
    }

    @AfterEach
    void closeMetrics() {
        metrics.close();
    }
}
