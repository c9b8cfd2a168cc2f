package io.dlsm.blockd.dm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DmClonePathTest {
    static final String STATUS = "DM_DISABLE_UDEV=1 dmsetup status dlsm-vol1";
    static final String[] SWAP_TO_CLONE = {
        "DM_DISABLE_UDEV=1 dmsetup suspend dlsm-vol1",
        "DM_DISABLE_UDEV=1 dmsetup load dlsm-vol1 --table '0 65536 clone /dev/loop1 /dev/loop0 /dev/nbd0 128"
                + " 1 no_hydration 4 hydration_threshold 64 hydration_batch_size 16'",
        "DM_DISABLE_UDEV=1 dmsetup resume dlsm-vol1",
        "DM_DISABLE_UDEV=1 dmsetup message dlsm-vol1 0 enable_hydration"};

    @TempDir
    Path dir;

    static KernelPathRecord plan() {
        return DmClonePath.plan("vol1", 32L << 20, "/dev/nbd0",
                new KernelPathRecord.NbdSource("192.0.2.10", 10809, "vol1@t0k"),
                KernelPathRecord.Backing.file(Path.of("/data/volumes/vol1.img"), "/dev/loop0"),
                KernelPathRecord.Backing.file(Path.of("/data/kernel/vol1.meta"), "/dev/loop1"), 128, 0);
    }

    static String status(long hydrated, long total, String mode) {
        return "0 65536 clone 8 6/1024 128 " + hydrated + "/" + total + " 0 0 4 hydration_threshold 64"
                + " hydration_batch_size 16 " + mode + "\n";
    }

    @Test
    void proxyThenCloneThenLinearOverTheDestination() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        DmClonePath p = (DmClonePath) f.paths.open(plan());

        p.setUp();
        assertThat(f.runner.take()).containsExactly(
                "nbd-client 192.0.2.10 10809 /dev/nbd0 -N vol1@t0k",
                "DM_DISABLE_UDEV=1 dmsetup create dlsm-vol1 --table '0 65536 linear /dev/nbd0 0'");

        p.activate();
        assertThat(f.runner.take()).containsExactly(
                "losetup /dev/loop1 /data/kernel/vol1.meta",
                "losetup /dev/loop0 /data/volumes/vol1.img",
                SWAP_TO_CLONE[0], SWAP_TO_CLONE[1], SWAP_TO_CLONE[2], SWAP_TO_CLONE[3]);
        assertThat(p.state()).isEqualTo(KernelPathState.HYDRATING);

        p.setBandwidth(8L << 20);
        assertThat(f.runner.take()).containsExactly(
                "DM_DISABLE_UDEV=1 dmsetup message dlsm-vol1 0 hydration_threshold 12",
                "DM_DISABLE_UDEV=1 dmsetup message dlsm-vol1 0 hydration_batch_size 3");
        assertThat(f.store.all().get(0).bandwidthBytesPerSecond()).isEqualTo(8L << 20);

        f.runner.answer(STATUS, status(100, 512, "rw"));
        assertThat(p.poll().progress()).isEqualTo(100.0 / 512);
        assertThat(f.runner.take()).containsExactly(STATUS);
        assertThat(p.state()).isEqualTo(KernelPathState.HYDRATING);

        f.runner.answer(STATUS, status(512, 512, "rw"));
        assertThat(p.poll().fullyHydrated()).isTrue();
        assertThat(f.runner.take()).containsExactly(
                STATUS,
                "DM_DISABLE_UDEV=1 dmsetup suspend dlsm-vol1",
                "DM_DISABLE_UDEV=1 dmsetup load dlsm-vol1 --table '0 65536 linear /dev/loop0 0'",
                "DM_DISABLE_UDEV=1 dmsetup resume dlsm-vol1",
                "nbd-client -d /dev/nbd0",
                "losetup -d /dev/loop1");
        assertThat(p.state()).isEqualTo(KernelPathState.LOCAL);

        p.remove();
        assertThat(f.runner.take()).containsExactly(
                "DM_DISABLE_UDEV=1 dmsetup remove dlsm-vol1",
                "nbd-client -d /dev/nbd0",
                "losetup -d /dev/loop0",
                "losetup -d /dev/loop1");
        assertThat(f.store.all()).isEmpty();
    }

    @Test
    void failedMetadataStopsWithoutSwapping() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        DmClonePath p = (DmClonePath) f.paths.open(plan());
        p.setUp();
        p.activate();
        f.runner.take();
        f.runner.answer(STATUS, status(512, 512, "ro"));
        assertThatThrownBy(p::poll).hasMessageContaining("metadata mode ro");
        assertThat(f.runner.take()).containsExactly(STATUS);
        assertThat(p.state()).isEqualTo(KernelPathState.HYDRATING);
    }

    @Test
    void cloneModeCannotSkipHydration() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        DmClonePath p = (DmClonePath) f.paths.open(plan());
        p.setUp();
        assertThatThrownBy(p::finish).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("PROXY and cannot move to LOCAL");
        assertThatThrownBy(p::poll).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void crashDuringActivationIsRolledForward() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        DmClonePath p = (DmClonePath) f.paths.open(plan());
        p.setUp();
        p.begin(KernelPathState.HYDRATING);
        // The metadata loop made it; the destination's did not.
        KernelPathFixture restarted = new KernelPathFixture(dir);
        restarted.loopAttached("/dev/loop1", Path.of("/data/kernel/vol1.meta"));
        assertThat(restarted.paths.recoverAll()).singleElement()
                .satisfies(k -> assertThat(k.state()).isEqualTo(KernelPathState.HYDRATING));
        assertThat(restarted.runner.take()).containsExactly(
                "losetup /dev/loop0 /data/volumes/vol1.img",
                SWAP_TO_CLONE[0], SWAP_TO_CLONE[1], SWAP_TO_CLONE[2], SWAP_TO_CLONE[3]);
    }

    @Test
    void crashDuringSetupIsCleanedUp() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        KernelPath p = f.paths.open(plan());
        p.begin(KernelPathState.NBD_CONNECTED);
        KernelPathFixture restarted = new KernelPathFixture(dir);
        assertThat(restarted.paths.recoverAll()).isEmpty();
        assertThat(restarted.runner.take()).containsExactly(
                "DM_DISABLE_UDEV=1 dmsetup remove dlsm-vol1",
                "nbd-client -d /dev/nbd0",
                "losetup -d /dev/loop0",
                "losetup -d /dev/loop1");
        assertThat(restarted.store.all()).isEmpty();
    }

    @Test
    void blockDevicesNeedNoLoop() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        KernelPathRecord rec = DmClonePath.plan("vol1", 32L << 20, "/dev/nbd0",
                new KernelPathRecord.NbdSource("192.0.2.10", 10809, "vol1@t0k"),
                KernelPathRecord.Backing.device("/dev/vg/vol1"), KernelPathRecord.Backing.device("/dev/vg/vol1-meta"),
                64, 1L << 20);
        DmClonePath p = (DmClonePath) f.paths.open(rec);
        p.setUp();
        p.activate();
        assertThat(f.runner.take()).contains(
                "DM_DISABLE_UDEV=1 dmsetup load dlsm-vol1 --table '0 65536 clone /dev/vg/vol1-meta /dev/vg/vol1"
                        + " /dev/nbd0 64 1 no_hydration 4 hydration_threshold 3 hydration_batch_size 1'")
                .noneMatch(c -> c.startsWith("losetup"));
    }
}
