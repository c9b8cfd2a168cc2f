package io.dlsm.backend.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileStateStoreTest {

    record Thing(String name, long size, Instant at) {
    }

    static final StateStore.Kind<Thing> THINGS = new StateStore.Kind<>("things", Thing.class);

    @TempDir
    Path dir;

    @Test
    void recordsSurviveAReopenAndLeaveNoTemporaryFiles() throws Exception {
        FileStateStore store = new FileStateStore(dir);
        Instant at = Instant.parse("2030-01-02T03:04:05Z");
        store.put(THINGS, "a", new Thing("a", 1, at));
        store.put(THINGS, "a", new Thing("a", 2, at));
        store.put(THINGS, "b", new Thing("b", 3, at));
        store.delete(THINGS, "b");
        store.delete(THINGS, "never-was");

        assertThat(new FileStateStore(dir).loadAll(THINGS)).containsOnlyKeys("a")
                .containsEntry("a", new Thing("a", 2, at));
        try (var files = Files.list(dir.resolve("things"))) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("a.json");
        }
        assertThat(Files.readString(dir.resolve("things/a.json"))).contains("\"2030-01-02T03:04:05Z\"");
    }

    @Test
    void aLeftoverTemporaryFileFromACrashIsIgnored() throws Exception {
        Files.createDirectories(dir.resolve("things"));
        Files.writeString(dir.resolve("things/.a.json.tmp"), "{\"name\":");

        assertThat(new FileStateStore(dir).loadAll(THINGS)).isEmpty();
    }

    @Test
    void idsThatAreNotSafeFileNamesAreRefused() {
        FileStateStore store = new FileStateStore(dir);
        assertThatThrownBy(() -> store.put(THINGS, "../x", new Thing("x", 0, Instant.EPOCH)))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aCorruptRecordFailsTheLoadInsteadOfBeingSkipped() throws Exception {
        Files.createDirectories(dir.resolve("things"));
        Files.writeString(dir.resolve("things/a.json"), "{not json");

        assertThatThrownBy(() -> new FileStateStore(dir).loadAll(THINGS)).isInstanceOf(StateStoreException.class);
    }
}
