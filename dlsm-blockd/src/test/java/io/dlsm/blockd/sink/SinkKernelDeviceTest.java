package io.dlsm.blockd.sink;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.api.Json;
import io.dlsm.blockd.dm.CommandRunner;
import io.dlsm.blockd.dm.Dmsetup;
import io.dlsm.blockd.dm.KernelDevices;
import io.dlsm.blockd.dm.KernelPathMode;
import io.dlsm.blockd.dm.KernelPathState;
import io.dlsm.blockd.dm.KernelPathStore;
import io.dlsm.blockd.dm.KernelPaths;
import io.dlsm.blockd.dm.Losetup;
import io.dlsm.blockd.dm.NbdClientDevices;
import io.dlsm.blockd.dm.NodeInventory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real migration between two in-process blockd nodes driving the destination's kernel
 * device through the sink manager's transitions, exactly as Blockd wires it (state listener,
 * {@link NodeInventory}); only the kernel tools are replaced by a recorder.
 */
@Timeout(120)
class SinkKernelDeviceTest {
    private static final long SIZE = 4L << 20;

    @TempDir
    Path dir;

    /** Commands as shell lines; synchronized: the listener runs on sink threads. */
    final List<String> commands = new ArrayList<>();

    /** What {@code dmsetup status} prints (dm-clone's progress, in the dm-clone test). */
    volatile java.util.function.Supplier<String> statusLine = () -> "";

    /** Records every command; answers {@code dmsetup status} lines from {@link #statusLine}. */
    final CommandRunner runner = c -> {
        synchronized (commands) {
            commands.add(c.display());
        }
        String out = c.display().startsWith("DM_DISABLE_UDEV=1 dmsetup status ") ? this.statusLine.get() : "";
        return new CommandRunner.Result(0, out, "");
    };

    /**
     * {@code node}'s kernel devices, wired as Blockd wires them, with their state under
     * {@code tag}: the real wrappers over {@link #runner}.
     */
    KernelDevices devicesOn(io.dlsm.blockd.Blockd node, String tag, KernelPathMode mode) throws Exception {
        Path kernel = dir.resolve(tag + "-kernel");
        KernelPaths paths = new KernelPaths(new Dmsetup(runner, false), new NbdClientDevices(runner),
                new Losetup(runner, dir.resolve(tag + "-sys")), new KernelPathStore(kernel, Json.newMapper()));
        KernelDevices d = new KernelDevices(paths, paths.recoverAll(), mode,
                new NodeInventory(node.volumes(), node.sinks(), () -> List.of("/dev/nbd0"),
                        () -> List.of("/dev/loop0", "/dev/loop1")),
                TwoNodes.HOST, node.nbdAddress().getPort(), kernel);
        node.sinks().addStateListener((name, state) -> d.reconcile(name));
        return d;
    }

    /** A source volume "vol" whose VM runs on the source node's kernel device of it. */
    KernelDevices sourceVmOnItsDevice(TwoNodes nodes, long seed) throws Exception {
        nodes.createSourceVolume("vol", SIZE, new Random(seed), 0.3);
        KernelDevices d = devicesOn(nodes.source, "source", KernelPathMode.LINEAR_OVER_NBD);
        d.create("vol");
        take();
        return d;
    }

    @Test
    void aSourceVmOnALocalDeviceKeepsTheSourceUnfencedUntilTheDeviceIsRemoved() throws Exception {
        try (TwoNodes nodes = new TwoNodes(dir)) {
            KernelDevices sourceDevices = sourceVmOnItsDevice(nodes, 3);
            // The VM writes through loop0 on the file: no NBD writer, but a writer all the same,
            // so a prepared migration must neither switch now nor fence itself.
            nodes.openMigrationExport("vol");
            assertThat(nodes.source.volumes().get("vol").writers()).isEqualTo(1);
            assertThat(nodes.source.volumes().get("vol").fenced()).isFalse();

            // The VM left (Nova's post-migration detach removes the device): the source fences.
            sourceDevices.delete("vol");
            assertThat(nodes.source.volumes().get("vol").fenced()).isTrue();
            assertThat(nodes.source.volumes().get("vol").writers()).isZero();
            take();
        }
    }

    @Test
    void fencingTheSourceWhileItsDeviceIsThereStopsTheDeviceFirst() throws Exception {
        try (TwoNodes nodes = new TwoNodes(dir)) {
            KernelDevices sourceDevices = sourceVmOnItsDevice(nodes, 4);
            nodes.openMigrationExport("vol");

            nodes.source.volumes().fence("vol");
            assertThat(take()).containsExactly(
                    "DM_DISABLE_UDEV=1 dmsetup suspend dlsm-vol",
                    "DM_DISABLE_UDEV=1 dmsetup load dlsm-vol --table '0 8192 error'",
                    "DM_DISABLE_UDEV=1 dmsetup resume dlsm-vol");
            assertThat(sourceDevices.get("vol").orElseThrow().state()).isEqualTo(KernelPathState.FENCED);
            assertThat(nodes.source.volumes().get("vol").fenced()).isTrue();

            nodes.source.volumes().unfence("vol");
            assertThat(take()).containsExactly(
                    "DM_DISABLE_UDEV=1 dmsetup suspend dlsm-vol",
                    "DM_DISABLE_UDEV=1 dmsetup load dlsm-vol --table '0 8192 linear /dev/loop0 0'",
                    "DM_DISABLE_UDEV=1 dmsetup resume dlsm-vol");
            assertThat(sourceDevices.get("vol").orElseThrow().state()).isEqualTo(KernelPathState.LOCAL);
            sourceDevices.delete("vol");
        }
    }

    KernelDevices wire(TwoNodes nodes, KernelPathMode mode) throws Exception {
        return devicesOn(nodes.dest, "dest", mode);
    }

    List<String> take() {
        synchronized (commands) {
            List<String> out = List.copyOf(commands);
            commands.clear();
            return out;
        }
    }

    @Test
    void linearOverNbdFollowsTheSinkFromCreationToCommit() throws Exception {
        try (TwoNodes nodes = new TwoNodes(dir)) {
            nodes.createSourceVolume("vol", SIZE, new Random(1), 0.3);
            KernelDevices devices = wire(nodes, KernelPathMode.LINEAR_OVER_NBD);
            nodes.createSink("vol", nodes.openMigrationExport("vol"), 0, null, true);

            assertThat(devices.create("vol").devicePath()).isEqualTo("/dev/mapper/dlsm-vol");
            int port = nodes.dest.nbdAddress().getPort();
            assertThat(take()).containsExactly(
                    "nbd-client 127.0.0.1 " + port + " /dev/nbd0 -N vol",
                    "DM_DISABLE_UDEV=1 dmsetup create dlsm-vol --table '0 8192 linear /dev/nbd0 0'");

            nodes.source.volumes().fence("vol");
            nodes.dest.sinks().activate("vol", false);
            nodes.awaitState("vol", SinkState.COMMITTED, Duration.ofSeconds(60));
            TwoNodes.await("the cut-over", Duration.ofSeconds(30),
                    () -> devices.get("vol").orElseThrow().state() == KernelPathState.LOCAL);
            assertThat(take()).containsExactly(
                    "losetup /dev/loop0 " + nodes.dest.volumes().dataFileOf("vol"),
                    "DM_DISABLE_UDEV=1 dmsetup suspend dlsm-vol",
                    "DM_DISABLE_UDEV=1 dmsetup load dlsm-vol --table '0 8192 linear /dev/loop0 0'",
                    "DM_DISABLE_UDEV=1 dmsetup resume dlsm-vol",
                    "nbd-client -d /dev/nbd0");

            devices.delete("vol");
            assertThat(take()).containsExactly(
                    "DM_DISABLE_UDEV=1 dmsetup remove dlsm-vol",
                    "nbd-client -d /dev/nbd0",
                    "losetup -d /dev/loop0");
        }
    }

    @Test
    void dmCloneHydratesTheSinksOwnFileAndTheCommitKeepsTheVmsWrites() throws Exception {
        try (TwoNodes nodes = new TwoNodes(dir)) {
            TwoNodes.SourceImage src = nodes.createSourceVolume("vol", SIZE, new Random(2), 0.3);
            // The recorder stands in for the kernel: when dm-clone's status is asked, the copy
            // is "done" once the test has written into the file what dm-clone and the VM would.
            java.util.concurrent.atomic.AtomicBoolean copied = new java.util.concurrent.atomic.AtomicBoolean();
            statusLine = () -> "0 8192 clone 8 6/1024 128 " + (copied.get() ? "64/64" : "10/64")
                    + " 0 0 4 hydration_threshold 1 hydration_batch_size 1 rw\n";
            KernelDevices devices = wire(nodes, KernelPathMode.DM_CLONE);
            Path kernel = dir.resolve("dest-kernel");
            KernelPathStore store = new KernelPathStore(kernel, Json.newMapper());
            String export = nodes.openMigrationExport("vol");
            nodes.createSink("vol", export, 0, null, true);
            Path sinkFile = dir.resolve("dest/sinks/vol.img");

            devices.create("vol");
            assertThat(take()).containsExactly(
                    "nbd-client 127.0.0.1 " + nodes.source.nbdAddress().getPort() + " /dev/nbd0 -N " + export,
                    "DM_DISABLE_UDEV=1 dmsetup create dlsm-vol --table '0 8192 linear /dev/nbd0 0'");
            // dm-clone owns the sink's file now: nobody else may write it over NBD.
            assertThat(nodes.dest.exports().lookup("vol")).isEmpty();

            nodes.source.volumes().fence("vol");
            nodes.dest.sinks().activate("vol", false);
            // The listener ran on the activating thread: the device is HYDRATING already.
            assertThat(devices.get("vol").orElseThrow().state()).isEqualTo(KernelPathState.HYDRATING);
            assertThat(take()).containsExactly(
                    "losetup /dev/loop1 " + kernel.resolve("vol.clone.meta"),
                    "losetup /dev/loop0 " + sinkFile,
                    "DM_DISABLE_UDEV=1 dmsetup suspend dlsm-vol",
                    "DM_DISABLE_UDEV=1 dmsetup load dlsm-vol --table '0 8192 clone /dev/loop1 /dev/loop0 /dev/nbd0 128"
                            + " 1 no_hydration 4 hydration_threshold 64 hydration_batch_size 16'",
                    "DM_DISABLE_UDEV=1 dmsetup resume dlsm-vol",
                    "DM_DISABLE_UDEV=1 dmsetup message dlsm-vol 0 enable_hydration");

            devices.reconcileAll();
            assertThat(nodes.dest.sinks().get("vol").state()).isEqualTo(SinkState.ACTIVE);
            assertThat(nodes.dest.sinks().get("vol").regionsPresent()).isEqualTo(10);

            // What the kernel does meanwhile: the source's data copied into the sink's file,
            // and a VM write through the device on top.
            byte[] expected = src.bytes().clone();
            byte[] vmWrite = new byte[8192];
            new Random(5).nextBytes(vmWrite);
            System.arraycopy(vmWrite, 0, expected, 65536 + 4096, vmWrite.length);
            java.nio.file.Files.write(sinkFile, expected);
            copied.set(true);
            devices.reconcileAll();
            // As the API shows it: COMMITTED only once the volume exists.
            TwoNodes.await("the sink's commit", Duration.ofSeconds(60),
                    () -> nodes.dest.sinks().get("vol").state() == SinkState.COMMITTED);
            assertThat(nodes.dest.volumes().exists("vol")).isTrue();
            TwoNodes.await("the device to follow the commit", Duration.ofSeconds(30),
                    () -> nodes.dest.volumes().get("vol").writers() == 1);

            Path volumeFile = nodes.dest.volumes().dataFileOf("vol");
            assertThat(java.nio.file.Files.readAllBytes(volumeFile)).isEqualTo(expected);
            assertThat(store.all()).singleElement()
                    .satisfies(r -> assertThat(r.local().path()).isEqualTo(volumeFile.toString()));
            // Each block crossed the network once, through dm-clone: the sink fetched nothing.
            assertThat(nodes.dest.sinks().get("vol").wireBytesReceived()).isZero();
            // The committed volume is exported again, and serves: its export was withdrawn while
            // dm-clone owned the file, and a withdrawn export drops every client after the handshake.
            assertThat(nodes.dest.exports().lookup("vol")).isPresent();
            assertThat(nodes.dest.exports().lookup("vol").orElseThrow().withdrawn()).isFalse();
            try (io.dlsm.blockd.nbd.client.NbdClient c = nodes.connectDest("vol")) {
                assertThat(TwoNodes.readAll(c)).isEqualTo(expected);
            }

            devices.delete("vol");
            assertThat(nodes.dest.volumes().get("vol").writers()).isZero();
        }
    }
    /**
     * A bandwidth change while the poll looks at dm-clone's progress: the poll holds the kernel
     * devices' lock and then asks the sink manager (progress, phase); the bandwidth change must
     * not hold the sink manager's lock while it tells the kernel devices (a PUT .../bandwidth
     * that hung for good in the in-guest test, with the poll stuck behind it).
     */
    @Test
    void aBandwidthChangeDuringThePollDoesNotDeadlock() {
        // Preemptive: a deadlocked run would also hang the nodes' close, which needs the lock.
        org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(Duration.ofSeconds(60),
                this::bandwidthChangeDuringThePoll);
    }

    private void bandwidthChangeDuringThePoll() throws Exception {
        try (TwoNodes nodes = new TwoNodes(dir)) {
            nodes.createSourceVolume("vol", SIZE, new Random(7), 0.3);
            KernelDevices devices = wire(nodes, KernelPathMode.DM_CLONE);
            nodes.createSink("vol", nodes.openMigrationExport("vol"), 131072, null, true);
            devices.create("vol");
            nodes.source.volumes().fence("vol");
            nodes.dest.sinks().activate("vol", false);
            assertThat(devices.get("vol").orElseThrow().state()).isEqualTo(KernelPathState.HYDRATING);

            // While the poll is inside `dmsetup status` (the kernel devices' lock held), the
            // bandwidth changes on another thread; the status answers once that thread waits.
            java.util.concurrent.atomic.AtomicReference<Thread> put = new java.util.concurrent.atomic.AtomicReference<>();
            java.util.concurrent.atomic.AtomicBoolean inStatus = new java.util.concurrent.atomic.AtomicBoolean();
            statusLine = () -> {
                if (inStatus.compareAndSet(false, true)) {
                    Thread t = new Thread(() -> nodes.dest.sinks().setBandwidth("vol", 0L), "put-bandwidth");
                    t.setDaemon(true);
                    put.set(t);
                    t.start();
                    long until = System.nanoTime() + 10_000_000_000L;
                    while (t.getState() != Thread.State.BLOCKED && t.isAlive() && System.nanoTime() < until) {
                        Thread.onSpinWait();
                    }
                }
                return "0 8192 clone 8 6/1024 128 10/64 1 0 4 hydration_threshold 1 hydration_batch_size 1 rw\n";
            };
            Thread poll = new Thread(devices::reconcileAll, "poll");
            poll.setDaemon(true);
            poll.start();
            poll.join(20_000);
            java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
            long[] deadlocked = threads.findMonitorDeadlockedThreads();
            if (deadlocked != null) {
                // Printed as well: the nodes' close after a failed assertion hangs on the same lock.
                System.err.println("deadlocked: " + java.util.Arrays.toString(threads.getThreadInfo(deadlocked, true, false)));
            }
            assertThat(deadlocked).as("threads deadlocked on monitors").isNull();
            assertThat(poll.isAlive()).as("the poll finished").isFalse();
            put.get().join(20_000);
            assertThat(put.get().isAlive()).as("the bandwidth change returned").isFalse();
            assertThat(nodes.dest.sinks().get("vol").bandwidthBytesPerSecond()).isZero();
            assertThat(nodes.dest.sinks().get("vol").regionsPresent()).isEqualTo(10);
            // The new bandwidth reached dm-clone (at once or at the next poll).
            devices.reconcileAll();
            assertThat(take()).contains("DM_DISABLE_UDEV=1 dmsetup message dlsm-vol 0 hydration_threshold 64",
                    "DM_DISABLE_UDEV=1 dmsetup message dlsm-vol 0 hydration_batch_size 16");
        }
    }
}
