package io.dlsm.blockd.sink;

import static io.dlsm.blockd.sink.TwoNodes.REGION;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.nbd.client.NbdClient;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * PROXY (t0..t1): the sink is a transparent window on the source, caches nothing, and cannot
 * be activated before the source is fenced; the source fences itself when its last ordinary
 * writer leaves once a migration export is open.
 */
@Timeout(180)
class SinkProxyTest {
    private static final long SIZE = 4L << 20;

    @TempDir
    Path dir;

    @Test
    void proxyForwardsBothWaysCachesNothingAndActivatesOnlyWhenFenced() throws Exception {
        long seed = TwoNodes.seed(getClass());
        Random rnd = new Random(seed);
        try (TwoNodes nodes = new TwoNodes(dir);
             NbdClient vm = openVm(nodes, rnd)) {
            String alias = nodes.openMigrationExport("vol");
            nodes.createSink("vol", alias, 0, null, true);
            try (NbdClient viaSink = nodes.connectDest("vol")) {
                // A write on the source (the VM still runs there) is visible through the sink.
                byte[] a = random(rnd, 3 * REGION + 123);
                TwoNodes.write(vm, REGION - 17, a, 0, a.length, false);
                assertThat(TwoNodes.read(viaSink, REGION - 17, a.length)).isEqualTo(a);
                // A write through the sink lands on the source.
                byte[] b = random(rnd, 2 * REGION + 7);
                TwoNodes.write(viaSink, 5 * REGION + 9, b, 0, b.length, true);
                assertThat(TwoNodes.read(vm, 5 * REGION + 9, b.length)).isEqualTo(b);
                viaSink.writeZeroes(9 * REGION, REGION, false, false);
                assertThat(TwoNodes.read(vm, 9 * REGION, REGION)).isEqualTo(new byte[REGION]);
                viaSink.flush();
                assertThat(TwoNodes.readAll(viaSink)).isEqualTo(TwoNodes.readAll(vm));

                SinkStatus s = nodes.sink("vol");
                assertThat(s.state()).isEqualTo(SinkState.PROXY);
                assertThat(s.regionsPresent()).as("nothing is cached in PROXY").isZero();
                assertThat(s.wireBytesReceived()).isZero();
                assertThat(s.bytesProxiedRead()).isPositive();
                assertThat(s.bytesProxiedWritten()).isEqualTo(b.length);
                byte[] local = Files.readAllBytes(nodes.destDir.resolve("sinks/vol.img"));
                assertThat(local).as("the sink's local file holds nothing in PROXY").isEqualTo(new byte[local.length]);

                // Not fenced: refused, through the Java API and over HTTP (409).
                assertThatThrownBy(() -> nodes.dest.sinks().activate("vol", false))
                        .isInstanceOfSatisfying(SinkException.class,
                                e -> assertThat(e.kind()).isEqualTo(SinkException.Kind.CONFLICT));
                HttpResponse<String> refused = post(nodes, "/v1/sinks/vol/activate", "{}");
                assertThat(refused.statusCode()).as(refused.body()).isEqualTo(409);
                assertThat(nodes.sink("vol").state()).isEqualTo(SinkState.PROXY);

                // Fenced: the VM's writes are refused, the sink's still reach the source.
                nodes.source.volumes().fence("vol");
                byte[] c = random(rnd, 100);
                assertThatThrownBy(() -> TwoNodes.write(vm, 0, c, 0, c.length, false))
                        .isInstanceOfSatisfying(BlockIoException.class,
                                e -> assertThat(e.errno()).isEqualTo(Errno.EPERM));
                TwoNodes.write(viaSink, 0, c, 0, c.length, true);
                assertThat(TwoNodes.read(vm, 0, c.length)).isEqualTo(c);

                HttpResponse<String> ok = post(nodes, "/v1/sinks/vol/activate", "{}");
                assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
                assertThat(ok.body()).contains("\"state\":\"ACTIVE\"");
                byte[] expected = TwoNodes.readAll(vm);
                assertThat(TwoNodes.readAll(viaSink)).isEqualTo(expected);
                nodes.awaitState("vol", SinkState.COMMITTED, Duration.ofSeconds(30));
                assertThat(TwoNodes.readAll(viaSink)).isEqualTo(expected);
            }
        }
    }

    @Test
    void lastOrdinaryWriterLeavingFencesTheSource() throws Exception {
        Random rnd = new Random(TwoNodes.seed(getClass()));
        try (TwoNodes nodes = new TwoNodes(dir)) {
            NbdClient first = openVm(nodes, rnd);
            NbdClient second = nodes.connectSource("vol");
            first.close();
            second.close();
            awaitWriters(nodes, 0);
            assertThat(nodes.source.volumes().get("vol").fenced())
                    .as("no migration export yet: leaving does not fence").isFalse();

            NbdClient vm1 = nodes.connectSource("vol");
            NbdClient vm2 = nodes.connectSource("vol");
            String alias = nodes.openMigrationExport("vol");
            nodes.createSink("vol", alias, 0, null, true);
            vm1.close();
            awaitWriters(nodes, 1);
            assertThat(nodes.source.volumes().get("vol").fenced()).as("one writer is still there").isFalse();
            vm2.close();
            TwoNodes.await("automatic fence", Duration.ofSeconds(60),
                    () -> nodes.source.volumes().get("vol").fenced());
            assertThat(nodes.dest.sinks().activate("vol", false).state()).isIn(SinkState.ACTIVE,
                    SinkState.HYDRATED, SinkState.COMMITTED);
        }
    }

    /**
     * Asking the source whether it is fenced must not fence it: when no VM is connected to
     * the source (it is between two connections), a refused activation must leave the source
     * writable.
     */
    @Test
    void refusedActivationDoesNotFenceTheSource() throws Exception {
        Random rnd = new Random(TwoNodes.seed(getClass()));
        try (TwoNodes nodes = new TwoNodes(dir)) {
            openVm(nodes, rnd).close();
            awaitWriters(nodes, 0);
            String alias = nodes.openMigrationExport("vol");
            nodes.createSink("vol", alias, 0, null, true);
            assertThatThrownBy(() -> nodes.dest.sinks().activate("vol", false)).isInstanceOf(SinkException.class);
            awaitWriters(nodes, 0);
            assertThat(nodes.source.volumes().get("vol").fenced())
                    .as("the fence probe of a refused activation fenced the source").isFalse();
            try (NbdClient vm = nodes.connectSource("vol")) {
                assertThat(vm.readOnly()).isFalse();
            }
        }
    }

    private static NbdClient openVm(TwoNodes nodes, Random rnd) throws Exception {
        nodes.source.volumes().create("vol", SIZE, false);
        NbdClient vm = nodes.connectSource("vol");
        byte[] data = random(rnd, (int) SIZE / 2);
        TwoNodes.write(vm, SIZE / 4, data, 0, data.length, false);
        vm.flush();
        return vm;
    }

    private static void awaitWriters(TwoNodes nodes, int n) {
        TwoNodes.await(n + " writers on the source", Duration.ofSeconds(60),
                () -> nodes.source.volumes().get("vol").writers() == n);
    }

    private static byte[] random(Random rnd, int n) {
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        return b;
    }

    private static HttpResponse<String> post(TwoNodes nodes, String path, String body) throws Exception {
        HttpRequest req = HttpRequest.newBuilder(URI.create("http://" + TwoNodes.HOST + ":"
                        + nodes.dest.apiAddress().getPort() + path))
                .header("Content-Type", "application/json")
                .header("Authorization", "Bearer " + java.nio.file.Files.readString(
                        nodes.destDir.resolve(io.dlsm.blockd.Blockd.API_TOKEN)).strip())
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build().send(req, HttpResponse.BodyHandlers.ofString());
    }
}
