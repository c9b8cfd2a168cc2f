package io.dlsm.tests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dlsm.tests.support.OneBlockdPerClass;
import io.dlsm.tests.support.PeerCommand;
import io.dlsm.tests.support.SparseImageFile;
import io.dlsm.tests.support.SparseImageFile.Extent;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** QEMU's own NBD client (through qemu-img) against a real blockd process. */
class QemuImgAgainstBlockdTest extends OneBlockdPerClass {
    private static final long SIZE = 64L << 20;
    @Test
    void infoReportsTheVolumeSize() throws Exception {
        blockd.createVolume("info", 48L << 20);
        JsonNode info = new ObjectMapper().readTree(
                PeerCommand.ok("qemu-img", "info", "--output=json", blockd.nbdUri("info")).stdout());
        assertThat(info.path("virtual-size").asLong()).isEqualTo(48L << 20);
    }

    @Test
    void convertIntoExportThenCompareBothWaysAndMapMatchesTheLayout() throws Exception {
        blockd.createVolume("converted", SIZE);
        Path source = tmp.resolve("source.raw");
        List<Extent> data = SparseImageFile.create(source, SIZE, 42, SparseImageFile.typicalLayout64MiB());
        String uri = blockd.nbdUri("converted");

        PeerCommand.ok("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", source.toString(), uri);

        // compare exits 0 only when contents are identical; run it both ways round.
        PeerCommand.ok("qemu-img", "compare", "-f", "raw", "-F", "raw", source.toString(), uri);
        PeerCommand.ok("qemu-img", "compare", "-f", "raw", "-F", "raw", uri, source.toString());

        JsonNode map = new ObjectMapper().readTree(
                PeerCommand.ok("qemu-img", "map", "--output=json", "-f", "raw", uri).stdout());
        assertThat(dataExtents(map)).as("data extents reported through base:allocation").isEqualTo(data);
        assertThat(map.get(map.size() - 1).path("start").asLong() + map.get(map.size() - 1).path("length").asLong())
                .isEqualTo(SIZE);
    }

    /** Merges qemu-img's map entries into maximal runs of data=true. */
    private static List<Extent> dataExtents(JsonNode map) {
        List<Extent> out = new ArrayList<>();
        for (JsonNode e : map) {
            if (!e.path("data").asBoolean()) {
                assertThat(e.path("zero").asBoolean()).as("a non-data extent reads as zeroes: %s", e).isTrue();
                continue;
            }
            long start = e.path("start").asLong();
            long length = e.path("length").asLong();
            Extent last = out.isEmpty() ? null : out.get(out.size() - 1);
            if (last != null && last.offset() + last.length() == start) {
                out.set(out.size() - 1, new Extent(last.offset(), last.length() + length));
            } else {
                out.add(new Extent(start, length));
            }
        }
        return out;
    }
}
