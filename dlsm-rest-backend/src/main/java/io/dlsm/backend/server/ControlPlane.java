package io.dlsm.backend.server;

import io.dlsm.backend.migration.CrossNodeCopies;
import io.dlsm.backend.migration.MigrationService;
import io.dlsm.backend.migration.MigrationWatcher;
import io.dlsm.backend.node.NodeClient;
import io.dlsm.backend.node.NodeKeys;
import io.dlsm.backend.node.NodeRegistry;
import io.dlsm.backend.state.StateStore;
import io.dlsm.backend.snapshot.SnapshotService;
import io.dlsm.backend.volume.VolumeService;
import java.time.Clock;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The backend's services, assembled by plain constructors from a store and a node client.
 * Building it loads the persisted state; {@link #start()} starts the background work (node
 * liveness, migration watcher), which tests of the request paths leave off to stay
 * deterministic.
 */
public final class ControlPlane implements AutoCloseable {

    /** Liveness is judged in seconds; checking every second keeps DOWN within a second of due. */
    private static final long LIVENESS_CHECK_MS = 1000;

    private final StateStore store;
    private final NodeRegistry nodes;
    private final NodeKeys keys;
    private final VolumeService volumes;
    private final MigrationService migrations;
    private final SnapshotService snapshots;
    private final CrossNodeCopies copies;
    private final MigrationWatcher watcher;
    private final ScheduledExecutorService liveness;

    public ControlPlane(StateStore store, NodeClient client, Clock clock) {
        this(store, new NodeKeys(store), client, clock);
    }

    /** @param keys the nodes' secrets, which {@code client} also reads to authenticate its calls */
    public ControlPlane(StateStore store, NodeKeys keys, NodeClient client, Clock clock) {
        this.store = store;
        this.keys = keys;
        this.nodes = new NodeRegistry(store, keys, clock);
        this.volumes = new VolumeService(store, nodes, client, clock);
        this.migrations = new MigrationService(store, nodes, volumes, client, clock);
        this.snapshots = new SnapshotService(store, nodes, volumes, client, clock);
        this.copies = new CrossNodeCopies(volumes, snapshots, migrations, nodes);
        this.watcher = new MigrationWatcher(migrations);
        this.liveness = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "node-liveness");
            t.setDaemon(true);
            return t;
        });
    }

    public void start() {
        liveness.scheduleWithFixedDelay(() -> {
            try {
                nodes.markMissedHeartbeats();
            } catch (RuntimeException e) {
                org.slf4j.LoggerFactory.getLogger(ControlPlane.class).error("node liveness check failed", e);
            }
        }, LIVENESS_CHECK_MS, LIVENESS_CHECK_MS, TimeUnit.MILLISECONDS);
        watcher.start();
    }

    public NodeRegistry nodes() {
        return nodes;
    }

    public NodeKeys nodeKeys() {
        return keys;
    }

    public VolumeService volumes() {
        return volumes;
    }

    public MigrationService migrations() {
        return migrations;
    }

    public CrossNodeCopies copies() {
        return copies;
    }

    public SnapshotService snapshots() {
        return snapshots;
    }

    @Override
    public void close() {
        liveness.shutdownNow();
        watcher.close();
        store.close();
    }
}
