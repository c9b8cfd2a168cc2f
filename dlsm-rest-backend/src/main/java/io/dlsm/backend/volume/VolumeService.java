package io.dlsm.backend.volume;

import io.dlsm.backend.api.Names;
import io.dlsm.backend.api.error.BadRequestException;
import io.dlsm.backend.api.error.ConflictException;
import io.dlsm.backend.api.error.NotFoundException;
import io.dlsm.backend.node.BlockdVolume;
import io.dlsm.backend.node.Node;
import io.dlsm.backend.node.NodeCallException;
import io.dlsm.backend.node.NodeClient;
import io.dlsm.backend.node.NodeRegistry;
import io.dlsm.backend.state.StateStore;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Volumes: the catalogue of which node holds each volume, kept in step with the nodes' blockd.
 * Mutations are serialised on this object so that "is it migrating?" checks and the
 * migration's own updates cannot interleave.
 */
public final class VolumeService {

    public static final StateStore.Kind<Volume> KIND = new StateStore.Kind<>("volumes", Volume.class);

    private static final Logger LOG = LoggerFactory.getLogger(VolumeService.class);

    private final StateStore store;
    private final NodeRegistry nodes;
    private final NodeClient client;
    private final Clock clock;
    private final Map<String, Volume> volumes = new ConcurrentHashMap<>();

    public VolumeService(StateStore store, NodeRegistry nodes, NodeClient client, Clock clock) {
        this.store = store;
        this.nodes = nodes;
        this.client = client;
        this.clock = clock;
        volumes.putAll(store.loadAll(KIND));
    }

    /** What {@link #create} did: a new volume answers 201, an idempotent retry 200. */
    public record Created(Volume volume, boolean created) {
    }

    public synchronized Created create(String name, Long sizeBytes, String nodeName) {
        return create(name, sizeBytes, nodeName, (c, node, size) -> c.createVolume(node, name, size));
    }

    /** How a new volume comes to exist on its node: empty, or filled from a source there. */
    @FunctionalInterface
    public interface Provisioner {
        BlockdVolume provision(NodeClient client, Node node, long sizeBytes);
    }

    /**
     * Creates a volume the way {@code provisioner} makes it on the node; validation, idempotent
     * retries and the record are the same for every way.
     */
    public synchronized Created create(String name, Long sizeBytes, String nodeName, Provisioner provisioner) {
        Names.requireName("name", name);
        long size = Names.requirePositive("sizeBytes", sizeBytes);
        if (size % 512 != 0) {
            throw new BadRequestException("sizeBytes", "sizeBytes must be a multiple of 512, got " + size);
        }
        Names.requireName("node", nodeName);
        Volume existing = volumes.get(name);
        if (existing != null) {
            // Cinder retries a create whose answer it lost: the same request gets the same volume.
            if (existing.sizeBytes() == size && existing.node().equals(nodeName)) {
                return new Created(existing, false);
            }
            throw new ConflictException("volume '" + name + "' already exists with size " + existing.sizeBytes()
                    + " on node '" + existing.node() + "'", Map.of("volume", name));
        }
        Node node = nodes.requireUp("node", nodeName);
        try {
            provisioner.provision(client, node, size);
        } catch (NodeCallException e) {
            // A create that reached blockd before a crash of ours: adopt the volume if it matches.
            Optional<BlockdVolume> there = e.nodeStatus() == 409 ? client.getVolume(node, name) : Optional.empty();
            if (there.isEmpty() || there.get().sizeBytes() != size) {
                throw e;
            }
        }
        Volume volume = new Volume(name, size, nodeName, VolumeState.AVAILABLE, null, clock.instant());
        store.put(KIND, name, volume);
        volumes.put(name, volume);
        LOG.info("volume {} created on {} ({} bytes)", name, nodeName, size);
        return new Created(volume, true);
    }

    public List<Volume> list() {
        List<Volume> out = new ArrayList<>(volumes.values());
        out.sort((a, b) -> a.name().compareTo(b.name()));
        return out;
    }

    public Volume get(String name) {
        Volume v = volumes.get(name);
        if (v == null) {
            throw new NotFoundException("volume", name);
        }
        return v;
    }

    public Optional<Volume> find(String name) {
        return Optional.ofNullable(name == null ? null : volumes.get(name));
    }

    public synchronized Volume extend(String name, Long sizeBytes) {
        Volume v = get(name);
        long size = Names.requirePositive("sizeBytes", sizeBytes);
        requireNotMigrating(v, "extended");
        if (size < v.sizeBytes()) {
            throw new BadRequestException("sizeBytes", "volumes only grow: sizeBytes " + size
                    + " is smaller than the current " + v.sizeBytes());
        }
        if (size % 512 != 0) {
            throw new BadRequestException("sizeBytes", "sizeBytes must be a multiple of 512, got " + size);
        }
        if (size == v.sizeBytes()) {
            return v;
        }
        client.resizeVolume(nodeOf(v), name, size);
        Volume grown = v.withSize(size);
        store.put(KIND, name, grown);
        volumes.put(name, grown);
        return grown;
    }

    /** Names of what depends on a volume (its snapshots): set once by the snapshot service. */
    @FunctionalInterface
    public interface Dependents {
        List<String> of(String volume);
    }

    private volatile Dependents dependents = v -> List.of();

    public void dependents(Dependents d) {
        this.dependents = d;
    }

    /** Snapshots of the volume; they pin it to its node and forbid deleting it. */
    public List<String> dependentsOf(String volume) {
        return dependents.of(volume);
    }

    public synchronized void delete(String name) {
        Volume v = get(name);
        requireNotMigrating(v, "deleted");
        List<String> snapshots = dependentsOf(name);
        if (!snapshots.isEmpty()) {
            throw new ConflictException("volume '" + name + "' has snapshot(s) " + String.join(", ", snapshots)
                    + "; delete them first", Map.of("volume", name, "snapshots", List.copyOf(snapshots)));
        }
        client.deleteVolume(nodeOf(v), name);
        store.delete(KIND, name);
        volumes.remove(name);
        LOG.info("volume {} deleted from {}", name, v.node());
    }

    /**
     * Where a host attaches the volume. During a migration the destination host is given the
     * target node's export (the sink is exported under the volume's name there): that is how a
     * live-migrating VM reaches the proxy without any hypervisor change.
     */
    public ConnectionInfo connection(String name, String host, String mode, Optional<String> migrationTarget) {
        Volume v = get(name);
        if (host == null || host.isBlank()) {
            throw new BadRequestException("host", "host is required");
        }
        String m = mode == null ? "nbd" : mode;
        if (m.equals("local")) {
            return new LocalConnections(nodes, client).connect(v, host, migrationTarget);
        }
        if (!m.equals("nbd")) {
            throw new BadRequestException("mode", "mode must be 'nbd' or 'local', got '" + m + "'");
        }
        String nodeName = migrationTarget.filter(host::equals).orElse(v.node());
        Node node = nodes.find(nodeName).orElseThrow(() -> new ConflictException(
                "node '" + nodeName + "' holding volume '" + name + "' is not registered", Map.of("node", nodeName)));
        return new ConnectionInfo("nbd", Map.of("host", node.nbdHost(), "port", node.nbdPort(), "export", name));
    }

    /** Tears down {@code host}'s kernel device of the volume, if the host can have one. */
    public void disconnect(String name, String host) {
        Volume v = get(name);
        new LocalConnections(nodes, client).disconnect(v, host);
    }

    // ---------------------------------------------------------- for the migration orchestrator

    /** Marks the volume as migrating under {@code migrationId}; the caller checked it is free. */
    public synchronized Volume markMigrating(String name, String migrationId) {
        Volume v = get(name).migrating(migrationId);
        store.put(KIND, name, v);
        volumes.put(name, v);
        return v;
    }

    /**
     * Ends the migration {@code migrationId}: the volume is AVAILABLE on {@code node}. Idempotent:
     * a volume no longer held by that migration is left alone.
     */
    public synchronized void finishMigration(String name, String migrationId, String node) {
        Volume v = volumes.get(name);
        if (v == null || !migrationId.equals(v.migrationId())) {
            return;
        }
        Volume done = v.available(node);
        store.put(KIND, name, done);
        volumes.put(name, done);
    }

    private Node nodeOf(Volume v) {
        return nodes.find(v.node()).orElseThrow(() -> new ConflictException(
                "node '" + v.node() + "' holding volume '" + v.name() + "' is not registered",
                Map.of("node", v.node())));
    }

    /** 409 naming the migration when the volume is MIGRATING: {@code what} it cannot be meanwhile. */
    public static void requireNotMigrating(Volume v, String what) {
        if (v.state() == VolumeState.MIGRATING) {
            throw new ConflictException("volume '" + v.name() + "' cannot be " + what + " during migration "
                    + v.migrationId(), Map.of("volume", v.name(), "migrationId", v.migrationId()));
        }
    }
}
