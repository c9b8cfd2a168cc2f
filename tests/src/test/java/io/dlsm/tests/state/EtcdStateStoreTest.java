package io.dlsm.tests.state;

import static io.dlsm.tests.state.StateStoreContract.AT;
import static io.dlsm.tests.state.StateStoreContract.THINGS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dlsm.backend.state.EtcdStateStore;
import io.dlsm.backend.state.FileStateStore;
import io.dlsm.backend.state.StateConflictException;
import io.dlsm.backend.state.StateStoreUnavailableException;
import io.dlsm.tests.state.StateStoreContract.Thing;
import io.dlsm.tests.support.EtcdProcess;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What only a shared store must do, against a real etcd: two backends' stores never silently
 * overwrite each other, data survives an etcd crash, and an unreachable etcd is reported as
 * such instead of hanging or being acknowledged.
 */
class EtcdStateStoreTest {

    private static final String PREFIX = "/dlsm";

    @TempDir
    Path dir;

    private EtcdProcess etcd;
    private Client client;

    @BeforeEach
    void startEtcd() throws Exception {
        etcd = EtcdProcess.start(dir.resolve("etcd"));
        client = Client.builder().endpoints(etcd.endpoint()).build();
        // The first call also connects (slow on a busy machine); the short-timeout stores below
        // must time out on a dead etcd only, not on that.
        client.getKVClient().get(ByteSequence.from("/warm-up", StandardCharsets.UTF_8)).get(60, TimeUnit.SECONDS);
    }

    @AfterEach
    void stopEtcd() {
        client.close();
        etcd.close();
    }

    private EtcdStateStore store() {
        return new EtcdStateStore(client, PREFIX);
    }

    @Test
    void aStaleUpdateFromAnotherInstanceFailsAndChangesNothing() {
        EtcdStateStore a = store();
        a.put(THINGS, "x", new Thing("x", 1, AT));
        EtcdStateStore b = store();
        b.loadAll(THINGS);
        a.put(THINGS, "x", new Thing("x", 2, AT));

        assertThatThrownBy(() -> b.put(THINGS, "x", new Thing("x", 99, AT)))
                .isInstanceOf(StateConflictException.class)
                .hasMessageContaining("things/x was changed in etcd by another writer")
                .hasMessageContaining("nothing was written");
        assertThatThrownBy(() -> b.delete(THINGS, "x")).isInstanceOf(StateConflictException.class);
        assertThat(store().loadAll(THINGS)).containsEntry("x", new Thing("x", 2, AT));

        // Reloading is how the loser catches up; then it may write again, and A is the stale one.
        b.loadAll(THINGS);
        b.put(THINGS, "x", new Thing("x", 3, AT));
        assertThatThrownBy(() -> a.put(THINGS, "x", new Thing("x", 4, AT))).isInstanceOf(StateConflictException.class);
        assertThat(store().loadAll(THINGS)).containsEntry("x", new Thing("x", 3, AT));
    }

    @Test
    void creatingARecordAnotherInstanceCreatedMeanwhileIsAConflict() {
        EtcdStateStore a = store();
        EtcdStateStore b = store();
        a.loadAll(THINGS);
        b.loadAll(THINGS);
        a.put(THINGS, "new", new Thing("new", 1, AT));

        assertThatThrownBy(() -> b.put(THINGS, "new", new Thing("new", 2, AT)))
                .isInstanceOf(StateConflictException.class).hasMessageContaining("this backend last saw no such record");
        assertThat(store().loadAll(THINGS)).containsEntry("new", new Thing("new", 1, AT));
    }

    @Test
    void aDeleteByAnotherInstanceIsNotUndoneByAStaleWrite() {
        EtcdStateStore a = store();
        a.put(THINGS, "x", new Thing("x", 1, AT));
        EtcdStateStore b = store();
        b.loadAll(THINGS);
        a.delete(THINGS, "x");

        assertThatThrownBy(() -> b.put(THINGS, "x", new Thing("x", 2, AT)))
                .isInstanceOf(StateConflictException.class).hasMessageContaining("now absent");
        assertThat(store().loadAll(THINGS)).isEmpty();
    }

    @Test
    void theValueIsTheRecordsJsonUnderPrefixKindId() throws Exception {
        store().put(THINGS, "x", new Thing("x", 7, AT));
        String raw = client.getKVClient().get(ByteSequence.from("/dlsm/things/x", StandardCharsets.UTF_8))
                .get(10, TimeUnit.SECONDS).getKvs().get(0).getValue().toString(StandardCharsets.UTF_8);
        assertThat(raw).isEqualTo("{\"name\":\"x\",\"size\":7,\"at\":\"2026-12-07T16:00:00.123456Z\"}");
        // The same JSON the file store writes (there pretty-printed): records move between stores.
        assertThat(FileStateStore.defaultMapper().readValue(raw, Thing.class)).isEqualTo(new Thing("x", 7, AT));
    }

    @Test
    void acknowledgedWritesSurviveAKilledEtcd() {
        EtcdStateStore a = store();
        for (int i = 0; i < 50; i++) {
            a.put(THINGS, "r" + i, new Thing("r" + i, i, AT));
        }
        etcd.kill9();
        etcd.restart();

        // A new client too: nothing cached on our side can help.
        try (Client fresh = Client.builder().endpoints(etcd.endpoint()).build()) {
            assertThat(new EtcdStateStore(fresh, PREFIX).loadAll(THINGS)).hasSize(50)
                    .containsEntry("r49", new Thing("r49", 49, AT));
        }
        // The writer itself carries on after the restart.
        a.put(THINGS, "r0", new Thing("r0", 100, AT));
        assertThat(store().loadAll(THINGS)).containsEntry("r0", new Thing("r0", 100, AT));
    }

    @Test
    void anUnreachableEtcdIsReportedInBoundedTimeAndTheStoreRecovers() {
        EtcdStateStore a = new EtcdStateStore(client, PREFIX, FileStateStore.defaultMapper(), Duration.ofSeconds(2));
        a.put(THINGS, "x", new Thing("x", 1, AT));
        etcd.kill9();

        long started = System.nanoTime();
        assertThatThrownBy(() -> a.put(THINGS, "x", new Thing("x", 2, AT)))
                .isInstanceOf(StateStoreUnavailableException.class)
                .hasMessageContaining("etcd")
                .hasMessageContaining("retry later");
        assertThatThrownBy(() -> a.loadAll(THINGS)).isInstanceOf(StateStoreUnavailableException.class);
        // Bounded by the store's timeout (2 s per call), not by the client's retries; generous margin.
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(30));

        etcd.restart();
        // The lost write may or may not have reached etcd; either way the writer is not locked out.
        a.put(THINGS, "x", new Thing("x", 3, AT));
        assertThat(store().loadAll(THINGS)).containsEntry("x", new Thing("x", 3, AT));
    }

    @Test
    void aWriteWhoseAnswerWasLostIsAdoptedNotReportedAsAConflict() {
        // The uncertain write reached etcd (here written by a second instance with the very same
        // bytes, as if the answer had been lost); the next write of the key must not conflict.
        EtcdStateStore a = new EtcdStateStore(client, PREFIX, FileStateStore.defaultMapper(), Duration.ofSeconds(2));
        a.put(THINGS, "x", new Thing("x", 1, AT));
        etcd.kill9();
        assertThatThrownBy(() -> a.put(THINGS, "x", new Thing("x", 2, AT)))
                .isInstanceOf(StateStoreUnavailableException.class);
        etcd.restart();
        EtcdStateStore other = store();
        other.loadAll(THINGS);
        other.put(THINGS, "x", new Thing("x", 2, AT));

        a.put(THINGS, "x", new Thing("x", 5, AT));
        assertThat(store().loadAll(THINGS)).containsEntry("x", new Thing("x", 5, AT));
    }
}
