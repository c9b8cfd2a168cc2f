package io.dlsm.blockd.dm;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CapabilityProbeTest {
    @TempDir
    Path dir;

    Path sys;
    Path proc;

    private CapabilityProbe probe(RecordingCommandRunner runner, Set<String> tools) throws IOException {
        sys = Files.createDirectories(dir.resolve("sys"));
        proc = Files.createDirectories(dir.resolve("proc"));
        return new CapabilityProbe(sys, proc, runner, tools::contains);
    }

    private void nbd(int n, Long size, boolean pid) throws IOException {
        Path d = Files.createDirectories(sys.resolve("block/nbd" + n));
        if (size != null) {
            Files.writeString(d.resolve("size"), size + "\n");
        }
        if (pid) {
            Files.writeString(d.resolve("pid"), "1234\n");
        }
    }

    @Test
    void thisHostsKindOfKernelGetsUserSpaceOnly() throws Exception {
        RecordingCommandRunner r = new RecordingCommandRunner();
        NodeCapabilities c = probe(r, Set.of("dmsetup", "nbd-client")).probe();
        assertThat(c).isEqualTo(new NodeCapabilities(false, false, false, java.util.List.of(), java.util.List.of(
                "no device-mapper in the kernel (load dm-mod)",
                "no nbd devices (load nbd, e.g. modprobe nbd nbds_max=16)")));
        assertThat(c.bestMode()).isEqualTo(KernelPathMode.USER_SPACE_ONLY);
        assertThat(r.commands).isEmpty();
    }

    @Test
    void debianKernelWithoutDmCloneGetsLinearOverNbd() throws Exception {
        RecordingCommandRunner r = new RecordingCommandRunner()
                .answer("dmsetup targets", "striped          v1.6.0\nlinear           v1.4.0\nerror            v1.6.0\n")
                .fail("modprobe -n dm-clone", 1);
        CapabilityProbe p = probe(r, Set.of("dmsetup", "nbd-client"));
        Files.writeString(proc.resolve("devices"), "Block devices:\n  7 loop\n 43 nbd\n253 device-mapper\n");
        nbd(0, 0L, false);
        nbd(1, 33554432L, true);
        nbd(10, 0L, false);
        nbd(2, 0L, false);
        NodeCapabilities c = p.probe();
        assertThat(c.deviceMapper()).isTrue();
        assertThat(c.dmClone()).isFalse();
        assertThat(c.nbd()).isTrue();
        assertThat(c.freeNbdDevices()).containsExactly("/dev/nbd0", "/dev/nbd2", "/dev/nbd10");
        assertThat(c.bestMode()).isEqualTo(KernelPathMode.LINEAR_OVER_NBD);
        assertThat(r.commands).containsExactly("dmsetup targets", "modprobe -n dm-clone");
    }

    @Test
    void cloneTargetListedOrLoadable() throws Exception {
        RecordingCommandRunner listed = new RecordingCommandRunner()
                .answer("dmsetup targets", "clone            v1.0.0\nlinear           v1.4.0\n");
        CapabilityProbe p = probe(listed, Set.of("dmsetup", "nbd-client"));
        Files.createDirectories(sys.resolve("module/dm_mod"));
        nbd(0, null, false);
        assertThat(p.probe().bestMode()).isEqualTo(KernelPathMode.DM_CLONE);
        assertThat(listed.commands).containsExactly("dmsetup targets");

        RecordingCommandRunner loadable = new RecordingCommandRunner().answer("dmsetup targets", "linear v1.4.0\n");
        CapabilityProbe q = new CapabilityProbe(sys, proc, loadable, Set.of("dmsetup", "nbd-client")::contains);
        assertThat(q.probe().dmClone()).isTrue();
        assertThat(loadable.commands).containsExactly("dmsetup targets", "modprobe -n dm-clone");
    }

    @Test
    void missingToolsOrBusyDevicesFallBack() throws Exception {
        CapabilityProbe p = probe(new RecordingCommandRunner(), Set.of("nbd-client"));
        Files.createDirectories(sys.resolve("module/dm_mod"));
        nbd(0, 1024L, false);
        NodeCapabilities c = p.probe();
        assertThat(c.deviceMapper()).isFalse();
        assertThat(c.freeNbdDevices()).isEmpty();
        assertThat(c.notes()).contains("device-mapper is in the kernel but dmsetup is not installed",
                "every nbd device is in use (raise nbds_max)");
        assertThat(c.bestMode()).isEqualTo(KernelPathMode.USER_SPACE_ONLY);
    }

    @Test
    void modeSupport() {
        NodeCapabilities linear = new NodeCapabilities(true, false, true, java.util.List.of("/dev/nbd0"),
                java.util.List.of());
        assertThat(KernelPathMode.LINEAR_OVER_NBD.supportedBy(linear)).isTrue();
        assertThat(KernelPathMode.DM_CLONE.supportedBy(linear)).isFalse();
        assertThat(KernelPathMode.USER_SPACE_ONLY.supportedBy(linear)).isTrue();
        NodeCapabilities noFree = new NodeCapabilities(true, true, true, java.util.List.of(), java.util.List.of());
        assertThat(noFree.bestMode()).isEqualTo(KernelPathMode.USER_SPACE_ONLY);
    }
}
