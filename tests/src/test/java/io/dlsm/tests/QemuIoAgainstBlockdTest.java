package io.dlsm.tests;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.tests.support.OneBlockdPerClass;
import io.dlsm.tests.support.PeerCommand;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * qemu-io drives QEMU's NBD client request by request. A {@code read -P} mismatch makes
 * qemu-io exit 1, so every verification below is a byte-exact check by the peer itself.
 */
class QemuIoAgainstBlockdTest extends OneBlockdPerClass {
    private static final long MIB = 1L << 20;
    private static final long SIZE = 80 * MIB + 512;
    /** Runs qemu-io with the given commands against a fresh volume and expects success. */
    private static String qemuIo(String volume, String... commands) {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(blockd.nbdUri(volume));
        return PeerCommand.ok(cmd.toArray(String[]::new)).stdout();
    }

    @Test
    void unalignedWritesReadBackWithoutDisturbingNeighbours() {
        blockd.createVolume("unaligned", SIZE);
        qemuIo("unaligned",
                "write -P 0x11 1 3",
                "write -P 0x22 4095 2",
                "write -P 0x33 65537 12345",
                "read -P 0 0 1",
                "read -P 0x11 1 3",
                "read -P 0 4 4091",
                "read -P 0x22 4095 2",
                "read -P 0 4097 61440",
                "read -P 0x33 65537 12345",
                "read -P 0 77882 4096");
    }

    @Test
    void lastByteOfTheVolumeIsWritable() {
        blockd.createVolume("lastbyte", SIZE);
        long last = SIZE - 1;
        qemuIo("lastbyte", "write -P 0x77 " + last + " 1", "read -P 0x77 " + last + " 1",
                "read -P 0 " + (last - 511) + " 511");
    }

    @Test
    void writesStraddlingThe32MiBBoundaryAndLargerThanOneRequest() {
        blockd.createVolume("straddle", SIZE);
        long boundary = 32 * MIB;
        // 40 MiB starting just below 32 MiB: QEMU must split it at the server's 32 MiB maximum.
        qemuIo("straddle",
                "write -P 0xa5 " + (boundary - 3) + " 7",
                "read -P 0xa5 " + (boundary - 3) + " 7",
                "write -P 0x5a " + (boundary - 1001) + " " + (40 * MIB),
                "read -P 0x5a " + (boundary - 1001) + " " + (40 * MIB),
                "read -P 0 " + (boundary - 1002) + " 1");
    }

    @Test
    void writeZeroesAndDiscardReadBackAsZeroes() {
        blockd.createVolume("zeroes", SIZE);
        qemuIo("zeroes",
                "write -P 0xee 0 4M",
                "write -z 4097 65535",
                "read -P 0 4097 65535",
                "read -P 0xee 0 4097",
                "read -P 0xee 69632 1M",
                "write -z -u 1M 1M",
                "read -P 0 1M 1M",
                "discard 2M 1M",
                "read -P 0 2M 1M",
                "read -P 0xee 3M 1M");
    }

    @Test
    void fuaWritesAreAcknowledgedAndReadBack() {
        blockd.createVolume("fua", SIZE);
        qemuIo("fua", "write -f -P 0x3c 512 1M", "write -f -P 0x3d 7 1", "flush",
                "read -P 0x3c 512 1M", "read -P 0x3d 7 1");
    }

    @Test
    void manyAsyncWritesInFlightThenFlush() {
        blockd.createVolume("aio", SIZE);
        List<String> cmds = new ArrayList<>();
        // 64 writes queued before any completes, each with its own pattern. They must not
        // overlap: the protocol leaves the order of overlapping in-flight writes undefined.
        for (int i = 0; i < 64; i++) {
            cmds.add("aio_write -P " + (i + 1) + " " + (i * 65536L + (i % 3)) + " 65533");
        }
        cmds.add("aio_flush");
        for (int i = 0; i < 64; i++) {
            cmds.add("read -P " + (i + 1) + " " + (i * 65536L + (i % 3)) + " 65533");
        }
        qemuIo("aio", cmds.toArray(String[]::new));
    }

    @Test
    void readPastTheEndFailsCleanlyAndTheDaemonKeepsServing() {
        blockd.createVolume("pastend", SIZE);
        qemuIo("pastend", "write -P 0x42 0 4096");
        PeerCommand.Result past = PeerCommand.run(PeerCommand.DEFAULT_TIMEOUT,
                "qemu-io", "-f", "raw", "-c", "read " + (SIZE - 512) + " 1024", blockd.nbdUri("pastend"));
        assertThat(past.exitCode()).as(past.describe()).isEqualTo(1);
        assertThat(past.stdout() + past.stderr()).contains("read failed");
        assertThat(blockd.isAlive()).isTrue();
        qemuIo("pastend", "read -P 0x42 0 4096");
    }
}
