package io.dlsm.tests;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.tests.support.BlockdProcess;
import io.dlsm.tests.support.PeerCommand;
import io.dlsm.tests.support.SparseImageFile;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * nbdcopy moves whole images with many requests in flight over several connections, and
 * skips holes using BLOCK_STATUS: a whole-image round trip through blockd.
 */
class NbdcopyAgainstBlockdTest {
    private static final long SIZE = 64L << 20;
    @TempDir
    static Path tmp;
    static BlockdProcess blockd;
    static Path source;

    @BeforeAll
    static void startBlockdAndWriteSource() throws Exception {
        blockd = BlockdProcess.start(tmp.resolve("data"));
        source = tmp.resolve("source.raw");
        SparseImageFile.create(source, SIZE, 7, SparseImageFile.typicalLayout64MiB());
    }

    @AfterAll
    static void stopBlockd() {
        if (blockd != null) {
            blockd.close();
        }
    }

    @Test
    void localFileToExportAndBackIsIdentical() throws Exception {
        blockd.createVolume("copied", SIZE);
        PeerCommand.ok("nbdcopy", "--flush", source.toString(), blockd.nbdUri("copied"));
        Path back = tmp.resolve("back.raw");
        PeerCommand.ok("nbdcopy", blockd.nbdUri("copied"), back.toString());
        assertThat(Files.mismatch(source, back)).as("first differing byte").isEqualTo(-1);
        PeerCommand.ok("qemu-img", "compare", "-f", "raw", "-F", "raw", blockd.nbdUri("copied"), source.toString());
    }

    @Test
    void exportToASecondRealServerQemuNbdIsIdentical() throws Exception {
        blockd.createVolume("relayed", SIZE);
        PeerCommand.ok("nbdcopy", source.toString(), blockd.nbdUri("relayed"));
        Path target = tmp.resolve("qemu-nbd-target.raw");
        PeerCommand.ok("qemu-img", "create", "-f", "raw", target.toString(), String.valueOf(SIZE));
        Path pidFile = tmp.resolve("qemu-nbd.pid");
        int port = freeLoopbackPort();
        Optional<ProcessHandle> qemuNbd = Optional.empty();
        try {
            // --fork returns only once the server listens, so no polling is needed.
            PeerCommand.ok("qemu-nbd", "--fork", "--pid-file", pidFile.toString(), "--persistent", "--shared=8",
                    "--bind=127.0.0.1", "--port=" + port, "--format=raw", "--export-name=target", target.toString());
            qemuNbd = ProcessHandle.of(Long.parseLong(Files.readString(pidFile).trim()));
            String qemuUri = "nbd://127.0.0.1:" + port + "/target";

            PeerCommand.ok("nbdcopy", "--flush", blockd.nbdUri("relayed"), qemuUri);

            PeerCommand.ok("qemu-img", "compare", "-f", "raw", "-F", "raw", blockd.nbdUri("relayed"), qemuUri);
        } finally {
            qemuNbd.ifPresent(ProcessHandle::destroyForcibly);
            qemuNbd.ifPresent(p -> p.onExit().orTimeout(10, java.util.concurrent.TimeUnit.SECONDS).join());
        }
        // With qemu-nbd gone its file is final: compare it byte for byte with the source too.
        assertThat(Files.mismatch(source, target)).as("first differing byte").isEqualTo(-1);
    }

    /** Asks the kernel for a free port; the tiny window before qemu-nbd binds it is acceptable here. */
    private static int freeLoopbackPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
