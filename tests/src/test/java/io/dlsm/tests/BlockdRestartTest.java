package io.dlsm.tests;

import io.dlsm.tests.support.JsonHttp;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.dlsm.tests.support.BlockdProcess;
import io.dlsm.tests.support.PeerCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Durability contract (docs/design.md, "FLUSH and FUA"): what was acknowledged with FUA, or before an
 * acknowledged FLUSH, survives SIGKILL; volumes, sizes and access modes come back too.
 */
class BlockdRestartTest {
    private static final long MIB = 1L << 20;
    @TempDir
    Path tmp;
    BlockdProcess blockd;

    @AfterEach
    void stopBlockd() {
        if (blockd != null) {
            blockd.close();
        }
    }

    @Test
    void acknowledgedWritesVolumesAndSizesSurviveKill9() throws Exception {
        blockd = BlockdProcess.start(tmp.resolve("data"));
        blockd.createVolume("durable", 8 * MIB);
        blockd.createVolume("grown", 4 * MIB);
        blockd.createVolume("frozen", 2 * MIB);
        assertThat(blockd.call("PUT", "/v1/volumes/grown/size", Map.of("sizeBytes", 16 * MIB)).status())
                .isEqualTo(200);

        PeerCommand.ok("qemu-io", "-f", "raw", "-c", "write -f -P 0x5a 0 1M", "-c", "write -f -P 0x5b 4095 3",
                blockd.nbdUri("durable"));
        PeerCommand.ok("qemu-io", "-f", "raw", "-c", "write -P 0x6b 1M 2M", "-c", "flush",
                blockd.nbdUri("durable"));
        // Beyond the volume's original 4 MiB: only reachable because the resize took effect.
        PeerCommand.ok("/usr/bin/python3", "-m", "nbd", "-u", blockd.nbdUri("grown"),
                "-c", "h.pwrite(b'\\x7c' * 65536, 12 * 1024 * 1024 + 1)", "-c", "h.flush()");
        PeerCommand.ok("qemu-io", "-f", "raw", "-c", "write -f -P 0x01 0 64k", blockd.nbdUri("frozen"));
        assertThat(blockd.call("PUT", "/v1/volumes/frozen/access", Map.of("readOnly", true)).status())
                .isEqualTo(200);
        Map<String, String> before = Map.of("durable", checksum("durable", "before"),
                "grown", checksum("grown", "before"), "frozen", checksum("frozen", "before"));

        long oldPid = blockd.pid();
        blockd.kill9();
        assertThat(ProcessHandle.of(oldPid).map(ProcessHandle::isAlive).orElse(false)).isFalse();
        blockd.restart();

        assertThat(volume("durable").path("sizeBytes").asLong()).isEqualTo(8 * MIB);
        assertThat(volume("grown").path("sizeBytes").asLong()).isEqualTo(16 * MIB);
        assertThat(volume("frozen").path("readOnly").asBoolean()).isTrue();
        assertThat(PeerCommand.ok("nbdinfo", "--size", blockd.nbdUri("grown")).stdout().trim())
                .isEqualTo(String.valueOf(16 * MIB));
        for (String name : before.keySet()) {
            assertThat(checksum(name, "after")).as("SHA-256 of %s after kill -9 and restart", name)
                    .isEqualTo(before.get(name));
        }
        PeerCommand.ok("qemu-io", "-f", "raw", "-r", "-c", "read -P 0x5a 0 4095", "-c", "read -P 0x5b 4095 3",
                "-c", "read -P 0x6b 1M 2M", blockd.nbdUri("durable"));
        PeerCommand.expectExit(2, "nbdinfo", "--can", "write", blockd.nbdUri("frozen"));
    }

    private JsonNode volume(String name) {
        JsonHttp.Reply r = blockd.call("GET", "/v1/volumes/" + name, null);
        assertThat(r.status()).as("GET %s: %s", name, r.body()).isEqualTo(200);
        return r.body();
    }

    /** Reads the whole export through NBD (not the file), so it checks what clients see. */
    private String checksum(String export, String tag) throws Exception {
        Path copy = tmp.resolve(export + "-" + tag + ".raw");
        PeerCommand.ok("nbdcopy", blockd.nbdUri(export), copy.toString());
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        return HexFormat.of().formatHex(sha.digest(Files.readAllBytes(copy)));
    }
}
