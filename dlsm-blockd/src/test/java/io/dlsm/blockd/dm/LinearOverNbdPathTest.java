package io.dlsm.blockd.dm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dlsm.blockd.sink.SinkState;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LinearOverNbdPathTest {
    static final Path FILE = Path.of("/var/lib/dlsm/blockd/volumes/vol1.img");
    /** Removal from any state: every step tolerates "already gone". */
    static final String[] TEARDOWN = {
        "DM_DISABLE_UDEV=1 dmsetup remove dlsm-vol1",
        "nbd-client -d /dev/nbd3",
        "losetup -d /dev/loop2"};

    @TempDir
    Path dir;

    static KernelPathRecord plan() {
        return LinearOverNbdPath.plan("vol1", 32L << 20, "/dev/nbd3", "127.0.0.1", 10809, FILE, "/dev/loop2");
    }

    @Test
    void fullLifeIssuesExactlyTheseCommands() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        LinearOverNbdPath p = (LinearOverNbdPath) f.paths.open(plan());

        p.setUp();
        assertThat(f.runner.take()).containsExactly(
                "nbd-client 127.0.0.1 10809 /dev/nbd3 -N vol1",
                "DM_DISABLE_UDEV=1 dmsetup create dlsm-vol1 --table '0 65536 linear /dev/nbd3 0'");
        assertThat(p.state()).isEqualTo(KernelPathState.PROXY);
        assertThat(p.record().devicePath()).isEqualTo("/dev/mapper/dlsm-vol1");
        assertThat(f.store.all()).singleElement().satisfies(r -> {
            assertThat(r.state()).isEqualTo(KernelPathState.PROXY);
            assertThat(r.pending()).isNull();
        });

        p.cutOver();
        assertThat(f.runner.take()).containsExactly(
                "losetup /dev/loop2 /var/lib/dlsm/blockd/volumes/vol1.img",
                "DM_DISABLE_UDEV=1 dmsetup suspend dlsm-vol1",
                "DM_DISABLE_UDEV=1 dmsetup load dlsm-vol1 --table '0 65536 linear /dev/loop2 0'",
                "DM_DISABLE_UDEV=1 dmsetup resume dlsm-vol1",
                "nbd-client -d /dev/nbd3");
        assertThat(p.state()).isEqualTo(KernelPathState.LOCAL);

        p.remove();
        assertThat(f.runner.take()).containsExactly(TEARDOWN);
        assertThat(f.store.all()).isEmpty();
    }

    @Test
    void cutOverOnlyWhenTheSinkHoldsEveryRegion() {
        assertThat(LinearOverNbdPath.readyForCutOver(SinkState.PROXY)).isFalse();
        assertThat(LinearOverNbdPath.readyForCutOver(SinkState.ACTIVE)).isFalse();
        assertThat(LinearOverNbdPath.readyForCutOver(SinkState.DEGRADED)).isFalse();
        assertThat(LinearOverNbdPath.readyForCutOver(SinkState.HYDRATED)).isTrue();
        assertThat(LinearOverNbdPath.readyForCutOver(SinkState.COMMITTED)).isTrue();
    }

    @Test
    void transitionsOutOfOrderAreRefusedBeforeAnyCommand() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        LinearOverNbdPath p = (LinearOverNbdPath) f.paths.open(plan());
        assertThatThrownBy(p::cutOver).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("PLANNED and cannot move to LOCAL");
        assertThat(f.runner.commands).isEmpty();
    }

    @Test
    void failedSetupTearsDownWhatItStarted() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        f.runner.fail("DM_DISABLE_UDEV=1 dmsetup create dlsm-vol1 --table '0 65536 linear /dev/nbd3 0'", 1);
        KernelPath p = f.paths.open(plan());
        assertThatThrownBy(p::setUp).isInstanceOf(CommandFailedException.class)
                .hasMessageContaining("dmsetup create dlsm-vol1");
        assertThat(f.runner.take()).containsExactly(
                "nbd-client 127.0.0.1 10809 /dev/nbd3 -N vol1",
                "DM_DISABLE_UDEV=1 dmsetup create dlsm-vol1 --table '0 65536 linear /dev/nbd3 0'",
                "DM_DISABLE_UDEV=1 dmsetup remove dlsm-vol1",
                "nbd-client -d /dev/nbd3",
                "losetup -d /dev/loop2");
        assertThat(f.store.all()).isEmpty();
    }

    @Test
    void crashDuringSetupLeavesNothingAfterTheNextStart() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        // The process died between "nbd connected" and the end of "dmsetup create".
        KernelPath p = f.paths.open(plan());
        p.begin(KernelPathState.NBD_CONNECTED);
        p.arrive();
        p.begin(KernelPathState.PROXY);

        KernelPathFixture restarted = new KernelPathFixture(dir);
        assertThat(restarted.paths.recoverAll()).isEmpty();
        assertThat(restarted.runner.take()).containsExactly(TEARDOWN);
        assertThat(restarted.store.all()).isEmpty();
        // A second start finds nothing to do.
        KernelPathFixture again = new KernelPathFixture(dir);
        again.paths.recoverAll();
        assertThat(again.runner.commands).isEmpty();
    }

    @Test
    void crashBeforeTheFirstStepIsCleanedUpToo() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        f.store.save(plan());
        KernelPathFixture restarted = new KernelPathFixture(dir);
        assertThat(restarted.paths.recoverAll()).isEmpty();
        assertThat(restarted.runner.take()).startsWith("DM_DISABLE_UDEV=1 dmsetup remove dlsm-vol1");
        assertThat(restarted.store.all()).isEmpty();
    }

    @Test
    void crashDuringCutOverIsRolledForwardWithoutReattachingTheLoop() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        LinearOverNbdPath p = (LinearOverNbdPath) f.paths.open(plan());
        p.setUp();
        // Died after losetup and suspend: the device is suspended, a VM would hang on it.
        p.begin(KernelPathState.LOCAL);
        f.loopAttached("/dev/loop2", FILE);

        KernelPathFixture restarted = new KernelPathFixture(dir);
        restarted.loopAttached("/dev/loop2", FILE);
        assertThat(restarted.paths.recoverAll()).singleElement()
                .satisfies(k -> assertThat(k.state()).isEqualTo(KernelPathState.LOCAL));
        assertThat(restarted.runner.take()).containsExactly(
                "DM_DISABLE_UDEV=1 dmsetup suspend dlsm-vol1",
                "DM_DISABLE_UDEV=1 dmsetup load dlsm-vol1 --table '0 65536 linear /dev/loop2 0'",
                "DM_DISABLE_UDEV=1 dmsetup resume dlsm-vol1",
                "nbd-client -d /dev/nbd3");
        assertThat(restarted.store.all()).singleElement().satisfies(r -> {
            assertThat(r.state()).isEqualTo(KernelPathState.LOCAL);
            assertThat(r.pending()).isNull();
        });
    }

    @Test
    void stableDevicesSurviveARestartUntouched() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        f.paths.open(plan()).setUp();
        KernelPathFixture restarted = new KernelPathFixture(dir);
        assertThat(restarted.paths.recoverAll()).singleElement()
                .satisfies(k -> assertThat(k.state()).isEqualTo(KernelPathState.PROXY));
        assertThat(restarted.runner.commands).isEmpty();
    }

    @Test
    void interruptedRemovalIsFinished() throws Exception {
        KernelPathFixture f = new KernelPathFixture(dir);
        KernelPath p = f.paths.open(plan());
        p.setUp();
        // Died right after recording the removal.
        p.begin(KernelPathState.REMOVED);
        KernelPathFixture restarted = new KernelPathFixture(dir);
        assertThat(restarted.paths.recoverAll()).isEmpty();
        assertThat(restarted.runner.take()).containsExactly(TEARDOWN);
    }
}
