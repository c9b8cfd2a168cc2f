package io.dlsm.tests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dlsm.tests.support.OneBlockdPerClass;
import io.dlsm.tests.support.PeerCommand;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** libnbd's nbdinfo reads what blockd advertises during the handshake and via BLOCK_STATUS. */
class NbdinfoAgainstBlockdTest extends OneBlockdPerClass {
    private static final long KIB = 1024;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static JsonNode nbdinfoJson(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("nbdinfo", "--json"));
        cmd.addAll(List.of(args));
        return JSON.readTree(PeerCommand.ok(cmd.toArray(String[]::new)).stdout());
    }

    @Test
    void writableExportAdvertisesEveryCapabilityTheDesignPromises() throws Exception {
        blockd.createVolume("flags", 16 * KIB * KIB);
        JsonNode export = nbdinfoJson(blockd.nbdUri("flags")).path("exports").get(0);
        assertThat(export.path("export-name").asText()).isEqualTo("flags");
        assertThat(export.path("export-size").asLong()).isEqualTo(16 * KIB * KIB);
        for (String flag : List.of("can_trim", "can_zero", "can_fua", "can_flush", "can_multi_conn", "can_fast_zero")) {
            assertThat(export.path(flag).asBoolean()).as(flag + " in %s", export).isTrue();
        }
        assertThat(export.path("is_read_only").asBoolean()).isFalse();
        assertThat(export.path("block_size_minimum").asLong()).isEqualTo(1);
        assertThat(export.path("block_size_preferred").asLong()).isEqualTo(4096);
        assertThat(export.path("block_size_maximum").asLong()).isEqualTo(32 * KIB * KIB);
        assertThat(export.path("contexts").toString()).contains("base:allocation");
    }

    @Test
    void mapShowsHolesWhereTrimAndWriteZeroesLandedAndDataElsewhere() throws Exception {
        blockd.createVolume("mapped", 4 * KIB * KIB);
        String uri = blockd.nbdUri("mapped");
        PeerCommand.ok("qemu-io", "-f", "raw", "-c", "write -P 0x55 0 1M", uri);
        // WRITE_ZEROES without NO_HOLE may punch a hole; TRIM deallocates on a sparse file.
        PeerCommand.ok("/usr/bin/python3", "-m", "nbd", "-u", uri,
                "-c", "h.trim(256 * 1024, 0)",
                "-c", "h.zero(256 * 1024, 512 * 1024)");

        JsonNode map = nbdinfoJson("--map", uri);
        List<String> actual = new ArrayList<>();
        for (JsonNode e : map) {
            actual.add(e.path("offset").asLong() + "+" + e.path("length").asLong() + ":" + e.path("type").asInt());
        }
        // type 3 = hole,zero; type 0 = data.
        assertThat(actual).containsExactly(
                "0+262144:3",
                "262144+262144:0",
                "524288+262144:3",
                "786432+262144:0",
                "1048576+3145728:3");
    }

    @Test
    void listNamesEveryVolume() throws Exception {
        blockd.createVolume("listed-a", 1024 * KIB);
        blockd.createVolume("listed-b", 2048 * KIB, true);
        JsonNode list = nbdinfoJson("--list", "nbd://" + blockd.nbdHost() + ":" + blockd.nbdPort());
        List<String> names = new ArrayList<>();
        list.path("exports").forEach(e -> names.add(e.path("export-name").asText()));
        assertThat(names).contains("listed-a", "listed-b");
    }

    @Test
    void readOnlyVolumeIsReportedReadOnlyWithoutMutatingCapabilities() throws Exception {
        blockd.createVolume("readonly", 1024 * KIB, true);
        JsonNode export = nbdinfoJson(blockd.nbdUri("readonly")).path("exports").get(0);
        assertThat(export.path("is_read_only").asBoolean()).isTrue();
        assertThat(export.path("can_trim").asBoolean()).isFalse();
        assertThat(export.path("can_zero").asBoolean()).isFalse();
        // nbdinfo --can exits 2 for "no"; 0 would mean the export accepts writes.
        PeerCommand.expectExit(2, "nbdinfo", "--can", "write", blockd.nbdUri("readonly"));
    }
}
