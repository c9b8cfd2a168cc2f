package io.dlsm.blockd.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dlsm.blockd.nbd.server.ExportRegistry;
import io.dlsm.blockd.nbd.BufferPool;
import io.dlsm.blockd.posix.LibC;
import io.dlsm.blockd.sink.SinkManager;
import io.dlsm.blockd.snapshot.SnapshotStore;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.dlsm.blockd.volume.AutoFenceListener;
import io.dlsm.blockd.volume.VolumeStore;
import jakarta.ws.rs.client.Entity;
import jakarta.ws.rs.client.Invocation;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Comparator;
import java.util.Optional;
import java.util.stream.Stream;
import org.glassfish.jersey.server.ResourceConfig;
import org.glassfish.jersey.test.JerseyTest;
import org.glassfish.jersey.test.inmemory.InMemoryTestContainerFactory;
import org.glassfish.jersey.test.spi.TestContainerFactory;
import org.junit.jupiter.api.AfterEach;

/**
 * The control API in memory, over a real VolumeStore in a temporary directory. JerseyTest
 * builds the application from its constructor, before subclass fields exist, so the data
 * directory is made here rather than injected with @TempDir.
 */
abstract class InMemoryApi extends JerseyTest {
    static final ObjectMapper MAPPER = new ObjectMapper();

    private Path dataDir;
    private VolumeStore store;
    private SnapshotStore snapshots;
    private SinkManager sinks;
    private java.util.concurrent.ExecutorService background;

    /** The bearer token the API requires, if any; must not depend on subclass fields. */
    abstract Optional<String> token();

    @Override
    protected ResourceConfig configure() {
        try {
            dataDir = Files.createTempDirectory("blockd-api");
            ExportRegistry exports = new ExportRegistry();
            store = new VolumeStore(dataDir, LibC.INSTANCE, exports, Json.newMapper(), Clock.systemUTC(), Runnable::run,
                AutoFenceListener.NONE);
            store.open();
            snapshots = new SnapshotStore(dataDir, LibC.INSTANCE, exports, store, Json.newMapper(), Clock.systemUTC());
            snapshots.open();
            background = java.util.concurrent.Executors.newCachedThreadPool();
            sinks = new SinkManager(dataDir, LibC.INSTANCE, exports, store, Json.newMapper(),
                    new BufferPool(1 << 20), Clock.systemUTC(), java.time.Duration.ofSeconds(5), background, Runnable::run);
            sinks.open();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new BlockdApplication(store, snapshots, sinks, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT),
                Json.newMapper(), token());
    }

    @Override
    protected TestContainerFactory getTestContainerFactory() {
        return new InMemoryTestContainerFactory();
    }

    @AfterEach
    void removeDataDir() throws IOException {
        sinks.close();
        background.shutdownNow();
        snapshots.close();
        store.close();
        try (Stream<Path> files = Files.walk(dataDir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    Invocation.Builder call(String path) {
        Invocation.Builder b = target(path).request(MediaType.APPLICATION_JSON_TYPE);
        return token().map(t -> b.header("Authorization", "Bearer " + t)).orElse(b);
    }

    Response post(String path, String json) {
        return call(path).post(Entity.entity(json, MediaType.APPLICATION_JSON_TYPE));
    }

    Response put(String path, String json) {
        return call(path).put(Entity.entity(json, MediaType.APPLICATION_JSON_TYPE));
    }

    static JsonNode json(Response r) {
        try {
            return MAPPER.readTree(r.readEntity(String.class));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
