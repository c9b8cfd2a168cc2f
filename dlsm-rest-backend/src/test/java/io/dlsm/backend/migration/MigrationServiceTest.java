package io.dlsm.backend.migration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dlsm.backend.api.error.ConflictException;
import io.dlsm.backend.node.NodeRegistration;
import io.dlsm.backend.node.NodeRegistry;
import io.dlsm.backend.server.MutableClock;
import io.dlsm.backend.state.FileStateStore;
import io.dlsm.backend.state.StateStore;
import io.dlsm.backend.volume.VolumeService;
import io.dlsm.backend.volume.VolumeState;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The orchestrator against {@link FakeNodes}: every interleaving of Nova's calls (as the Cinder
 * driver turns them into backend calls) with what may switch a migration, each ending with the
 * question that matters: is the instance's disk complete, and writable, on the node where Nova
 * runs the instance?
 *
 * <p>The driver's mapping (docs/openstack.md): {@code initialize_connection(destination)} creates
 * a migration with {@code switchMode: manual}; {@code terminate_connection(source)} switches it;
 * {@code terminate_connection(destination)} aborts it, or migrates the volume back if it
 * committed already. Nothing else switches a manual migration except an operator's explicit
 * switch, which the "forced switch" cases stand for.
 */
class MigrationServiceTest {
    private static final long SIZE = 1 << 20;

    @TempDir
    Path stateDir;
    final FakeNodes nodes = new FakeNodes();
    final MutableClock clock = new MutableClock(Instant.parse("2030-01-01T00:00:00Z"));
    /** Every write the guest had acknowledged, block -> value: what the disk must hold. */
    final Map<Long, Integer> model = new TreeMap<>();
    StateStore store;
    VolumeService volumes;
    MigrationService service;
    int nextValue = 1;

    @BeforeEach
    void clusterWithAVolumeOnA() {
        start(new FileStateStore(stateDir));
        volumes.create("vol", SIZE, "a");
        nodes.attachWriter("a", "vol");
        guestWrites("a", 0, 1, 2);
    }

    private void start(StateStore s) {
        store = s;
        NodeRegistry registry = new NodeRegistry(store, clock);
        nodes.addNode("a", 7001);
        nodes.addNode("b", 7101);
        registry.register(new NodeRegistration("a", "http://127.0.0.1:7000", "127.0.0.1", 7001, null, null, null));
        registry.register(new NodeRegistration("b", "http://127.0.0.1:7100", "127.0.0.1", 7101, null, null, null));
        volumes = new VolumeService(store, registry, nodes, clock);
        service = new MigrationService(store, registry, volumes, nodes, clock);
    }

    @AfterEach
    void closeStore() {
        store.close();
    }

    // ------------------------------------------------------------------ Nova's calls, as the driver makes them

    /** pre_live_migration: the destination's attachment. */
    private Migration initializeConnectionOnB() {
        return service.create(new MigrationRequest("vol", "b", 0L, SwitchMode.MANUAL)).migration();
    }

    /** post_live_migration: the source lets go (409 = switched already, which the driver accepts). */
    private void terminateConnectionOnA(String id) {
        try {
            service.switchNow(id);
        } catch (ConflictException e) {
            assertThat(service.get(id).phase()).isIn(MigrationPhase.COMMITTED);
        }
    }

    /** Rollback: the destination gives up; the instance stays on A. */
    private void terminateConnectionOnB(String id) {
        if (service.get(id).phase() == MigrationPhase.COMMITTED && !service.get(id).migrateBack()) {
            assertThatThrownBy(() -> service.abort(id)).isInstanceOf(ConflictException.class)
                    .hasMessageContaining("migrate it back");
            Migration back = service.create(new MigrationRequest("vol", "a", 0L, SwitchMode.MANUAL)).migration();
            service.switchNow(back.id());
            return;
        }
        service.abort(id);
    }

    // ------------------------------------------------------------------ the guest and the nodes

    private void guestWrites(String node, long... blocks) {
        for (long b : blocks) {
            int value = nextValue++;
            assertThat(nodes.write(node, "vol", b, value)).as("write of block %d on %s", b, node).isTrue();
            model.put(b, value);
        }
    }

    private void drive(String id, int rounds) {
        for (int i = 0; i < rounds; i++) {
            service.driveInBackground(id);
        }
    }

    /** The disk is on {@code node} for the backend, holds every write, and takes new ones. */
    private void assertDiskCompleteAndWritableOn(String node) {
        assertThat(volumes.get("vol").node()).isEqualTo(node);
        assertThat(nodes.content(node, "vol")).as("content on %s", node).contains(model);
        guestWrites(node, 40);
        assertThat(nodes.content(node, "vol")).contains(model);
    }

    // ------------------------------------------------------------------ the rule: only Nova's signal switches

    @Test
    void aManualMigrationNeverSwitchesOnItsOwnWhateverTheSourceSees() {
        nodes.detachWriter("a", "vol");
        Migration m = initializeConnectionOnB();
        assertThat(m.phase()).isEqualTo(MigrationPhase.PREPARED);
        assertThat(m.pendingAction()).isEqualTo(PendingAction.NONE);

        nodes.attachWriter("a", "vol");
        nodes.detachWriter("a", "vol"); // the guest dropped its connection: the source fences itself
        assertThat(nodes.fenced("a", "vol")).isTrue();
        service.sourceFenced("a", "vol");
        drive(m.id(), 5);

        assertThat(service.get(m.id()).phase()).isEqualTo(MigrationPhase.PREPARED);
        assertThat(service.get(m.id()).switchStarted()).isFalse();
        assertThat(nodes.calls).noneMatch(c -> c.startsWith("b:activate"));
    }

    @Test
    void anAutomaticMigrationStillSwitchesWhenTheSourceHasNoWriter() {
        nodes.detachWriter("a", "vol");
        Migration m = service.create(new MigrationRequest("vol", "b", 0L, SwitchMode.AUTO)).migration();
        assertThat(m.phase()).isEqualTo(MigrationPhase.ACTIVE);
    }

    // ------------------------------------------------------------------ the interleavings

    @Test
    void completedLiveMigrationEndsOnTheDestination() {
        Migration m = initializeConnectionOnB();
        guestWrites("a", 3);
        nodes.detachWriter("a", "vol"); // memory migration done: the source QEMU quits
        guestWrites("b", 4, 0);          // the destination QEMU runs, proxied to A
        terminateConnectionOnA(m.id());
        assertThat(service.get(m.id()).phase()).isEqualTo(MigrationPhase.ACTIVE);
        guestWrites("b", 5);
        nodes.hydrate("b", "vol");
        nodes.commit("b", "vol");
        drive(m.id(), 3);

        assertThat(service.get(m.id()).phase()).isEqualTo(MigrationPhase.COMMITTED);
        assertThat(service.get(m.id()).finished()).isTrue();
        assertThat(nodes.hasVolume("a", "vol")).as("source copy deleted").isFalse();
        assertDiskCompleteAndWritableOn("b");
    }

    @Test
    void rollbackWhilePreparedKeepsTheSourceAuthoritative() {
        Migration m = initializeConnectionOnB();
        guestWrites("a", 3);
        terminateConnectionOnB(m.id());

        assertThat(service.get(m.id()).phase()).isEqualTo(MigrationPhase.ABORTED);
        assertThat(nodes.sinkState("b", "vol")).isEmpty();
        assertThat(nodes.fenced("a", "vol")).isFalse();
        assertDiskCompleteAndWritableOn("a");
    }

    @Test
    void rollbackWhilePreparedAfterTheGuestLeftTheSourceUnfencesIt() {
        Migration m = initializeConnectionOnB();
        nodes.detachWriter("a", "vol");
        guestWrites("b", 7);
        terminateConnectionOnB(m.id());

        assertThat(service.get(m.id()).phase()).isEqualTo(MigrationPhase.ABORTED);
        nodes.attachWriter("a", "vol");
        assertDiskCompleteAndWritableOn("a");
    }

    @Test
    void rollbackAfterAForcedSwitchCopiesTheDestinationWritesBack() {
        Migration m = initializeConnectionOnB();
        nodes.detachWriter("a", "vol");
        service.switchNow(m.id()); // an operator (or an old auto-mode migration) switched
        guestWrites("b", 2, 9);    // the guest ran on B meanwhile (post-copy)

        terminateConnectionOnB(m.id());

        Migration done = service.get(m.id());
        assertThat(done.phase()).isEqualTo(MigrationPhase.ABORTED);
        assertThat(done.finished()).isTrue();
        assertThat(nodes.sinkState("b", "vol")).isEmpty();
        assertThat(nodes.fenced("a", "vol")).isFalse();
        assertThat(volumes.get("vol").state()).isEqualTo(VolumeState.AVAILABLE);
        nodes.attachWriter("a", "vol");
        assertDiskCompleteAndWritableOn("a");
    }

    @Test
    void rollbackAfterHydrationBeforeTheCommitCopiesBackToo() {
        Migration m = initializeConnectionOnB();
        nodes.detachWriter("a", "vol");
        service.switchNow(m.id());
        guestWrites("b", 11);
        nodes.hydrate("b", "vol");
        drive(m.id(), 2);
        assertThat(service.get(m.id()).phase()).isEqualTo(MigrationPhase.HYDRATED);

        terminateConnectionOnB(m.id());

        assertThat(service.get(m.id()).phase()).isEqualTo(MigrationPhase.ABORTED);
        assertDiskCompleteAndWritableOn("a");
    }

    @Test
    void rollbackAfterTheCommitMigratesTheVolumeBack() {
        Migration m = initializeConnectionOnB();
        nodes.detachWriter("a", "vol");
        service.switchNow(m.id());
        guestWrites("b", 12);
        nodes.hydrate("b", "vol");
        nodes.commit("b", "vol");
        drive(m.id(), 3);
        assertThat(service.get(m.id()).phase()).isEqualTo(MigrationPhase.COMMITTED);

        terminateConnectionOnB(m.id());

        Migration back = service.activeFor("vol").orElseThrow();
        assertThat(back.sourceNode()).isEqualTo("b");
        assertThat(back.targetNode()).isEqualTo("a");
        assertThat(back.phase()).isEqualTo(MigrationPhase.ACTIVE);
        guestWrites("a", 13); // the instance on A reaches its disk through A's sink at once
        nodes.hydrate("a", "vol");
        nodes.commit("a", "vol");
        drive(back.id(), 3);
        assertThat(service.get(back.id()).phase()).isEqualTo(MigrationPhase.COMMITTED);
        assertDiskCompleteAndWritableOn("a");
    }

    @Test
    void anAbortThatFindsTheSinkCommittedAnswersCommittedEvenWhileTheSourceCannotBeDeletedYet() {
        Migration m = initializeConnectionOnB();
        nodes.detachWriter("a", "vol");
        service.switchNow(m.id());
        guestWrites("b", 19);
        nodes.attachWriter("a", "vol"); // a client reconnected to the (fenced) source
        nodes.hydrate("b", "vol");
        nodes.commit("b", "vol");       // before the backend's next poll

        Migration answer = service.abort(m.id());

        assertThat(answer.phase()).isEqualTo(MigrationPhase.COMMITTED);
        assertThat(answer.pendingAction()).as("source deletion owed").isEqualTo(PendingAction.DELETE_SOURCE);
        assertThat(nodes.hasVolume("a", "vol")).isTrue();
        nodes.detachWriter("a", "vol");
        drive(m.id(), 2);
        assertThat(nodes.hasVolume("a", "vol")).isFalse();
        assertThat(service.get(m.id()).finished()).isTrue();
        assertDiskCompleteAndWritableOn("b"); // the driver then migrates it back (test_call_order)
    }

    @Test
    void postLiveMigrationAfterAForcedSwitchOrCommitIsFine() {
        Migration m = initializeConnectionOnB();
        nodes.detachWriter("a", "vol");
        service.switchNow(m.id());
        guestWrites("b", 14);
        terminateConnectionOnA(m.id()); // switched already: nothing to do
        nodes.hydrate("b", "vol");
        nodes.commit("b", "vol");
        drive(m.id(), 3);
        terminateConnectionOnA(m.id()); // committed already: the driver takes the 409
        assertThat(service.get(m.id()).phase()).isEqualTo(MigrationPhase.COMMITTED);
        assertDiskCompleteAndWritableOn("b");
    }

    @Test
    void aDmCloneSinkThatCannotCopyBackCompletesThenMigratesBack() {
        nodes.copiesWithDmClone("b");
        Migration m = initializeConnectionOnB();
        nodes.detachWriter("a", "vol");
        service.switchNow(m.id());
        guestWrites("b", 15, 1);

        terminateConnectionOnB(m.id());

        Migration asked = service.get(m.id());
        assertThat(asked.migrateBack()).isTrue();
        assertThat(asked.phase()).isEqualTo(MigrationPhase.ACTIVE);
        assertThat(service.abort(m.id()).migrateBack()).as("a retried abort gets the same answer").isTrue();
        nodes.hydrate("b", "vol");
        nodes.commit("b", "vol");
        drive(m.id(), 4);

        assertThat(service.get(m.id()).phase()).isEqualTo(MigrationPhase.COMMITTED);
        assertThat(service.get(m.id()).finished()).isTrue();
        Migration back = service.activeFor("vol").orElseThrow();
        assertThat(back.targetNode()).isEqualTo("a");
        assertThat(back.phase()).isEqualTo(MigrationPhase.ACTIVE);
        guestWrites("a", 16);
        nodes.hydrate("a", "vol");
        nodes.commit("a", "vol");
        drive(back.id(), 3);
        assertDiskCompleteAndWritableOn("a");
    }

    @Test
    void aDmCloneMigrateBackSurvivesABackendRestart() {
        nodes.copiesWithDmClone("b");
        Migration m = initializeConnectionOnB();
        nodes.detachWriter("a", "vol");
        service.switchNow(m.id());
        guestWrites("b", 17);
        terminateConnectionOnB(m.id());
        nodes.hydrate("b", "vol");
        nodes.commit("b", "vol");
        // The backend dies with the migration back owed: the flag is on the persisted record.
        store.close();
        FileStateStore reopened = new FileStateStore(stateDir);
        Migration owed = reopened.loadAll(MigrationService.KIND).get(m.id());
        assertThat(owed.migrateBack()).isTrue();
        start(reopened);
        drive(m.id(), 4);

        Migration back = service.activeFor("vol").orElseThrow();
        assertThat(back.targetNode()).isEqualTo("a");
        nodes.hydrate("a", "vol");
        nodes.commit("a", "vol");
        drive(back.id(), 3);
        assertDiskCompleteAndWritableOn("a");
    }

    @Test
    void abortsAreIdempotent() {
        Migration m = initializeConnectionOnB();
        nodes.detachWriter("a", "vol");
        service.switchNow(m.id());
        guestWrites("b", 18);
        terminateConnectionOnB(m.id());
        terminateConnectionOnB(m.id());
        assertThat(service.get(m.id()).phase()).isEqualTo(MigrationPhase.ABORTED);
        assertThat(nodes.calls.stream().filter(c -> c.equals("b:abortSink vol")).count()).isEqualTo(1);
        nodes.attachWriter("a", "vol");
        assertDiskCompleteAndWritableOn("a");
    }

    // ------------------------------------------------------------------ one migration is prepared once

    @Test
    void theWatcherCannotPrepareAMigrationItsCreatorIsPreparing() throws Exception {
        // The watcher runs the moment the migration is published (its first save), on its own
        // thread, and has finished before the creator goes on: the race that prepared twice.
        ExecutorService watcher = Executors.newSingleThreadExecutor();
        AtomicBoolean raced = new AtomicBoolean();
        StateStore racing = new StateStore() {
            final FileStateStore real = new FileStateStore(stateDir.resolve("racing"));

            @Override
            public <T> void put(Kind<T> kind, String id, T value) {
                real.put(kind, id, value);
                if (value instanceof Migration && raced.compareAndSet(false, true)) {
                    try {
                        watcher.submit(() -> service.driveInBackground(id)).get();
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }
            }

            @Override
            public void delete(Kind<?> kind, String id) {
                real.delete(kind, id);
            }

            @Override
            public <T> Map<String, T> loadAll(Kind<T> kind) {
                return real.loadAll(kind);
            }
        };
        store.close();
        FakeNodes fresh = new FakeNodes();
        fresh.addNode("a", 7001);
        fresh.addNode("b", 7101);
        NodeRegistry registry = new NodeRegistry(racing, clock);
        registry.register(new NodeRegistration("a", "http://127.0.0.1:7000", "127.0.0.1", 7001, null, null, null));
        registry.register(new NodeRegistration("b", "http://127.0.0.1:7100", "127.0.0.1", 7101, null, null, null));
        volumes = new VolumeService(racing, registry, fresh, clock);
        service = new MigrationService(racing, registry, volumes, fresh, clock);
        store = racing;
        volumes.create("vol", SIZE, "a");
        fresh.attachWriter("a", "vol");

        service.create(new MigrationRequest("vol", "b", 0L, SwitchMode.MANUAL));
        watcher.shutdown();

        assertThat(raced).isTrue();
        assertThat(fresh.calls.stream().filter(c -> c.equals("b:createSink vol")).count()).isEqualTo(1);
        assertThat(fresh.calls.stream().filter(c -> c.equals("a:openMigrationExport vol")).count()).isEqualTo(1);
    }
}
