package io.dlsm.blockd.dm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dlsm.blockd.sink.SinkState;
import io.dlsm.blockd.volume.DirectWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sink lifecycle driving /dev/mapper/dlsm-VOL, checked as the exact commands each event
 * issues through the real dmsetup/nbd-client/losetup wrappers over the recording runner.
 */
class KernelDevicesTest {
    static final long SIZE = 32L << 20;
    static final String STATUS = "DM_DISABLE_UDEV=1 dmsetup status dlsm-vol1";
    /** What fencing dlsm-vol1 issues. */
    static final String[] SWAP_TO_ERROR = swapTo("0 65536 error");
    /** What unfencing dlsm-vol1 (linear over loop2) issues. */
    static final String[] SWAP_TO_LOOP2 = swapTo("0 65536 linear /dev/loop2 0");

    static String[] swapTo(String table) {
        return new String[] {"DM_DISABLE_UDEV=1 dmsetup suspend dlsm-vol1",
                "DM_DISABLE_UDEV=1 dmsetup load dlsm-vol1 --table '" + table + "'",
                "DM_DISABLE_UDEV=1 dmsetup resume dlsm-vol1"};
    }
    static final KernelPathRecord.NbdSource SOURCE = new KernelPathRecord.NbdSource("192.0.2.10", 10809, "vol1@t0k");

    @TempDir
    Path dir;

    /** Sinks and volumes in maps, as tests move them through their phases. */
    final class FakeInventory implements KernelDevices.Inventory {
        final Map<String, KernelDevices.SinkView> sinks = new HashMap<>();
        final Map<String, KernelDevices.LocalVolume> volumes = new HashMap<>();
        List<String> nbd = new ArrayList<>(List.of("/dev/nbd3", "/dev/nbd4"));
        List<String> loops = new ArrayList<>(List.of("/dev/loop2", "/dev/loop5", "/dev/loop6"));
        /** What the volume store would count as writers past its gate. */
        final Map<String, DirectWriter> directWriters = new HashMap<>();

        void sink(String name, SinkState s) {
            sinks.put(name, new KernelDevices.SinkView(SIZE, s, SOURCE, 65536, 0));
        }

        /** What a commit does: the sink's file becomes the volume's. */
        void commit(String name) {
            sink(name, SinkState.COMMITTED);
            volumes.put(name, new KernelDevices.LocalVolume(SIZE, volumeFile(name), false));
        }

        @Override
        public Optional<KernelDevices.LocalVolume> volume(String name) {
            return Optional.ofNullable(volumes.get(name));
        }

        @Override
        public Optional<KernelDevices.SinkView> sink(String name) {
            return Optional.ofNullable(sinks.get(name));
        }

        @Override
        public Path volumeFile(String name) {
            return Path.of("/data/volumes/" + name + ".img");
        }

        @Override
        public List<String> freeNbdDevices() {
            return nbd;
        }

        @Override
        public List<String> freeLoopDevices() {
            return loops;
        }

        @Override
        public void attachDirectWriter(String volume, DirectWriter writer) {
            assertThat(directWriters.put(volume, writer)).isNull();
        }

        @Override
        public void detachDirectWriter(String volume, DirectWriter writer) {
            assertThat(directWriters.remove(volume)).isSameAs(writer);
        }

        /** Sinks handed to dm-clone, and what it reported of them. */
        final List<String> kernelEvents = new ArrayList<>();

        Path sinkFile(String name) {
            return Path.of("/data/sinks/" + name + ".img");
        }

        @Override
        public Path handOverToKernel(String sink) {
            kernelEvents.add("handOver " + sink);
            return sinkFile(sink);
        }

        @Override
        public void kernelProgress(String sink, long hydrated) {
            kernelEvents.add("progress " + sink + " " + hydrated);
        }

        @Override
        public void kernelHydrated(String sink) {
            kernelEvents.add("hydrated " + sink);
        }
    }

    final FakeInventory inv = new FakeInventory();

    KernelDevices devices(KernelPathFixture f, KernelPathMode mode) throws Exception {
        return new KernelDevices(f.paths, f.paths.recoverAll(), mode, inv, "127.0.0.1", 10809, dir.resolve("kernel"));
    }

    @Test
    void linearOverNbdSinkFromCreationThroughCommitToDeletion() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        KernelDevices d = devices(f, KernelPathMode.LINEAR_OVER_NBD);
        inv.sink("vol1", SinkState.PROXY);

        KernelDevices.Device dev = d.create("vol1");
        assertThat(dev.devicePath()).isEqualTo("/dev/mapper/dlsm-vol1");
        assertThat(dev.state()).isEqualTo(KernelPathState.PROXY);
        assertThat(f.runner.take()).containsExactly(
                "nbd-client 127.0.0.1 10809 /dev/nbd3 -N vol1",
                "DM_DISABLE_UDEV=1 dmsetup create dlsm-vol1 --table '0 65536 linear /dev/nbd3 0'");

        // Idempotent: a second POST answers the same device without a command.
        assertThat(d.create("vol1")).isEqualTo(dev);
        assertThat(f.runner.take()).isEmpty();

        inv.sink("vol1", SinkState.ACTIVE);
        d.reconcile("vol1");
        inv.sink("vol1", SinkState.HYDRATED);
        d.reconcile("vol1");
        // HYDRATED alone: the volume file the loop device goes on exists only after the commit.
        assertThat(f.runner.take()).isEmpty();

        inv.commit("vol1");
        d.reconcile("vol1");
        assertThat(f.runner.take()).containsExactly(
                "losetup /dev/loop2 /data/volumes/vol1.img",
                "DM_DISABLE_UDEV=1 dmsetup suspend dlsm-vol1",
                "DM_DISABLE_UDEV=1 dmsetup load dlsm-vol1 --table '0 65536 linear /dev/loop2 0'",
                "DM_DISABLE_UDEV=1 dmsetup resume dlsm-vol1",
                "nbd-client -d /dev/nbd3");
        assertThat(d.get("vol1").orElseThrow().state()).isEqualTo(KernelPathState.LOCAL);
        // From here the kernel writes the volume's file itself, past blockd's write gate.
        assertThat(inv.directWriters).containsOnlyKeys("vol1");

        d.reconcileAll();
        assertThat(f.runner.take()).isEmpty();

        assertThat(d.delete("vol1")).isTrue();
        assertThat(inv.directWriters).isEmpty();
        assertThat(f.runner.take()).containsExactly(
                "DM_DISABLE_UDEV=1 dmsetup remove dlsm-vol1",
                "nbd-client -d /dev/nbd3",
                "losetup -d /dev/loop2");
        assertThat(d.delete("vol1")).isFalse();
        assertThat(f.runner.take()).isEmpty();
        assertThat(f.store.all()).isEmpty();
    }

    @Test
    void dmCloneCopiesIntoTheSinksOwnFileWhichTheCommitMakesTheVolume() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        KernelDevices d = devices(f, KernelPathMode.DM_CLONE);
        inv.sink("vol1", SinkState.PROXY);

        d.create("vol1");
        assertThat(f.runner.take()).containsExactly(
                "nbd-client 192.0.2.10 10809 /dev/nbd3 -N vol1@t0k",
                "DM_DISABLE_UDEV=1 dmsetup create dlsm-vol1 --table '0 65536 linear /dev/nbd3 0'");
        // The sink's copier and export stand aside: dm-clone's destination is the sink's file.
        assertThat(inv.kernelEvents).containsExactly("handOver vol1");
        Path meta = dir.resolve("kernel/vol1.clone.meta");
        assertThat(Files.size(meta)).isPositive();

        inv.sink("vol1", SinkState.ACTIVE);
        d.reconcile("vol1");
        assertThat(f.runner.take()).containsExactly(
                "losetup /dev/loop5 " + meta,
                "losetup /dev/loop2 /data/sinks/vol1.img",
                "DM_DISABLE_UDEV=1 dmsetup suspend dlsm-vol1",
                "DM_DISABLE_UDEV=1 dmsetup load dlsm-vol1 --table '0 65536 clone /dev/loop5 /dev/loop2 /dev/nbd3 128"
                        + " 1 no_hydration 4 hydration_threshold 64 hydration_batch_size 16'",
                "DM_DISABLE_UDEV=1 dmsetup resume dlsm-vol1",
                "DM_DISABLE_UDEV=1 dmsetup message dlsm-vol1 0 enable_hydration");
        assertThat(d.get("vol1").orElseThrow().state()).isEqualTo(KernelPathState.HYDRATING);

        // The periodic poll watches the copy and reports it to the sink ...
        f.runner.answer(STATUS, DmClonePathTest.status(100, 512, "rw"));
        d.reconcileAll();
        assertThat(f.runner.take()).containsExactly(STATUS);
        // ... follows a bandwidth change of the sink ...
        inv.sinks.put("vol1", new KernelDevices.SinkView(SIZE, SinkState.ACTIVE, SOURCE, 65536, 32L << 20));
        d.reconcileAll();
        assertThat(f.runner.take()).containsExactly(
                "DM_DISABLE_UDEV=1 dmsetup message dlsm-vol1 0 hydration_threshold 51",
                "DM_DISABLE_UDEV=1 dmsetup message dlsm-vol1 0 hydration_batch_size 12",
                STATUS);

        // ... and swaps to linear over the sink's file once every region is there.
        f.runner.answer(STATUS, DmClonePathTest.status(512, 512, "rw"));
        d.reconcileAll();
        assertThat(f.runner.take()).containsExactly(
                STATUS,
                "DM_DISABLE_UDEV=1 dmsetup suspend dlsm-vol1",
                "DM_DISABLE_UDEV=1 dmsetup load dlsm-vol1 --table '0 65536 linear /dev/loop2 0'",
                "DM_DISABLE_UDEV=1 dmsetup resume dlsm-vol1",
                "nbd-client -d /dev/nbd3",
                "losetup -d /dev/loop5");
        assertThat(d.get("vol1").orElseThrow().state()).isEqualTo(KernelPathState.LOCAL);
        assertThat(inv.kernelEvents).containsExactly("handOver vol1", "progress vol1 100", "progress vol1 100",
                "progress vol1 512", "hydrated vol1");
        assertThat(inv.directWriters).isEmpty();

        // The sink committed: its file (still under loop2) is the volume's now, and the device
        // writes the volume's file.
        inv.commit("vol1");
        d.reconcile("vol1");
        assertThat(f.runner.take()).isEmpty();
        assertThat(f.store.all()).singleElement().satisfies(r -> assertThat(r.local().path())
                .isEqualTo("/data/volumes/vol1.img"));
        assertThat(inv.directWriters).containsOnlyKeys("vol1");

        d.delete("vol1");
        assertThat(f.runner.take()).containsExactly(
                "DM_DISABLE_UDEV=1 dmsetup remove dlsm-vol1",
                "nbd-client -d /dev/nbd3",
                "losetup -d /dev/loop2",
                "losetup -d /dev/loop5");
        assertThat(meta).doesNotExist();
        assertThat(inv.directWriters).isEmpty();
    }

    @Test
    void dmCloneDeviceAfterActivationIsRefusedBeforeAnyCommand() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        KernelDevices d = devices(f, KernelPathMode.DM_CLONE);
        inv.sink("vol1", SinkState.ACTIVE);
        assertThatThrownBy(() -> d.create("vol1")).isInstanceOf(KernelDeviceException.class)
                .hasMessageContaining("sink 'vol1' is ACTIVE").hasMessageContaining("while the sink is PROXY");
        assertThat(f.runner.commands).isEmpty();
    }

    @Test
    void localVolumeIsLinearOverItsLoopDevice() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        KernelDevices d = devices(f, KernelPathMode.DM_CLONE);
        inv.volumes.put("vol1", new KernelDevices.LocalVolume(SIZE, Path.of("/data/volumes/vol1.img"), false));

        KernelDevices.Device dev = d.create("vol1");
        assertThat(dev.state()).isEqualTo(KernelPathState.LOCAL);
        assertThat(f.runner.take()).containsExactly(
                "losetup /dev/loop2 /data/volumes/vol1.img",
                "DM_DISABLE_UDEV=1 dmsetup create dlsm-vol1 --table '0 65536 linear /dev/loop2 0'");
        d.reconcileAll();
        assertThat(f.runner.take()).isEmpty();

        d.delete("vol1");
        assertThat(f.runner.take()).containsExactly(
                "DM_DISABLE_UDEV=1 dmsetup remove dlsm-vol1",
                "losetup -d /dev/loop2");
    }

    @Test
    void abortedSinkLosesItsDevice() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        KernelDevices d = devices(f, KernelPathMode.LINEAR_OVER_NBD);
        inv.sink("vol1", SinkState.PROXY);
        d.create("vol1");
        f.runner.take();

        inv.sinks.remove("vol1");
        d.reconcile("vol1");
        assertThat(f.runner.take()).containsExactly(
                "DM_DISABLE_UDEV=1 dmsetup remove dlsm-vol1",
                "nbd-client -d /dev/nbd3",
                "losetup -d /dev/loop2");
        assertThat(d.get("vol1")).isEmpty();
    }

    @Test
    void devicesSurviveARestartAndKeepTheirNbdDeviceReserved() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        inv.sink("vol1", SinkState.PROXY);
        devices(f, KernelPathMode.LINEAR_OVER_NBD).create("vol1");
        f.runner.take();

        KernelDevices restarted = devices(f, KernelPathMode.LINEAR_OVER_NBD);
        assertThat(restarted.get("vol1").orElseThrow().state()).isEqualTo(KernelPathState.PROXY);
        inv.sink("vol2", SinkState.PROXY);
        // The probe still lists nbd3 as free (it may be, between attach and record): ours is skipped.
        restarted.create("vol2");
        assertThat(f.runner.take()).first().isEqualTo("nbd-client 127.0.0.1 10809 /dev/nbd4 -N vol2");
    }

    @Test
    void unknownVolumesAndExhaustedDevicesSayWhatToDo() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        KernelDevices d = devices(f, KernelPathMode.LINEAR_OVER_NBD);
        assertThatThrownBy(() -> d.create("nope")).isInstanceOf(KernelDeviceException.class)
                .hasMessageContaining("no volume or sink named 'nope'")
                .satisfies(e -> assertThat(((KernelDeviceException) e).kind())
                        .isEqualTo(KernelDeviceException.Kind.NOT_FOUND));
        inv.sink("vol1", SinkState.PROXY);
        inv.nbd = List.of();
        assertThatThrownBy(() -> d.create("vol1")).hasMessageContaining("no free nbd device")
                .hasMessageContaining("nbds_max");
        assertThat(f.runner.commands).isEmpty();
    }

    @Test
    void failedSetupIsReportedWithTheVolumeAndLeavesNoDevice() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        KernelDevices d = devices(f, KernelPathMode.LINEAR_OVER_NBD);
        inv.sink("vol1", SinkState.PROXY);
        f.runner.fail("nbd-client 127.0.0.1 10809 /dev/nbd3 -N vol1", 1);
        assertThatThrownBy(() -> d.create("vol1")).isInstanceOf(KernelDeviceException.class)
                .hasMessageContaining("could not create /dev/mapper/dlsm-vol1 for 'vol1'");
        assertThat(d.get("vol1")).isEmpty();
        assertThat(f.store.all()).isEmpty();
    }

    /** Devices with vol1 living here and its device created (commands taken). */
    KernelDevices withLocalVolumeDevice(KernelPathFixture f) throws Exception {
        KernelDevices d = devices(f, KernelPathMode.LINEAR_OVER_NBD);
        inv.volumes.put("vol1", new KernelDevices.LocalVolume(SIZE, inv.volumeFile("vol1"), false));
        d.create("vol1");
        f.runner.take();
        return d;
    }

    @Test
    void aLocalVolumesDeviceIsFencedWithTheVolumeAndUnfencedBack() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        KernelDevices d = withLocalVolumeDevice(f);
        DirectWriter w = inv.directWriters.get("vol1");
        assertThat(w.describe()).isEqualTo("kernel device /dev/mapper/dlsm-vol1");

        w.fence();
        assertThat(f.runner.take()).containsExactly(SWAP_TO_ERROR);
        assertThat(d.get("vol1").orElseThrow().state()).isEqualTo(KernelPathState.FENCED);
        w.fence();
        assertThat(f.runner.take()).isEmpty();

        // Fenced survives a restart, and the restarted daemon knows the device writes the file
        // (its volume store starts with no writer registered).
        inv.directWriters.clear();
        KernelDevices restarted = devices(f, KernelPathMode.LINEAR_OVER_NBD);
        assertThat(restarted.get("vol1").orElseThrow().state()).isEqualTo(KernelPathState.FENCED);
        assertThat(inv.directWriters).containsKey("vol1");
        DirectWriter again = inv.directWriters.get("vol1");
        assertThat(again).isNotSameAs(w);

        again.unfence();
        assertThat(f.runner.take()).containsExactly(SWAP_TO_LOOP2);
        assertThat(restarted.get("vol1").orElseThrow().state()).isEqualTo(KernelPathState.LOCAL);
    }

    @Test
    void aFenceCutShortIsFinishedAtTheNextStart() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        KernelDevices d = withLocalVolumeDevice(f);
        // The crash came after the suspend: the device hangs its VM until someone resumes it.
        f.runner.fail("DM_DISABLE_UDEV=1 dmsetup load dlsm-vol1 --table '0 65536 error'", 1);
        assertThatThrownBy(() -> inv.directWriters.get("vol1").fence()).isInstanceOf(Exception.class);
        f.runner.take();
        inv.directWriters.clear();

        KernelDevices restarted = devices(f, KernelPathMode.LINEAR_OVER_NBD);
        assertThat(f.runner.take()).containsExactly(SWAP_TO_ERROR);
        assertThat(restarted.get("vol1").orElseThrow().state()).isEqualTo(KernelPathState.FENCED);
    }

    @Test
    void aFencedVolumeGetsNoNewDevice() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        KernelDevices d = devices(f, KernelPathMode.LINEAR_OVER_NBD);
        inv.volumes.put("vol1", new KernelDevices.LocalVolume(SIZE, inv.volumeFile("vol1"), true));
        assertThatThrownBy(() -> d.create("vol1")).isInstanceOf(KernelDeviceException.class)
                .hasMessageContaining("volume 'vol1' is fenced")
                .satisfies(e -> assertThat(((KernelDeviceException) e).kind())
                        .isEqualTo(KernelDeviceException.Kind.CONFLICT));
        assertThat(f.runner.commands).isEmpty();
    }
}
