package io.dlsm.tests.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dlsm.backend.state.StateStore;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/**
 * What every {@link StateStore} promises, run against each implementation with the same
 * assertions: records survive a new store instance (a restarted backend), updates and deletes
 * by their writer succeed, kinds do not leak into each other, ids are checked alike.
 */
abstract class StateStoreContract {

    record Thing(String name, long size, Instant at) {
    }

    static final StateStore.Kind<Thing> THINGS = new StateStore.Kind<>("things", Thing.class);
    /** A kind whose name starts with the other's: a prefix listing must not mix them. */
    static final StateStore.Kind<Thing> THINGS_X = new StateStore.Kind<>("things-x", Thing.class);
    static final Instant AT = Instant.parse("2026-12-07T16:00:00.123456Z");

    /** A new store instance on the same backing data, as a restarted backend opens it. */
    abstract StateStore open();

    @Test
    void aPutRecordIsThereForTheNextInstance() {
        StateStore store = open();
        store.put(THINGS, "a", new Thing("a", 1, AT));
        store.put(THINGS, "b", new Thing("b", 2, AT));

        assertThat(open().loadAll(THINGS)).containsOnlyKeys("a", "b")
                .containsEntry("a", new Thing("a", 1, AT)).containsEntry("b", new Thing("b", 2, AT));
    }

    @Test
    void theWriterUpdatesAndDeletesItsRecords() {
        StateStore store = open();
        store.put(THINGS, "a", new Thing("a", 1, AT));
        store.put(THINGS, "a", new Thing("a", 2, AT));
        store.put(THINGS, "a", new Thing("a", 3, AT));
        store.put(THINGS, "gone", new Thing("gone", 1, AT));
        store.delete(THINGS, "gone");
        store.delete(THINGS, "never-existed");

        assertThat(open().loadAll(THINGS)).containsOnlyKeys("a").containsEntry("a", new Thing("a", 3, AT));
    }

    @Test
    void aRestartedInstanceContinuesWhereTheLastLeftOff() {
        open().put(THINGS, "a", new Thing("a", 1, AT));
        StateStore restarted = open();
        assertThat(restarted.loadAll(THINGS)).containsOnlyKeys("a");

        restarted.put(THINGS, "a", new Thing("a", 2, AT));
        restarted.delete(THINGS, "a");
        restarted.put(THINGS, "a", new Thing("a", 3, AT));

        assertThat(open().loadAll(THINGS)).containsEntry("a", new Thing("a", 3, AT));
    }

    @Test
    void kindsAreSeparate() {
        StateStore store = open();
        store.put(THINGS, "a", new Thing("a", 1, AT));
        store.put(THINGS_X, "b", new Thing("b", 2, AT));

        assertThat(open().loadAll(THINGS)).containsOnlyKeys("a");
        assertThat(open().loadAll(THINGS_X)).containsOnlyKeys("b");
        assertThat(open().loadAll(new StateStore.Kind<>("empty", Thing.class))).isEmpty();
    }

    @Test
    void idsThatCannotTravelBetweenStoresAreRefused() {
        StateStore store = open();
        for (String bad : new String[] {"", ".hidden", "a/b", "../x", "x".repeat(129)}) {
            assertThatThrownBy(() -> store.put(THINGS, bad, new Thing(bad, 1, AT)))
                    .as(bad).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cannot be stored");
        }
        assertThat(open().loadAll(THINGS)).isEmpty();
    }
}
