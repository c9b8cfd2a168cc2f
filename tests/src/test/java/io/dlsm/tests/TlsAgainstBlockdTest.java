package io.dlsm.tests;

import static io.dlsm.blockd.nbd.Nbd.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dlsm.blockd.nbd.client.NbdClient;
import io.dlsm.blockd.nbd.client.NbdOptionException;
import io.dlsm.blockd.tls.NodeTls;
import io.dlsm.blockd.tls.TlsException;
import io.dlsm.blockd.tls.TlsMode;
import io.dlsm.blockd.tls.TlsSettings;
import io.dlsm.tests.support.BlockdProcess;
import io.dlsm.tests.support.FreePort;
import io.dlsm.tests.support.JsonHttp;
import io.dlsm.tests.support.PeerCommand;
import io.dlsm.tests.support.PeerServer;
import io.dlsm.tests.support.RawNbd;
import io.dlsm.tests.support.TestPki;
import io.dlsm.tests.support.TestSeed;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * NBD over TLS against real peers. blockd runs with a certificate, requires TLS and accepts
 * two client subjects; QEMU (qemu-io, qemu-img), libnbd (nbdinfo, nbdcopy) and blockd's own
 * client reach it through TLS, and each way in without an acceptable certificate is tried and
 * shown refused while the daemon goes on serving the others. qemu-nbd serves TLS to blockd's
 * client (a sink hydrating from it), and a volume migrates between two TLS blockd processes.
 * Certificates come from openssl at test time ({@link TestPki}).
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class TlsAgainstBlockdTest {
    private static final int MIB = 1 << 20;
    private static final Duration WAIT = Duration.ofSeconds(180);

    @TempDir
    static Path tmp;
    private static TestPki pki;
    private static TestPki.Identity nodeA;
    private static TestPki.Identity nodeB;
    private static TestPki.Identity client;
    private static BlockdProcess blockd;
    private static NodeTls clientTls;
    private final long seed = TestSeed.announce(getClass());

    @BeforeAll
    static void start() throws IOException {
        pki = TestPki.create(tmp.resolve("pki"));
        nodeA = pki.issue("node-a");
        nodeB = pki.issue("node-b");
        client = pki.issue("client");
        blockd = BlockdProcess.start(tmp.resolve("a"), TestPki.blockdArgs(nodeA, client.subject(), nodeB.subject()));
        clientTls = load(client, pki.ca());
    }

    @AfterAll
    static void stop() {
        if (blockd != null) {
            blockd.close();
        }
    }

    @Test
    void qemuIoAndQemuImgWorkThroughTls() throws IOException {
        blockd.createVolume("qemu", 16 * MIB);
        Path creds = pki.gnutlsDir("client", client, pki.ca());
        String object = "tls-creds-x509,id=tls0,endpoint=client,dir=" + creds;
        PeerCommand.Result io = PeerCommand.ok("qemu-io", "--object", object, "--image-opts", imageOpts("qemu"),
                "-c", "write -P 0x5a 0 1M", "-c", "write -P 0xa5 4M 1M", "-c", "read -P 0x5a 0 1M",
                "-c", "read -P 0xa5 4M 1M", "-c", "read -P 0 1M 3M");
        assertThat(io.stdout()).doesNotContain("Pattern verification failed").contains("read 1048576/1048576");

        byte[] image = randomBytes(8 * MIB);
        Path src = tmp.resolve("qemu-src.raw");
        Files.write(src, image);
        blockd.createVolume("qemu-img", 8 * MIB);
        PeerCommand.ok("qemu-img", "convert", "-n", "--object", object, "-f", "raw", src.toString(),
                "--target-image-opts", imageOpts("qemu-img"));
        assertThat(readThroughTls("qemu-img", 8 * MIB)).isEqualTo(image);
        PeerCommand.Result info = PeerCommand.ok("qemu-img", "info", "--object", object, "--image-opts",
                imageOpts("qemu-img"));
        assertThat(info.stdout()).contains("virtual size: 8 MiB");
    }

    @Test
    void nbdinfoAndNbdcopyWorkThroughTls() throws IOException {
        blockd.createVolume("libnbd", 8 * MIB);
        byte[] image = randomBytes(8 * MIB);
        Path src = tmp.resolve("libnbd-src.raw");
        Path back = tmp.resolve("libnbd-back.raw");
        Files.write(src, image);
        String uri = nbdsUri("libnbd", pki.gnutlsDir("client", client, pki.ca()));
        PeerCommand.ok("nbdcopy", src.toString(), uri);
        PeerCommand.ok("nbdcopy", uri, back.toString());
        assertThat(Files.readAllBytes(back)).isEqualTo(image);
        assertThat(PeerCommand.ok("nbdinfo", uri).stdout()).contains("with TLS").contains("export-size: 8388608");
    }

    /** nbd-client, the kernel path's client, does STARTTLS with blockd (listing needs no nbd device). */
    @Test
    void nbdClientListsExportsOnlyThroughTls() {
        blockd.createVolume("kernel-listed", MIB);
        PeerCommand.Result listed = PeerCommand.ok("nbd-client", "-l", blockd.nbdHost(),
                Integer.toString(blockd.nbdPort()), "-certfile", client.cert().toString(), "-keyfile",
                client.key().toString(), "-cacertfile", pki.ca().toString(), "-tlshostname", blockd.nbdHost());
        assertThat(listed.stdout()).contains("kernel-listed");
        PeerCommand.Result plain = PeerCommand.run(PeerCommand.DEFAULT_TIMEOUT, "nbd-client", "-l", blockd.nbdHost(),
                Integer.toString(blockd.nbdPort()));
        assertThat(plain.exitCode()).as(plain.describe()).isNotZero();
        assertThat(plain.stdout() + plain.stderr()).contains("requires TLS").doesNotContain("kernel-listed");
    }

    @Test
    void aPlainClientIsToldTlsIsRequiredAndGetsNothing() throws IOException {
        blockd.createVolume("plain", MIB);
        assertThatThrownBy(() -> NbdClient.connect(blockd.nbdHost(), blockd.nbdPort(), "plain"))
                .isInstanceOfSatisfying(NbdOptionException.class,
                        e -> assertThat(e.replyType()).isEqualTo(NBD_REP_ERR_TLS_REQD))
                .hasMessageContaining("requires TLS");
        try (RawNbd raw = RawNbd.handshakeStart(blockd)) {
            raw.option(NBD_OPT_LIST, new byte[0]);
            assertThat(raw.optionReplyType(NBD_OPT_LIST)).as("NBD_OPT_LIST before TLS").isEqualTo(NBD_REP_ERR_TLS_REQD);
            raw.option(NBD_OPT_INFO, infoData("plain"));
            assertThat(raw.optionReplyType(NBD_OPT_INFO)).isEqualTo(NBD_REP_ERR_TLS_REQD);
            raw.option(NBD_OPT_STARTTLS, new byte[] {1});
            assertThat(raw.optionReplyType(NBD_OPT_STARTTLS)).as("STARTTLS with data").isEqualTo(NBD_REP_ERR_INVALID);
            // NBD_OPT_EXPORT_NAME has no error reply: the server hangs up, as the protocol says.
            raw.option(NBD_OPT_EXPORT_NAME, "plain".getBytes(StandardCharsets.UTF_8));
            assertThat(raw.closedByServer()).isTrue();
        }
        PeerCommand.Result nbdinfo = PeerCommand.run(PeerCommand.DEFAULT_TIMEOUT, "nbdinfo",
                blockd.nbdUri("plain"));
        assertThat(nbdinfo.exitCode()).as(nbdinfo.describe()).isNotZero();
        PeerCommand.Result qemuIo = PeerCommand.run(PeerCommand.DEFAULT_TIMEOUT, "qemu-io", "-f", "raw",
                "-c", "read 0 4k", blockd.nbdUri("plain"));
        assertThat(qemuIo.exitCode()).as(qemuIo.describe()).isNotZero();
        assertThat(qemuIo.stderr()).containsIgnoringCase("TLS");
        stillServes("plain");
    }

    @Test
    void clientsWithoutAnAcceptableCertificateAreRefused() throws IOException {
        blockd.createVolume("guarded", MIB);
        TestPki.Identity stranger = pki.issueByOtherCa("stranger");
        TestPki.Identity intruder = pki.issue("intruder");
        record Attempt(String what, Path dir, String logged) {
        }
        List<Attempt> attempts = List.of(
                new Attempt("no client certificate", pki.gnutlsDir("client", null, pki.ca()),
                        "Empty client certificate chain"),
                new Attempt("a certificate from another CA", pki.gnutlsDir("client", stranger, pki.ca()),
                        "TLS handshake failed"),
                new Attempt("a subject not allowed", pki.gnutlsDir("client", intruder, pki.ca()),
                        "'CN=intruder,O=DLSM test' is not one of the --tls-allowed-subject values"));
        for (Attempt a : attempts) {
            long before = blockd.logLines(l -> l.contains(a.logged()));
            PeerCommand.Result r = PeerCommand.run(PeerCommand.DEFAULT_TIMEOUT, "nbdinfo", nbdsUri("guarded", a.dir()));
            assertThat(r.exitCode()).as("nbdinfo with %s:\n%s", a.what(), r.describe()).isNotZero();
            assertThat(r.stdout()).as(a.what()).doesNotContain("export-size");
            await("blockd logs the refusal of " + a.what(),
                    () -> blockd.logLines(l -> l.contains(a.logged())) > before);
            stillServes("guarded");
        }
        // blockd's own client with those identities: refused the same way.
        for (TestPki.Identity id : List.of(intruder, stranger)) {
            NodeTls tls = load(id, pki.ca());
            assertThatThrownBy(() -> readThroughTls("guarded", MIB, tls)).as(id.name()).isInstanceOf(IOException.class);
        }
        PeerCommand.Result qemuIo = PeerCommand.run(PeerCommand.DEFAULT_TIMEOUT, "qemu-io", "--object",
                "tls-creds-x509,id=tls0,endpoint=client,dir=" + pki.gnutlsDir("client", intruder, pki.ca()),
                "--image-opts", imageOpts("guarded"), "-c", "read 0 4k");
        assertThat(qemuIo.exitCode()).as(qemuIo.describe()).isNotZero();
        assertThat(blockd.isAlive()).isTrue();
        assertThat(blockd.stackTraceCount()).as("refusals are one log line each").isZero();
        stillServes("guarded");
    }

    @Test
    void blockdsClientChecksTheServersCaAndName() throws IOException {
        Path image = tmp.resolve("checked.raw");
        Files.write(image, new byte[MIB]);
        // A server whose certificate names another address than the one dialled.
        TestPki.Identity elsewhere = pki.issueFor("elsewhere", "IP:127.0.0.2");
        try (PeerServer q = qemuNbdTls(image, pki.gnutlsDir("server", elsewhere, pki.ca()), true)) {
            assertThatThrownBy(() -> NbdClient.info("127.0.0.1", q.port(), "disk", Optional.of(clientTls)))
                    .isInstanceOf(TlsException.class).hasMessageContaining("127.0.0.1");
        }
        // A server from a CA this node does not trust.
        TestPki.Identity foreign = pki.issueByOtherCa("foreign");
        try (PeerServer q = qemuNbdTls(image, pki.gnutlsDir("server", foreign, pki.otherCa()), false)) {
            assertThatThrownBy(() -> NbdClient.info("127.0.0.1", q.port(), "disk", Optional.of(clientTls)))
                    .isInstanceOf(TlsException.class).hasMessageContaining("TLS handshake failed");
        }
        // A plain server: this client never falls back to the clear.
        try (PeerServer q = qemuNbdPlain(image)) {
            assertThatThrownBy(() -> NbdClient.info("127.0.0.1", q.port(), "disk", Optional.of(clientTls)))
                    .isInstanceOf(NbdOptionException.class).hasMessageContaining("does not fall back");
        }
    }

    @Test
    void aSinkHydratesFromQemuNbdServingTls() throws Exception {
        byte[] image = randomBytes(24 * MIB);
        // Holes as well as data: a sink skips them and must still read them back as zeroes.
        Arrays.fill(image, 8 * MIB, 12 * MIB, (byte) 0);
        Path file = tmp.resolve("qemu-source.raw");
        Files.write(file, image);
        // qemu-nbd checks blockd's certificate too (verify-peer), read-only so the sink may activate.
        try (PeerServer q = qemuNbdTls(file, pki.gnutlsDir("server", pki.issue("qemu-source"), pki.ca()), true)) {
            JsonHttp.Reply created = blockd.call("POST", "/v1/sinks", Map.of("name", "from-qemu",
                    "source", Map.of("host", "127.0.0.1", "port", q.port(), "export", "disk")));
            assertThat(created.status()).as("%s", created.body()).isEqualTo(201);
            JsonHttp.Reply activated = blockd.call("POST", "/v1/sinks/from-qemu/activate", Map.of());
            assertThat(activated.status()).as("%s", activated.body()).isEqualTo(200);
            await("the sink committed", () -> blockd.call("GET", "/v1/sinks/from-qemu", null).body()
                    .path("state").asText().equals("COMMITTED"));
        }
        assertThat(Arrays.mismatch(readThroughTls("from-qemu", image.length), image))
                .as("first byte that differs from qemu-nbd's image").isEqualTo(-1);
    }

    @Test
    void aVolumeMigratesBetweenTwoTlsNodes() throws Exception {
        int size = 16 * MIB;
        byte[] model = new byte[size];
        blockd.createVolume("moving", size);
        Random rnd = new Random(seed);
        try (NbdClient c = tlsClient("moving")) {
            for (int m = 0; m < size / MIB; m++) {
                if (m % 4 != 1) {
                    byte[] chunk = new byte[MIB];
                    rnd.nextBytes(chunk);
                    System.arraycopy(chunk, 0, model, m * MIB, MIB);
                    c.write((long) m * MIB, ByteBuffer.wrap(chunk), false);
                }
            }
            c.flush();
        }
        String alias = blockd.call("POST", "/v1/volumes/moving/migration-export", null).body()
                .path("migrationExport").asText();
        // B offers TLS (and serves plain clients): its link to A must use TLS anyway.
        try (BlockdProcess b = BlockdProcess.start(tmp.resolve("b"), withOffer(TestPki.blockdArgs(nodeB,
                client.subject())))) {
            Map<String, Object> sink = Map.of("name", "moving", "source", Map.of("host", blockd.nbdHost(),
                    "port", blockd.nbdPort(), "export", alias));
            JsonHttp.Reply created = b.call("POST", "/v1/sinks", sink);
            assertThat(created.status()).as("%s", created.body()).isEqualTo(201);
            assertThat(blockd.call("POST", "/v1/volumes/moving/fence", null).status()).isEqualTo(200);
            JsonHttp.Reply activated = b.call("POST", "/v1/sinks/moving/activate", Map.of());
            assertThat(activated.status()).as("%s", activated.body()).isEqualTo(200);
            await("the sink on B committed", () -> b.call("GET", "/v1/sinks/moving", null).body()
                    .path("state").asText().equals("COMMITTED"));
            byte[] got = readThroughTls(b, "moving", size, clientTls);
            assertThat(Arrays.mismatch(got, model)).as("first byte that differs from A's volume").isEqualTo(-1);
            // OFFER: B also serves a plain client, the same bytes.
            assertThat(Arrays.mismatch(b.readExport("moving", size), model)).isEqualTo(-1);
        }
    }

    @Test
    void aNodeWithoutTlsCannotPullAVolume() throws IOException {
        blockd.createVolume("kept", MIB);
        String alias = blockd.call("POST", "/v1/volumes/kept/migration-export", null).body()
                .path("migrationExport").asText();
        try (BlockdProcess plain = BlockdProcess.start(tmp.resolve("plain-node"))) {
            JsonHttp.Reply refused = plain.call("POST", "/v1/sinks", Map.of("name", "kept", "source",
                    Map.of("host", blockd.nbdHost(), "port", blockd.nbdPort(), "export", alias)));
            assertThat(refused.status()).as("%s", refused.body()).isEqualTo(502);
            assertThat(refused.body().path("message").asText()).contains("NBD_REP_ERR_TLS_REQD");
        }
        stillServes("kept");
    }

    // ------------------------------------------------------------------ helpers

    private static List<String> withOffer(List<String> args) {
        List<String> out = new ArrayList<>(args);
        out.add("--tls");
        out.add("offer");
        return out;
    }

    private static NodeTls load(TestPki.Identity id, Path trust) throws TlsException {
        return NodeTls.load(new TlsSettings(id.cert(), id.key(), trust, TlsMode.REQUIRE, List.of()));
    }

    private static String imageOpts(String export) {
        return "driver=nbd,host=" + blockd.nbdHost() + ",port=" + blockd.nbdPort() + ",export=" + export
                + ",tls-creds=tls0";
    }

    private static String nbdsUri(String export, Path certificates) {
        return "nbds://" + blockd.nbdHost() + ":" + blockd.nbdPort() + "/" + export + "?tls-certificates=" + certificates;
    }

    private static NbdClient tlsClient(String export) throws IOException {
        return NbdClient.connect(new InetSocketAddress(blockd.nbdHost(), blockd.nbdPort()), export,
                NbdClient.DEFAULT_CONNECT_TIMEOUT, NbdClient.DEFAULT_HANDSHAKE_TIMEOUT, Optional.of(clientTls));
    }

    private static byte[] readThroughTls(String export, int size) throws IOException {
        return readThroughTls(blockd, export, size, clientTls);
    }

    private static byte[] readThroughTls(String export, int size, NodeTls tls) throws IOException {
        return readThroughTls(blockd, export, size, tls);
    }

    private static byte[] readThroughTls(BlockdProcess node, String export, int size, NodeTls tls) throws IOException {
        byte[] out = new byte[size];
        try (NbdClient c = NbdClient.connect(new InetSocketAddress(node.nbdHost(), node.nbdPort()), export,
                NbdClient.DEFAULT_CONNECT_TIMEOUT, NbdClient.DEFAULT_HANDSHAKE_TIMEOUT, Optional.of(tls))) {
            for (int off = 0; off < size; off += MIB) {
                c.read(off, ByteBuffer.wrap(out, off, Math.min(MIB, size - off)).slice());
            }
        }
        return out;
    }

    /** A TLS client with a good certificate still gets its data: the daemon is unharmed. */
    private static void stillServes(String export) throws IOException {
        try (NbdClient c = tlsClient(export)) {
            ByteBuffer b = ByteBuffer.allocate(4096);
            c.read(0, b);
            assertThat(b.position()).isEqualTo(4096);
        }
    }

    private static byte[] infoData(String export) {
        byte[] name = export.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(4 + name.length + 2).putInt(name.length).put(name).putShort((short) 0).array();
    }

    private PeerServer qemuNbdTls(Path image, Path credsDir, boolean verifyPeer) throws IOException {
        int port = FreePort.find();
        return PeerServer.start(port, List.of("qemu-nbd", "--object", "tls-creds-x509,id=tls0,endpoint=server,dir="
                + credsDir + ",verify-peer=" + (verifyPeer ? "on" : "off"), "--tls-creds", "tls0", "-f", "raw",
                "-x", "disk", "-r", "-p", Integer.toString(port), "-b", "127.0.0.1", "--persistent", "--shared=8",
                image.toString()));
    }

    private PeerServer qemuNbdPlain(Path image) throws IOException {
        int port = FreePort.find();
        return PeerServer.start(port, List.of("qemu-nbd", "-f", "raw", "-x", "disk", "-r", "-p",
                Integer.toString(port), "-b", "127.0.0.1", "--persistent", image.toString()));
    }

    private byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        new Random(seed ^ n).nextBytes(b);
        return b;
    }

    private static void await(String what, BooleanSupplier done) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!done.getAsBoolean()) {
            assertThat(System.nanoTime()).as("%s within %s", what, WAIT).isLessThan(deadline);
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
    }
}
