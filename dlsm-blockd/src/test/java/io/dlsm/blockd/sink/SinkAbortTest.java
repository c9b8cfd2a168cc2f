package io.dlsm.blockd.sink;

import static io.dlsm.blockd.sink.TwoNodes.REGION;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dlsm.blockd.nbd.client.NbdClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Abort in PROXY drops the sink and leaves the source alone; abort after ACTIVE is a
 * migration back in which only the regions written at the destination travel.
 */
@Timeout(180)
class SinkAbortTest {
    private static final long SIZE = 8L << 20;

    @TempDir
    Path dir;

    @Test
    void abortInProxyLeavesTheSourceUntouched() throws Exception {
        long seed = TwoNodes.seed(getClass());
        try (TwoNodes nodes = new TwoNodes(dir)) {
            TwoNodes.SourceImage img = nodes.createSourceVolume("vol", SIZE, new Random(seed), 0.3);
            nodes.createSink("vol", nodes.openMigrationExport("vol"), 0, null, true);
            try (NbdClient viaSink = nodes.connectDest("vol")) {
                assertThat(TwoNodes.read(viaSink, 0, REGION)).isEqualTo(SinkHydrationTest.slice(img.bytes(), 0, REGION));
            }
            SinkStatus aborted = nodes.dest.sinks().abort("vol");
            assertThat(aborted.state()).isEqualTo(SinkState.ABORTED);
            assertThat(aborted.bytesMigratedBack()).isZero();
            assertThatThrownBy(() -> nodes.sink("vol")).isInstanceOfSatisfying(SinkException.class,
                    e -> assertThat(e.kind()).isEqualTo(SinkException.Kind.NOT_FOUND));
            assertThat(nodes.dest.exports().lookup("vol")).isEmpty();
            try (var left = Files.list(nodes.destDir.resolve("sinks"))) {
                assertThat(left).isEmpty();
            }
            assertThat(nodes.source.volumes().get("vol").fenced()).isFalse();
            try (NbdClient vm = nodes.connectSource("vol")) {
                assertThat(vm.readOnly()).isFalse();
                assertThat(TwoNodes.readAll(vm)).as("seed=%d", seed).isEqualTo(img.bytes());
            }
        }
    }

    @Test
    void abortAfterActiveCopiesOnlyTheDestinationsWritesBack() throws Exception {
        long seed = TwoNodes.seed(getClass());
        Random rnd = new Random(seed);
        try (TwoNodes nodes = new TwoNodes(dir)) {
            TwoNodes.SourceImage img = nodes.createSourceVolume("vol", SIZE, rnd, 0.3);
            byte[] model = img.copy();
            // Throttled hard so most regions are still on the source when the abort comes.
            nodes.migrate("vol", 1, null, true);
            try (NbdClient guest = nodes.connectDest("vol")) {
                for (int i = 0; i < 20; i++) {
                    int len = 1 + rnd.nextInt(2 * REGION);
                    long off = (long) (rnd.nextDouble() * (SIZE - len));
                    byte[] data = new byte[len];
                    rnd.nextBytes(data);
                    TwoNodes.write(guest, off, data, 0, len, false);
                    System.arraycopy(data, 0, model, (int) off, len);
                }
                guest.flush();
            }
            SinkStatus beforeAbort = nodes.sink("vol");
            SinkStatus aborted = nodes.dest.sinks().abort("vol");
            System.out.println("abort: before=" + TwoNodes.numbers(beforeAbort) + " after=" + TwoNodes.numbers(aborted));
            assertThat(aborted.state()).isEqualTo(SinkState.ABORTED);
            assertThat(beforeAbort.regionsWrittenHere()).isPositive();
            assertThat(aborted.bytesMigratedBack()).as("seed=%d: only written regions travel back", seed)
                    .isEqualTo(aborted.regionsWrittenHere() * REGION);
            assertThatThrownBy(() -> nodes.sink("vol")).isInstanceOf(SinkException.class);
            assertThat(nodes.dest.exports().lookup("vol")).isEmpty();

            nodes.source.volumes().unfence("vol");
            try (NbdClient vm = nodes.connectSource("vol")) {
                assertThat(vm.readOnly()).isFalse();
                byte[] all = TwoNodes.readAll(vm);
                assertThat(TwoNodes.firstDifference(all, model, 0, all.length))
                        .as("seed=%d: first byte of the source after the migration back that differs", seed)
                        .isEqualTo(-1);
            }
        }
    }
}
