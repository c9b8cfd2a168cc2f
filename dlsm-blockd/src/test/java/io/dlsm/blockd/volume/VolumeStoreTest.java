package io.dlsm.blockd.volume;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.entry;

import io.dlsm.blockd.api.Json;
import io.dlsm.blockd.nbd.BufferPool;
import io.dlsm.blockd.nbd.server.ExportRegistry;
import io.dlsm.blockd.nbd.server.NbdServer;
import io.dlsm.blockd.nbd.server.RawNbdClient;
import io.dlsm.blockd.posix.LibC;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@Timeout(60)
class VolumeStoreTest {
    private static final long MIB = 1 << 20;
    private static final Instant CREATED = Instant.parse("2024-05-01T12:00:00Z");

    @TempDir
    Path dataDir;
    private ExportRegistry exports;
    private VolumeStore store;
    /** Volumes reported as fenced automatically, in order. */
    private final java.util.List<String> autoFenced = new java.util.concurrent.CopyOnWriteArrayList<>();

    @BeforeEach
    void openStore() throws Exception {
        exports = new ExportRegistry();
        store = newStore(exports);
    }

    @AfterEach
    void closeStore() throws Exception {
        store.close();
    }

    private VolumeStore newStore(ExportRegistry registry) throws Exception {
        VolumeStore s = new VolumeStore(dataDir, LibC.INSTANCE, registry, Json.newMapper(),
                Clock.fixed(CREATED, ZoneOffset.UTC), Runnable::run, autoFenced::add);
        s.open();
        return s;
    }

    /** Closes the current store and opens another one on the same directory. */
    private void reopen() throws Exception {
        store.close();
        exports = new ExportRegistry();
        store = newStore(exports);
    }

    private Path volumes() {
        return dataDir.resolve("volumes");
    }

    private static void assertInvalid(Runnable call, String field) {
        assertThatThrownBy(call::run)
                .isInstanceOfSatisfying(VolumeException.class, e -> {
                    assertThat(e.kind()).isEqualTo(VolumeException.Kind.INVALID);
                    assertThat(e.details()).containsEntry("field", field);
                });
    }

    @Test
    void createdVolumeIsListedExportedAndBackedBySparseFiles() throws Exception {
        Volume v = store.create("vol-1", MIB, false);

        assertThat(v).isEqualTo(new Volume("vol-1", MIB, 0, false, false, 0, 0, "vol-1", null, CREATED));
        assertThat(store.get("vol-1")).isEqualTo(v);
        assertThat(store.list()).extracting(Volume::name).containsExactly("vol-1");
        assertThat(exports.lookup("vol-1")).isPresent();
        assertThat(Files.size(volumes().resolve("vol-1.img"))).isEqualTo(MIB);
        assertThat(volumes().resolve("vol-1.json")).exists();
    }

    @Test
    void listIsSortedByName() {
        store.create("b", MIB, false);
        store.create("a", MIB, true);
        assertThat(store.list()).extracting(Volume::name).containsExactly("a", "b");
    }

    @Test
    void duplicateNameIsAlreadyExists() {
        store.create("dup", MIB, false);
        assertThatThrownBy(() -> store.create("dup", 2 * MIB, false))
                .isInstanceOfSatisfying(VolumeException.class,
                        e -> assertThat(e.kind()).isEqualTo(VolumeException.Kind.ALREADY_EXISTS));
    }

    @Test
    void unknownVolumeIsNotFound() {
        assertThatThrownBy(() -> store.get("nope"))
                .isInstanceOfSatisfying(VolumeException.class, e -> {
                    assertThat(e.kind()).isEqualTo(VolumeException.Kind.NOT_FOUND);
                    assertThat(e.details()).containsEntry("volume", "nope");
                });
    }

    @Test
    void resizeGrowsButRefusesToShrink() throws Exception {
        store.create("grow", MIB, false);
        assertThat(store.resize("grow", 4 * MIB).sizeBytes()).isEqualTo(4 * MIB);
        assertThat(store.device("grow").size()).isEqualTo(4 * MIB);
        assertThat(Files.size(volumes().resolve("grow.img"))).isEqualTo(4 * MIB);
        assertThat(store.resize("grow", 4 * MIB).sizeBytes()).isEqualTo(4 * MIB);

        assertThatThrownBy(() -> store.resize("grow", MIB))
                .isInstanceOfSatisfying(VolumeException.class, e -> {
                    assertThat(e.kind()).isEqualTo(VolumeException.Kind.CONFLICT);
                    assertThat(e.details()).containsEntry("field", "sizeBytes");
                });
        reopen();
        assertThat(store.get("grow").sizeBytes()).isEqualTo(4 * MIB);
    }

    @Test
    void readOnlyToggleAppliesToTheExportAndSurvivesReopen() throws Exception {
        store.create("ro", MIB, false);
        assertThat(store.setReadOnly("ro", true).readOnly()).isTrue();
        assertThat(exports.lookup("ro").orElseThrow().readOnly()).isTrue();
        reopen();
        assertThat(store.get("ro").readOnly()).isTrue();
        assertThat(exports.lookup("ro").orElseThrow().readOnly()).isTrue();
        store.setReadOnly("ro", false);
        reopen();
        assertThat(store.get("ro").readOnly()).isFalse();
    }

    @Test
    void deleteRemovesFilesAndExport() throws Exception {
        store.create("gone", MIB, false);
        store.delete("gone");
        assertThat(volumes().resolve("gone.img")).doesNotExist();
        assertThat(volumes().resolve("gone.json")).doesNotExist();
        assertThat(exports.lookup("gone")).isEmpty();
        assertThatThrownBy(() -> store.get("gone")).isInstanceOf(VolumeException.class);
        // The name is free again.
        store.create("gone", MIB, false);
    }

    @Test
    void deleteIsRefusedWhileAnNbdClientIsConnected() throws Exception {
        store.create("busy", MIB, false);
        ExecutorService workers = Executors.newFixedThreadPool(2);
        NbdServer nbd = new NbdServer(exports, workers, new BufferPool(MIB), 4);
        try {
            InetSocketAddress address = nbd.start(new InetSocketAddress("127.0.0.1", 0));
            try (RawNbdClient client = RawNbdClient.open(address, "busy", false, false)) {
                awaitConnections("busy", 1);
                assertThatThrownBy(() -> store.delete("busy"))
                        .isInstanceOfSatisfying(VolumeException.class, e -> {
                            assertThat(e.kind()).isEqualTo(VolumeException.Kind.CONFLICT);
                            assertThat(e.details()).contains(entry("volume", "busy"), entry("connections", 1));
                        });
                assertThat(volumes().resolve("busy.img")).exists();
            }
            awaitConnections("busy", 0);
            store.delete("busy");
        } finally {
            nbd.close();
            workers.shutdownNow();
            workers.awaitTermination(10, TimeUnit.SECONDS);
        }
    }

    /** The connection attaches on its own thread after the handshake; poll, bounded. */
    private void awaitConnections(String name, int expected) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (store.get(name).connections() != expected) {
            assertThat(System.nanoTime()).as("waiting for %d connection(s)", expected).isLessThan(deadline);
            Thread.sleep(5);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"", ".", "..", ".hidden", "a/b", "../etc", "a\u0000b", "-x", "_x", "a b", "ä"})
    void badNamesAreRejectedNamingTheField(String name) {
        assertInvalid(() -> store.create(name, MIB, false), "name");
    }

    @Test
    void nullAndOverlongNamesAreRejected() {
        assertInvalid(() -> store.create(null, MIB, false), "name");
        assertInvalid(() -> store.create("a".repeat(200), MIB, false), "name");
        assertThat(store.create("a".repeat(VolumeName.MAX_LENGTH), MIB, false).name()).hasSize(128);
    }

    @ParameterizedTest
    @ValueSource(longs = {0, -1, -512, 513, 1000, (1L << 50) + 512, Long.MAX_VALUE})
    void badSizesAreRejectedNamingTheField(long size) {
        assertInvalid(() -> store.create("sized", size, false), "sizeBytes");
        assertThat(volumes().resolve("sized.img")).doesNotExist();
    }

    @Test
    void badResizeSizeIsRejectedNamingTheField() {
        store.create("r", MIB, false);
        assertInvalid(() -> store.resize("r", MIB + 1), "sizeBytes");
    }

    @Test
    void reopenedStoreSeesTheSameVolumesAndContent() throws Exception {
        store.create("keep", MIB, false);
        store.create("also", 2 * MIB, true);
        byte[] data = "still here after a restart".getBytes();
        store.device("keep").write(4096, ByteBuffer.wrap(data), true);
        reopen();

        assertThat(store.list()).extracting(Volume::name, Volume::sizeBytes, Volume::readOnly, Volume::createdAt)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple("also", 2 * MIB, true, CREATED),
                        org.assertj.core.groups.Tuple.tuple("keep", MIB, false, CREATED));
        ByteBuffer read = ByteBuffer.allocate(data.length);
        store.device("keep").read(4096, read);
        assertThat(read.array()).isEqualTo(data);
        assertThat(exports.listedNames()).containsExactly("also", "keep");
    }

    @Test
    void openRemovesADataFileWithoutRecord() throws Exception {
        store.create("real", MIB, false);
        Files.write(volumes().resolve("orphan.img"), new byte[512]);
        reopen();
        assertThat(volumes().resolve("orphan.img")).doesNotExist();
        assertThat(store.list()).extracting(Volume::name).containsExactly("real");
    }

    @Test
    void openSkipsARecordWithoutDataFile() throws Exception {
        store.create("real", MIB, false);
        store.create("lost", MIB, false);
        store.close();
        Files.delete(volumes().resolve("lost.img"));
        exports = new ExportRegistry();
        store = newStore(exports);
        assertThat(store.list()).extracting(Volume::name).containsExactly("real");
        assertThat(exports.lookup("lost")).isEmpty();
    }

    /** A direct writer that records what the store asked of it. */
    private static final class RecordingWriter implements DirectWriter {
        final java.util.List<String> calls = new java.util.ArrayList<>();

        @Override
        public void fence() {
            calls.add("fence");
        }

        @Override
        public void unfence() {
            calls.add("unfence");
        }

        @Override
        public String describe() {
            return "kernel device /dev/mapper/dlsm-vm";
        }
    }

    @Test
    void aDirectWriterCountsAsAWriterAndIsFencedAndUnfencedWithTheVolume() throws Exception {
        store.create("vm", MIB, false);
        RecordingWriter w = new RecordingWriter();
        store.attachDirectWriter("vm", w);
        assertThat(store.get("vm").writers()).isEqualTo(1);

        store.fence("vm");
        assertThat(w.calls).containsExactly("fence");
        assertThat(store.get("vm").fenced()).isTrue();
        store.unfence("vm");
        assertThat(w.calls).containsExactly("fence", "unfence");
        assertThat(store.get("vm").fenced()).isFalse();

        store.detachDirectWriter("vm", w);
        assertThat(store.get("vm").writers()).isZero();
    }

    @Test
    void aPreparedMigrationDoesNotFenceWhileTheDirectWriterIsThereAndFencesWhenItLeaves() throws Exception {
        store.create("vm", MIB, false);
        RecordingWriter w = new RecordingWriter();
        store.attachDirectWriter("vm", w);
        store.openMigrationExport("vm");
        // The VM on this node writes through its kernel device: no NBD writer, yet not gone.
        assertThat(store.get("vm").writers()).isEqualTo(1);
        assertThat(store.get("vm").fenced()).isFalse();

        assertThat(autoFenced).isEmpty();

        store.detachDirectWriter("vm", w);
        assertThat(store.get("vm").fenced()).isTrue();
        assertThat(store.get("vm").writers()).isZero();
        // Gone already: the fence had no device left to stop.
        assertThat(w.calls).isEmpty();
        assertThat(autoFenced).as("the orchestrator hears of the fence").containsExactly("vm");
    }

    @Test
    void onlyAnAutomaticFenceIsReportedAndConfirmingAFenceChangesNothing() throws Exception {
        store.create("vm", MIB, false);
        store.fence("vm");
        assertThat(autoFenced).as("a fence someone asked for is no news to them").isEmpty();
        Path record = volumes().resolve("vm.json");
        java.nio.file.attribute.FileTime written = Files.getLastModifiedTime(record);
        Thread.sleep(20);

        assertThat(store.fence("vm").fenced()).isTrue();
        assertThat(Files.getLastModifiedTime(record)).as("no second record write").isEqualTo(written);
        assertThat(autoFenced).isEmpty();
    }

    @Test
    void aDirectWriterAttachedToAFencedVolumeIsFencedAtOnce() throws Exception {
        store.create("vm", MIB, false);
        store.fence("vm");
        RecordingWriter w = new RecordingWriter();
        store.attachDirectWriter("vm", w);
        assertThat(w.calls).containsExactly("fence");
        // Attaching the same writer again (a restart re-registering it) changes nothing.
        store.attachDirectWriter("vm", w);
        assertThat(store.get("vm").writers()).isEqualTo(1);
        assertThatThrownBy(() -> store.attachDirectWriter("vm", new RecordingWriter()))
                .isInstanceOf(VolumeException.class).hasMessageContaining("already has kernel device");
    }

    @Test
    void deleteIsRefusedWhileADirectWriterIsAttached() throws Exception {
        store.create("vm", MIB, false);
        RecordingWriter w = new RecordingWriter();
        store.attachDirectWriter("vm", w);
        assertThatThrownBy(() -> store.delete("vm")).isInstanceOf(VolumeException.class)
                .hasMessageContaining("in use by kernel device /dev/mapper/dlsm-vm")
                .hasMessageContaining("DELETE /v1/volumes/vm/device")
                .satisfies(e -> assertThat(((VolumeException) e).kind()).isEqualTo(VolumeException.Kind.CONFLICT));
        store.detachDirectWriter("vm", w);
        store.delete("vm");
        assertThat(store.exists("vm")).isFalse();
    }
}
