package io.dlsm.backend.migration;

import io.dlsm.backend.api.Names;
import io.dlsm.backend.api.error.BadRequestException;
import io.dlsm.backend.api.error.ConflictException;
import io.dlsm.backend.api.error.NotFoundException;
import io.dlsm.backend.node.BlockdSink;
import io.dlsm.backend.node.BlockdVolume;
import io.dlsm.backend.node.Node;
import io.dlsm.backend.node.NodeCallException;
import io.dlsm.backend.node.NodeClient;
import io.dlsm.backend.node.NodeRegistry;
import io.dlsm.backend.node.NodeState;
import io.dlsm.backend.state.StateStore;
import io.dlsm.backend.volume.Volume;
import io.dlsm.backend.volume.VolumeService;
import io.dlsm.backend.volume.VolumeState;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The migration orchestrator. Each migration is driven through idempotent steps on the two
 * nodes' blockd (see {@link PendingAction}); the step owed is persisted before it starts, so a
 * request, the {@link MigrationWatcher} or a restarted backend can each pick it up and finish
 * it. Steps of one migration never run concurrently (a lock per migration); different
 * migrations proceed independently.
 */
public final class MigrationService {

    public static final StateStore.Kind<Migration> KIND = new StateStore.Kind<>("migrations", Migration.class);
    /** How many steps one drive takes at most before yielding to the next tick. */
    private static final int MAX_STEPS_PER_DRIVE = 8;

    private static final Logger LOG = LoggerFactory.getLogger(MigrationService.class);

    private final StateStore store;
    private final NodeRegistry nodes;
    private final VolumeService volumes;
    private final NodeClient client;
    private final Clock clock;
    private final Map<String, Migration> migrations = new ConcurrentHashMap<>();
    private final Map<String, ReentrantLock> locks = new ConcurrentHashMap<>();
    /** Serialises creations, so two requests cannot both claim the same volume. */
    private final Object createLock = new Object();

    public MigrationService(StateStore store, NodeRegistry nodes, VolumeService volumes, NodeClient client,
                            Clock clock) {
        this.store = store;
        this.nodes = nodes;
        this.volumes = volumes;
        this.client = client;
        this.clock = clock;
        migrations.putAll(store.loadAll(KIND));
        reconcileVolumes();
    }

    /** What {@link #create} did: a new migration answers 201, an idempotent retry 200. */
    public record Created(Migration migration, boolean created) {
    }

    // ------------------------------------------------------------------ API operations

    public Created create(MigrationRequest r) {
        if (r == null) {
            throw new BadRequestException("body", "a JSON request body is required");
        }
        String volumeName = Names.requireName("volume", r.volume());
        String targetName = Names.requireName("targetNode", r.targetNode());
        long bandwidth = r.bandwidthBytesPerSecond() == null ? 0
                : Names.requireNonNegative("bandwidthBytesPerSecond", r.bandwidthBytesPerSecond());
        SwitchMode mode = r.switchMode() == null ? SwitchMode.AUTO : r.switchMode();
        Migration m;
        ReentrantLock lock;
        synchronized (createLock) {
            Volume v = volumes.get(volumeName);
            if (v.state() == VolumeState.MIGRATING) {
                Migration current = migrations.get(v.migrationId());
                // Cinder retries a request whose answer it lost: the same request gets the same migration.
                if (current != null && current.targetNode().equals(targetName)
                        && current.pendingAction() != PendingAction.ROLLBACK) {
                    return new Created(current, false);
                }
                throw new ConflictException("volume '" + volumeName + "' is already being migrated by "
                        + v.migrationId() + (current == null ? "" : " to node '" + current.targetNode() + "'"),
                        Map.of("volume", volumeName, "migrationId", v.migrationId()));
            }
            List<String> snapshots = volumes.dependentsOf(volumeName);
            if (!snapshots.isEmpty()) {
                // Snapshots stay on the source node and would pin the old copy there forever.
                throw new ConflictException("volume '" + volumeName + "' has snapshot(s) " + String.join(", ", snapshots)
                        + " on node '" + v.node() + "'; delete them (or make volumes from them) before migrating",
                        Map.of("volume", volumeName, "snapshots", List.copyOf(snapshots)));
            }
            if (v.node().equals(targetName)) {
                throw new ConflictException("volume '" + volumeName + "' is already on node '" + targetName + "'",
                        Map.of("volume", volumeName, "node", targetName));
            }
            nodes.requireUp("targetNode", targetName);
            Node source = nodes.find(v.node()).orElseThrow(() -> new ConflictException(
                    "source node '" + v.node() + "' is not registered", Map.of("node", v.node())));
            if (source.state() != NodeState.UP) {
                throw new ConflictException("source node '" + v.node() + "' is DOWN", Map.of("node", v.node()));
            }
            m = new Migration(UUID.randomUUID().toString(), volumeName, v.node(), targetName,
                    MigrationPhase.PREPARED, mode, bandwidth, PendingAction.PREPARE, false, clock.instant(),
                    clock.instant(), null, MigrationProgress.none(0), false);
            // Locked before it is published: the watcher sees an unfinished migration at once and
            // would otherwise prepare it too (one migration, two "prepared" steps and log lines).
            lock = lockOf(m.id());
            lock.lock();
            try {
                save(m);
                volumes.markMigrating(volumeName, m.id());
            } catch (RuntimeException e) {
                lock.unlock();
                throw e;
            }
        }
        LOG.info("migration {}: volume {} from {} to {} ({} switch)", m.id(), volumeName, m.sourceNode(), targetName,
                mode.wire());
        try {
            try {
                if (current(m.id()).pendingAction() == PendingAction.PREPARE) {
                    prepare(current(m.id()));
                }
            } catch (RuntimeException e) {
                rollBack(m.id(), e);
                if (e instanceof NodeCallException nce && nce.rejected()) {
                    throw new ConflictException("migration " + m.id() + " failed: " + nce.getMessage(),
                            Map.of("migrationId", m.id(), "node", nce.node()));
                }
                throw e;
            }
            if (current(m.id()).pendingAction() == PendingAction.SWITCH) {
                try {
                    doSwitch(current(m.id()));
                } catch (RuntimeException e) {
                    // Prepared is what was asked for; the watcher retries the switch.
                    noteError(m.id(), e);
                }
            }
        } finally {
            lock.unlock();
        }
        return new Created(current(m.id()), true);
    }

    public List<Migration> list() {
        List<Migration> out = new ArrayList<>(migrations.values());
        out.sort((a, b) -> a.createdAt().compareTo(b.createdAt()));
        return out;
    }

    public Migration get(String id) {
        Migration m = migrations.get(id);
        if (m == null) {
            throw new NotFoundException("migration", id);
        }
        return m;
    }

    /** The migration currently holding a volume, if any: where a live-migrating VM must attach. */
    public Optional<Migration> activeFor(String volume) {
        return volumes.find(volume).map(Volume::migrationId).map(migrations::get).filter(m -> !m.phase().terminal());
    }

    /** t1 on request: fence the source, activate the sink. */
    public Migration switchNow(String id) {
        get(id);
        return locked(id, () -> {
            Migration m = current(id);
            if (m.phase().switched() && m.phase() != MigrationPhase.COMMITTED) {
                return m;
            }
            if (m.phase().terminal() || isUndoing(m)) {
                throw new ConflictException("migration " + id + " is " + describe(m) + " and cannot be switched",
                        Map.of("migrationId", id));
            }
            if (m.pendingAction() == PendingAction.PREPARE) {
                prepare(m);
                m = current(id);
            }
            if (m.pendingAction() != PendingAction.SWITCH) {
                m = save(m.withPending(PendingAction.SWITCH, clock.instant()));
            }
            doSwitch(m);
            return current(id);
        });
    }

    public Migration setBandwidth(String id, Long bytesPerSecond) {
        long bps = Names.requireNonNegative("bytesPerSecond", bytesPerSecond);
        get(id);
        return locked(id, () -> {
            Migration m = current(id);
            if (m.phase().terminal() || isUndoing(m)) {
                throw new ConflictException("migration " + id + " is " + describe(m)
                        + ": its bandwidth can no longer change", Map.of("migrationId", id));
            }
            Migration next = save(m.withBandwidth(bps, clock.instant()));
            // Before the sink exists, prepare creates it with the recorded bandwidth.
            if (m.pendingAction() != PendingAction.PREPARE) {
                client.setSinkBandwidth(node(m.targetNode()), m.volume(), bps);
            }
            return next;
        });
    }

    /**
     * Stops the migration; the volume stays on (or goes back to) the source. After ACTIVE the
     * target's sink copies the regions written there back to the source before it is dropped.
     * A sink dm-clone copies cannot do that (nobody knows which regions the VM wrote past it):
     * its migration goes on and is marked {@code migrateBack}, so that once COMMITTED the
     * volume migrates back to the source by itself. Either way the volume ends on the source.
     */
    public Migration abort(String id) {
        get(id);
        return locked(id, () -> {
            Migration m = current(id);
            if (m.phase() == MigrationPhase.ABORTED || m.phase() == MigrationPhase.FAILED || m.migrateBack()) {
                return m;
            }
            if (m.phase() == MigrationPhase.COMMITTED) {
                throw new ConflictException("migration " + id + " is COMMITTED: volume '" + m.volume()
                        + "' now lives on node '" + m.targetNode() + "'; migrate it back instead",
                        Map.of("migrationId", id));
            }
            if (!isUndoing(m)) {
                m = save(m.withPending(PendingAction.ABORT, clock.instant()));
            }
            undo(m);
            return current(id);
        });
    }

    // ------------------------------------------------------------------ watcher entry points

    /** Migrations with something left to do: their sink to poll or a step to re-drive. */
    public List<String> unfinished() {
        List<String> ids = new ArrayList<>();
        migrations.values().stream().filter(m -> !m.finished()).forEach(m -> ids.add(m.id()));
        return ids;
    }

    /**
     * One round for one migration from the watcher: skipped if a request is driving it right
     * now; failures are recorded on the migration (its {@code error}) and retried next round.
     */
    public void driveInBackground(String id) {
        ReentrantLock lock = lockOf(id);
        if (!lock.tryLock()) {
            return;
        }
        try {
            for (int i = 0; i < MAX_STEPS_PER_DRIVE && !current(id).finished(); i++) {
                if (!step(current(id))) {
                    break;
                }
            }
        } catch (RuntimeException e) {
            noteError(id, e);
        } finally {
            lock.unlock();
        }
    }

    // ------------------------------------------------------------------ steps

    /** Performs the pending step or polls; true if the migration's state moved on. */
    private boolean step(Migration m) {
        switch (m.pendingAction()) {
            case PREPARE -> prepare(m);
            case SWITCH -> doSwitch(m);
            case ABORT, ROLLBACK -> undo(m);
            case DELETE_SOURCE -> deleteSource(m);
            case MIGRATE_BACK -> migrateBack(m);
            case NONE -> {
                return poll(m);
            }
            default -> throw new IllegalStateException("unknown pending action " + m.pendingAction());
        }
        return true;
    }

    /** t0: migration export on the source, PROXY sink on the target. */
    private void prepare(Migration m) {
        Node source = node(m.sourceNode());
        Node target = node(m.targetNode());
        String export = client.openMigrationExport(source, m.volume());
        BlockdVolume src = client.getVolume(source, m.volume()).orElseThrow(() -> new NodeCallException(
                source.name(), "get volume " + m.volume(), 404, "the volume is missing on the source node"));
        try {
            client.createSink(target, m.volume(), source.nbdHost(), source.nbdPort(), export,
                    m.bandwidthBytesPerSecond());
        } catch (NodeCallException e) {
            // A retry after a crash finds its own sink already there; anything else is a real conflict.
            if (e.nodeStatus() != 409 || client.getSink(target, m.volume()).isEmpty()) {
                throw e;
            }
        }
        boolean switchNow = m.switchMode() == SwitchMode.AUTO && src.writers() == 0;
        save(m.withProgress(m.progress().withAllocated(src.allocatedBytes())).withError(null)
                .withPending(switchNow ? PendingAction.SWITCH : PendingAction.NONE, clock.instant()));
        LOG.info("migration {}: prepared (sink in PROXY on {}, source has {} writer(s))", m.id(), target.name(),
                src.writers());
    }

    /**
     * The source node reports that the volume fenced itself: its VM left, and runs on the target
     * with every request proxied back until the switch. Switches a migration waiting for that at
     * once rather than at the watcher's next look; empty if no migration of this volume from this
     * node waits. A failed switch is recorded on the migration and retried by the watcher.
     */
    public Optional<Migration> sourceFenced(String sourceNode, String volume) {
        Optional<Migration> concerned = activeFor(volume).filter(m -> m.sourceNode().equals(sourceNode));
        if (concerned.isEmpty()) {
            return Optional.empty();
        }
        String id = concerned.get().id();
        return Optional.of(locked(id, () -> {
            Migration m = current(id);
            if (m.phase() == MigrationPhase.PREPARED && m.switchMode() == SwitchMode.AUTO
                    && (m.pendingAction() == PendingAction.SWITCH
                    || m.pendingAction() == PendingAction.NONE && !m.switchStarted())) {
                LOG.info("migration {}: node {} reports the source fenced itself (the VM left), switching", id,
                        sourceNode);
                try {
                    doSwitch(m.pendingAction() == PendingAction.SWITCH ? m
                            : save(m.withPending(PendingAction.SWITCH, clock.instant())));
                } catch (RuntimeException e) {
                    noteError(id, e);
                }
            }
            return current(id);
        }));
    }

    /**
     * t1: fence the source (a no-op if it fenced itself), then activate the sink. The target is
     * told the source is fenced (the source node has just said so) rather than left to ask it
     * over a new NBD connection: until the sink is active the VM's every request crosses the
     * network, and that link is the one full of them.
     */
    private void doSwitch(Migration m) {
        Node source = node(m.sourceNode());
        Node target = node(m.targetNode());
        long t0 = System.nanoTime();
        BlockdVolume fenced = client.fence(source, m.volume());
        if (!fenced.fenced()) {
            throw new NodeCallException(source.name(), "fence " + m.volume(), 200,
                    "the node answered the fence but reports volume '" + m.volume() + "' unfenced");
        }
        long t1 = System.nanoTime();
        BlockdSink sink;
        try {
            sink = client.activateFencedSink(target, m.volume());
        } catch (NodeCallException e) {
            if (e.nodeStatus() == 404) {
                // Gone already (committed and blockd restarted, or lost): polling decides which.
                save(m.withPending(PendingAction.NONE, clock.instant()));
                return;
            }
            throw e;
        }
        Migration next = m.withPending(PendingAction.NONE, clock.instant())
                .withProgress(MigrationProgress.of(sink, m.progress().allocatedBytes(), m.targetNode())).withError(null);
        long t2 = System.nanoTime();
        save(next);
        LOG.info("migration {}: switched, sink is {} (fence {} ms, activate {} ms, record {} ms)", m.id(), sink.state(),
                (t1 - t0) / 1_000_000, (t2 - t1) / 1_000_000, (System.nanoTime() - t2) / 1_000_000);
        follow(next, sink);
    }

    /** Follows the target sink; true if the migration's phase or pending step changed. */
    private boolean poll(Migration m) {
        if (m.phase().terminal()) {
            return false;
        }
        Node target = node(m.targetNode());
        if (m.phase() == MigrationPhase.PREPARED && !m.switchStarted()) {
            if (m.switchMode() == SwitchMode.AUTO) {
                // blockd fences the source itself when the VM's last connection closes.
                Optional<BlockdVolume> src = client.getVolume(node(m.sourceNode()), m.volume());
                if (src.isPresent() && src.get().fenced()) {
                    LOG.info("migration {}: the source fenced itself (the VM left), switching", m.id());
                    save(m.withPending(PendingAction.SWITCH, clock.instant()));
                    return true;
                }
            }
            client.getSink(target, m.volume()).ifPresent(s -> {
                followSource(m, target, s);
                remember(m.withProgress(MigrationProgress.of(s, m.progress().allocatedBytes(), m.targetNode())));
            });
            return false;
        }
        Optional<BlockdSink> sink = client.getSink(target, m.volume());
        sink.ifPresent(s -> followSource(m, target, s));
        if (sink.isEmpty()) {
            if (client.getVolume(target, m.volume()).isPresent()) {
                // blockd forgets a committed sink when it restarts; the volume it became remains.
                commit(m);
            } else {
                fail(m, "the sink for volume '" + m.volume() + "' vanished from node '" + m.targetNode() + "'");
            }
            return true;
        }
        return follow(m, sink.get());
    }

    /**
     * The source node re-registered on another NBD address (a restart picks new ports) while
     * the sink still reads the old one: points the sink there. Level-triggered on every poll,
     * so a re-registration the backend slept through (its own restart) is followed as well.
     * A failure is logged and retried at the next poll; the sink keeps retrying meanwhile.
     */
    private void followSource(Migration m, Node target, BlockdSink sink) {
        if (sink.source() == null || sink.state().matches("COMMITTED|ABORTED|ABORTING")) {
            return;
        }
        // A node that is not UP has not re-registered: its address is the old one.
        Optional<Node> source = nodes.find(m.sourceNode()).filter(n -> n.state() == NodeState.UP);
        if (source.isEmpty()) {
            return;
        }
        URI reads;
        try {
            reads = new URI(sink.source());
        } catch (URISyntaxException e) {
            return;
        }
        String host = reads.getHost() == null ? "" : reads.getHost().replaceAll("^\\[|\\]$", "");
        Node now = source.get();
        if (host.equals(now.nbdHost()) && reads.getPort() == now.nbdPort()) {
            return;
        }
        LOG.info("migration {}: source node {} is at {}:{} now, its sink on {} still reads {}: repointing", m.id(),
                now.name(), now.nbdHost(), now.nbdPort(), target.name(), sink.source());
        try {
            client.repointSink(target, m.volume(), now.nbdHost(), now.nbdPort());
        } catch (RuntimeException e) {
            LOG.warn("migration {}: repointing the sink on {} to {}:{} failed, retrying at the next poll: {}", m.id(),
                    target.name(), now.nbdHost(), now.nbdPort(), e.getMessage());
        }
    }

    /** Maps the sink's state onto the migration; true if that changed the migration's state. */
    private boolean follow(Migration m, BlockdSink sink) {
        Migration withProgress = m.withProgress(MigrationProgress.of(sink, m.progress().allocatedBytes(), m.targetNode()));
        String condition = withProgress.progress().condition();
        if (condition != null && !condition.equals(m.progress().condition())) {
            if (withProgress.progress().conditionMessage() != null) {
                LOG.warn("migration {}: the target sink is {}: {}", m.id(), condition,
                        withProgress.progress().conditionMessage());
            } else if (m.progress().condition() != null) {
                LOG.info("migration {}: the target sink is {} again", m.id(), condition);
            }
        }
        switch (sink.state()) {
            case "COMMITTED" -> {
                commit(withProgress);
                return true;
            }
            case "ABORTING", "ABORTED" -> {
                // Someone aborted the sink on the node directly: finish the abort on our side too.
                save(withProgress.withPending(PendingAction.ABORT, clock.instant()));
                return true;
            }
            case "ACTIVE", "DEGRADED", "HYDRATED" -> {
                MigrationPhase phase = MigrationPhase.valueOf(sink.state());
                if (phase != m.phase() && m.phase().canMoveTo(phase)) {
                    save(withProgress.withPhase(phase, clock.instant()));
                    LOG.info("migration {}: {}", m.id(), phase);
                    return true;
                }
                remember(withProgress);
                return false;
            }
            case "PROXY" -> {
                if (m.switchStarted() && m.pendingAction() == PendingAction.NONE) {
                    save(withProgress.withPending(PendingAction.SWITCH, clock.instant()));
                    return true;
                }
                remember(withProgress);
                return false;
            }
            default -> throw new IllegalStateException("node '" + m.targetNode() + "' reports unknown sink state "
                    + sink.state());
        }
    }

    /** t2: the target holds the volume now. Recorded first, then the source copy is deleted. */
    private void commit(Migration m) {
        Migration done = save(m.withPhase(MigrationPhase.COMMITTED, clock.instant())
                .withPending(PendingAction.DELETE_SOURCE, clock.instant())
                .withProgress(m.progress().completed()));
        volumes.finishMigration(m.volume(), m.id(), m.targetNode());
        LOG.info("migration {}: COMMITTED, volume {} is on {}", m.id(), m.volume(), m.targetNode());
        try {
            deleteSource(done);
        } catch (RuntimeException e) {
            // The commit stands; the source copy goes at a later round (DELETE_SOURCE is pending),
            // e.g. once a client still connected to it has left. Not the caller's failure.
            noteError(m.id(), e);
        }
    }

    private void deleteSource(Migration m) {
        Node source = node(m.sourceNode());
        client.closeMigrationExport(source, m.volume());
        client.deleteVolume(source, m.volume());
        Migration next = save(m.withPending(m.migrateBack() ? PendingAction.MIGRATE_BACK : PendingAction.NONE,
                clock.instant()).withError(null));
        LOG.info("migration {}: source copy of {} deleted from {}", m.id(), m.volume(), source.name());
        if (next.migrateBack()) {
            migrateBack(next);
        }
    }

    /**
     * The abort this migration was asked for, completed the only way a dm-clone sink allows: a
     * new migration of the volume back to the source node, switched at once (the instance runs
     * on the source, nothing writes on the target). Idempotent: a migration back already
     * under way, or the volume already back, ends the step.
     */
    private void migrateBack(Migration m) {
        Volume v = volumes.get(m.volume());
        Migration back = null;
        if (v.state() == VolumeState.MIGRATING) {
            Migration other = migrations.get(v.migrationId());
            if (other == null || !other.targetNode().equals(m.sourceNode())) {
                throw new ConflictException("migration " + m.id() + " cannot migrate volume '" + m.volume()
                        + "' back to '" + m.sourceNode() + "': it is being migrated by " + v.migrationId(),
                        Map.of("migrationId", m.id(), "volume", m.volume()));
            }
            back = other;
        } else if (!v.node().equals(m.sourceNode())) {
            back = create(new MigrationRequest(m.volume(), m.sourceNode(), m.bandwidthBytesPerSecond(),
                    SwitchMode.MANUAL)).migration();
        }
        if (back != null && back.phase() == MigrationPhase.PREPARED) {
            back = switchNow(back.id());
        }
        save(m.withPending(PendingAction.NONE, clock.instant()));
        LOG.info("migration {}: volume {} migrates back to {}{}", m.id(), m.volume(), m.sourceNode(),
                back == null ? " (it is there already)" : " by migration " + back.id() + ", " + back.phase());
    }

    /**
     * Abort or roll back: drop the sink (after ACTIVE blockd first copies the destination's
     * writes back), then close the export and unfence, so the source is writable again only
     * once it is current.
     */
    private void undo(Migration m) {
        Node source = node(m.sourceNode());
        Node target = node(m.targetNode());
        Optional<BlockdSink> aborted;
        try {
            aborted = client.abortSink(target, m.volume());
        } catch (NodeCallException e) {
            Optional<String> sinkState = e.nodeStatus() == 409
                    ? client.getSink(target, m.volume()).map(BlockdSink::state) : Optional.empty();
            if (sinkState.filter("COMMITTED"::equals).isPresent()) {
                commit(m.withPending(PendingAction.NONE, clock.instant())
                        .withError("abort came too late: the target had already committed"));
                return;
            }
            if (m.pendingAction() == PendingAction.ABORT
                    && sinkState.filter(s -> s.matches("ACTIVE|DEGRADED|HYDRATED")).isPresent()) {
                // The target refuses to copy back (dm-clone copies it): finish, then migrate back.
                save(m.withPending(PendingAction.NONE, clock.instant()).withMigrateBack(clock.instant())
                        .withError(null));
                LOG.info("migration {}: node {} cannot copy the writes made there back ({}); the migration "
                        + "completes and volume {} then migrates back to {}", m.id(), target.name(), e.getMessage(),
                        m.volume(), m.sourceNode());
                return;
            }
            throw e;
        }
        if (aborted.isEmpty() && m.switchStarted() && client.getVolume(target, m.volume()).isPresent()) {
            commit(m.withPending(PendingAction.NONE, clock.instant())
                    .withError("abort came too late: the target had already committed"));
            return;
        }
        client.closeMigrationExport(source, m.volume());
        client.unfence(source, m.volume());
        MigrationPhase end = m.pendingAction() == PendingAction.ROLLBACK ? MigrationPhase.FAILED
                : MigrationPhase.ABORTED;
        save(m.withPhase(end, clock.instant()).withPending(PendingAction.NONE, clock.instant()));
        volumes.finishMigration(m.volume(), m.id(), m.sourceNode());
        LOG.info("migration {}: {}, volume {} stays on {}", m.id(), end, m.volume(), m.sourceNode());
    }

    private void fail(Migration m, String why) {
        save(m.withPhase(MigrationPhase.FAILED, clock.instant()).withPending(PendingAction.NONE, clock.instant())
                .withError(why));
        // Before the switch the source is still authoritative; after it, an operator must look.
        if (!m.switchStarted()) {
            volumes.finishMigration(m.volume(), m.id(), m.sourceNode());
        }
        LOG.error("migration {} FAILED: {}", m.id(), why);
    }

    private void rollBack(String id, RuntimeException cause) {
        Migration m = current(id);
        LOG.warn("migration {}: prepare failed, rolling back: {}", id, cause.getMessage());
        Migration rolling = save(m.withPending(PendingAction.ROLLBACK, clock.instant()).withError(cause.getMessage()));
        try {
            undo(rolling);
        } catch (RuntimeException e) {
            noteError(id, e);
        }
    }

    // ------------------------------------------------------------------ plumbing

    /** After a crash between the two writes of a step, bring the volume in line with its migration. */
    private void reconcileVolumes() {
        for (Migration m : migrations.values()) {
            Optional<Volume> v = volumes.find(m.volume());
            if (v.isEmpty()) {
                continue;
            }
            if (!m.phase().terminal() && v.get().state() == VolumeState.AVAILABLE && v.get().migrationId() == null
                    && v.get().node().equals(m.sourceNode())) {
                volumes.markMigrating(m.volume(), m.id());
            } else if (m.phase().terminal() && m.id().equals(v.get().migrationId())
                    && (m.phase() != MigrationPhase.FAILED || !m.switchStarted())) {
                volumes.finishMigration(m.volume(), m.id(),
                        m.phase() == MigrationPhase.COMMITTED ? m.targetNode() : m.sourceNode());
            }
        }
    }

    private Node node(String name) {
        return nodes.find(name).orElseThrow(() -> new NodeCallException(name, "lookup", 0, "node is not registered"));
    }

    private Migration current(String id) {
        return get(id);
    }

    /** Persists, then publishes: nothing is visible (or acknowledged) before it is durable. */
    private Migration save(Migration m) {
        store.put(KIND, m.id(), m);
        migrations.put(m.id(), m);
        return m;
    }

    /** Progress only: kept in memory, not worth an fsync four times a second. */
    private void remember(Migration m) {
        migrations.put(m.id(), m);
    }

    private void noteError(String id, RuntimeException e) {
        Migration m = current(id);
        String message = e.getMessage() == null ? e.toString() : e.getMessage();
        if (!message.equals(m.error())) {
            LOG.warn("migration {}: {} (will retry)", id, message, e instanceof NodeCallException ? null : e);
        }
        remember(m.withError(message));
    }

    private static boolean isUndoing(Migration m) {
        return m.pendingAction() == PendingAction.ABORT || m.pendingAction() == PendingAction.ROLLBACK;
    }

    private static String describe(Migration m) {
        return m.pendingAction() == PendingAction.NONE ? m.phase().name()
                : m.phase() + " (pending " + m.pendingAction() + ")";
    }

    private ReentrantLock lockOf(String id) {
        return locks.computeIfAbsent(id, k -> new ReentrantLock());
    }

    private <T> T locked(String id, java.util.function.Supplier<T> action) {
        ReentrantLock lock = lockOf(id);
        lock.lock();
        try {
            return action.get();
        } finally {
            lock.unlock();
        }
    }
}
