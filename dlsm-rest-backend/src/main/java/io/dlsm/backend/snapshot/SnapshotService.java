package io.dlsm.backend.snapshot;

import io.dlsm.backend.api.Names;
import io.dlsm.backend.api.error.BadRequestException;
import io.dlsm.backend.api.error.ConflictException;
import io.dlsm.backend.api.error.NotFoundException;
import io.dlsm.backend.node.BlockdSnapshot;
import io.dlsm.backend.node.Node;
import io.dlsm.backend.node.NodeCallException;
import io.dlsm.backend.node.NodeClient;
import io.dlsm.backend.node.NodeRegistry;
import io.dlsm.backend.state.StateStore;
import io.dlsm.backend.volume.Volume;
import io.dlsm.backend.volume.VolumeService;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Snapshots of volumes and volumes made from a snapshot or from another volume. blockd does the
 * copying on the node that holds the source; this service keeps the catalogue, refuses what
 * would race a migration and records a snapshot only once its node has it.
 */
public final class SnapshotService {

    public static final StateStore.Kind<Snapshot> KIND = new StateStore.Kind<>("snapshots", Snapshot.class);

    private static final Logger LOG = LoggerFactory.getLogger(SnapshotService.class);

    private final StateStore store;
    private final NodeRegistry nodes;
    private final VolumeService volumes;
    private final NodeClient client;
    private final Clock clock;
    /** By {@link #id}; concurrent so the volume service's deletion check reads it without our lock. */
    private final Map<String, Snapshot> snapshots = new ConcurrentHashMap<>();

    public SnapshotService(StateStore store, NodeRegistry nodes, VolumeService volumes, NodeClient client,
                           Clock clock) {
        this.store = store;
        this.nodes = nodes;
        this.volumes = volumes;
        this.client = client;
        this.clock = clock;
        snapshots.putAll(store.loadAll(KIND));
        volumes.dependents(v -> namesOf(v));
    }

    /** What {@link #create} did: a new snapshot answers 201, an idempotent retry 200. */
    public record Created(Snapshot snapshot, boolean created) {
    }

    public synchronized Created create(String volumeName, String name) {
        Names.requireName("volume", volumeName);
        Names.requireName("name", name);
        Snapshot existing = snapshots.get(id(volumeName, name));
        if (existing != null) {
            // Cinder retries a request whose answer it lost: the same request gets the same snapshot.
            return new Created(existing, false);
        }
        Volume v = volumes.get(volumeName);
        VolumeService.requireNotMigrating(v, "snapshotted");
        Node node = nodes.requireUp("node", v.node());
        BlockdSnapshot taken;
        try {
            taken = client.createSnapshot(node, volumeName, name);
        } catch (NodeCallException e) {
            // A snapshot that reached blockd before a crash of ours: take it over.
            Optional<BlockdSnapshot> there = e.nodeStatus() == 409
                    ? client.getSnapshot(node, volumeName, name) : Optional.empty();
            taken = there.orElseThrow(() -> e);
        }
        Snapshot s = new Snapshot(name, volumeName, taken.sizeBytes(), v.node(), clock.instant());
        store.put(KIND, id(volumeName, name), s);
        snapshots.put(id(volumeName, name), s);
        LOG.info("snapshot {} of volume {} taken on {}", name, volumeName, v.node());
        return new Created(s, true);
    }

    public List<Snapshot> list(String volumeName) {
        volumes.get(volumeName);
        return snapshots.values().stream().filter(s -> s.volume().equals(volumeName))
                .sorted(Comparator.comparing(Snapshot::name)).toList();
    }

    public Snapshot get(String volumeName, String name) {
        Snapshot s = snapshots.get(id(Names.requireName("volume", volumeName), Names.requireName("snap", name)));
        if (s == null) {
            throw new NotFoundException("snapshot", name);
        }
        return s;
    }

    public synchronized void delete(String volumeName, String name) {
        Snapshot s = get(volumeName, name);
        client.deleteSnapshot(nodeOf(s), volumeName, name);
        store.delete(KIND, id(volumeName, name));
        snapshots.remove(id(volumeName, name));
        LOG.info("snapshot {} of volume {} deleted from {}", name, volumeName, s.node());
    }

    /** Where a volume or snapshot to copy from lives, its size, and how to name it to a user. */
    public record SourceInfo(String volume, String snapshot, String node, long sizeBytes, String description) {
    }

    public SourceInfo sourceOf(VolumeSource source) {
        if (source == null) {
            throw new BadRequestException("source", "source is required");
        }
        String sourceVolume = Names.requireName("source.volume", source.volume());
        if (source.snapshot() == null) {
            Volume v = volumes.get(sourceVolume);
            VolumeService.requireNotMigrating(v, "cloned");
            return new SourceInfo(sourceVolume, null, v.node(), v.sizeBytes(), "volume '" + sourceVolume + "'");
        }
        Snapshot s = get(sourceVolume, source.snapshot());
        return new SourceInfo(sourceVolume, s.name(), s.node(), s.sizeBytes(),
                "snapshot '" + s.name() + "' of volume '" + sourceVolume + "'");
    }

    /**
     * A new volume filled from {@code source} on the node holding the source (where the copy is
     * a local sparse copy or reflink); {@code sizeBytes} absent means the source's size, smaller
     * is refused (it would cut data off). Copies for other nodes: {@code CrossNodeCopies}.
     */
    public synchronized VolumeService.Created createVolume(String name, Long sizeBytes, String nodeName,
                                                           VolumeSource source) {
        SourceInfo from = sourceOf(source);
        if (nodeName != null && !nodeName.equals(from.node())) {
            throw new ConflictException("a volume made from " + from.description() + " is created on node '"
                    + from.node() + "' where the source is, not on '" + nodeName + "'",
                    Map.of("node", nodeName, "sourceNode", from.node()));
        }
        long size = sizeBytes == null ? from.sizeBytes() : sizeBytes;
        if (size < from.sizeBytes()) {
            throw new BadRequestException("sizeBytes", "sizeBytes " + size + " is smaller than " + from.description()
                    + " (" + from.sizeBytes() + " bytes); a volume made from it can only be as large or larger");
        }
        VolumeService.Created c = volumes.create(name, size, from.node(),
                (nodeClient, node, sz) -> nodeClient.createVolumeFrom(node, name, sz, from.volume(), from.snapshot()));
        if (c.created()) {
            LOG.info("volume {} made from {} on {}", name, from.description(), from.node());
        }
        return c;
    }

    /** Snapshot names of a volume, sorted. */
    public List<String> namesOf(String volumeName) {
        return snapshots.values().stream().filter(s -> s.volume().equals(volumeName)).map(Snapshot::name)
                .sorted().toList();
    }

    private Node nodeOf(Snapshot s) {
        return nodes.find(s.node()).orElseThrow(() -> new ConflictException("node '" + s.node()
                + "' holding snapshot '" + s.name() + "' of volume '" + s.volume() + "' is not registered",
                Map.of("node", s.node(), "snapshot", s.name())));
    }

    /**
     * State-store id: volume and snapshot names may each be 128 characters and may contain the
     * characters a separator would need, so the pair is hashed into a safe, unique file name.
     */
    static String id(String volume, String name) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256")
                    .digest((volume + "/" + name).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }
}
