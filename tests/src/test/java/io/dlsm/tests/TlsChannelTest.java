package io.dlsm.tests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dlsm.blockd.tls.NodeTls;
import io.dlsm.blockd.tls.TlsChannel;
import io.dlsm.blockd.tls.TlsException;
import io.dlsm.blockd.tls.TlsMode;
import io.dlsm.blockd.tls.TlsSettings;
import io.dlsm.tests.support.PeerCommand;
import io.dlsm.tests.support.TestPki;
import io.dlsm.tests.support.TestSeed;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * blockd's TLS layer on its own, over a real loopback socket with openssl-made certificates:
 * what it refuses to load, and that bytes go through intact both ways at once, large gathered
 * writes included, and that an idle connection's probe tells housekeeping from data and close.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TlsChannelTest {
    @TempDir
    static Path tmp;
    private static TestPki pki;
    private static TestPki.Identity server;
    private static TestPki.Identity client;
    private final long seed = TestSeed.announce(getClass());

    @BeforeAll
    static void certificates() {
        pki = TestPki.create(tmp.resolve("pki"));
        server = pki.issue("server");
        client = pki.issue("client");
    }

    @Test
    void badFilesAreRefusedAtLoadWithTheirName() throws IOException {
        TlsSettings good = settings(server);
        assertThatThrownBy(() -> NodeTls.load(new TlsSettings(server.cert(), client.key(), pki.ca(), TlsMode.REQUIRE,
                List.of()))).isInstanceOf(TlsException.class).hasMessageContaining("does not belong")
                .hasMessageContaining(client.key().toString());
        Path missing = tmp.resolve("nope.pem");
        assertThatThrownBy(() -> NodeTls.load(new TlsSettings(missing, good.privateKey(), good.ca(), TlsMode.REQUIRE,
                List.of()))).isInstanceOf(TlsException.class).hasMessageContaining("--tls-cert " + missing);
        assertThatThrownBy(() -> NodeTls.load(new TlsSettings(good.certificate(), good.privateKey(), good.privateKey(),
                TlsMode.REQUIRE, List.of()))).isInstanceOf(TlsException.class).hasMessageContaining("--tls-ca");
        assertThatThrownBy(() -> NodeTls.load(new TlsSettings(good.certificate(), good.privateKey(), good.ca(),
                TlsMode.REQUIRE, List.of("not a name")))).isInstanceOf(TlsException.class)
                .hasMessageContaining("--tls-allowed-subject");
        Path sec1 = tmp.resolve("sec1-key.pem");
        PeerCommand.ok("openssl", "ec", "-in", server.key().toString(), "-out", sec1.toString());
        assertThat(Files.readString(sec1)).contains("BEGIN EC PRIVATE KEY");
        assertThatThrownBy(() -> NodeTls.load(new TlsSettings(server.cert(), sec1, pki.ca(), TlsMode.REQUIRE,
                List.of()))).isInstanceOf(TlsException.class).hasMessageContaining("openssl pkcs8");
    }

    @Test
    void aPkcs1RsaKeyLoads() throws IOException {
        Path key = tmp.resolve("rsa-key.pem");
        Path cert = tmp.resolve("rsa-cert.pem");
        PeerCommand.ok("openssl", "genrsa", "-traditional", "-out", key.toString(), "2048");
        assertThat(Files.readString(key)).contains("BEGIN RSA PRIVATE KEY");
        PeerCommand.ok("openssl", "req", "-x509", "-new", "-key", key.toString(), "-out", cert.toString(), "-days", "1",
                "-subj", "/CN=rsa");
        NodeTls tls = NodeTls.load(new TlsSettings(cert, key, pki.ca(), TlsMode.REQUIRE, List.of()));
        assertThat(tls.subject()).isEqualTo("CN=rsa");
    }

    @Test
    void bytesCrossBothWaysAtOnceIntact() throws Exception {
        NodeTls serverTls = NodeTls.load(settings(server));
        NodeTls clientTls = NodeTls.load(settings(client));
        byte[] down = random(9 << 20);
        byte[] up = random(3 << 20);
        // Own threads: the common pool may have a single one on two cores, and these block.
        ExecutorService threads = Executors.newFixedThreadPool(3);
        try (ServerSocketChannel listener = ServerSocketChannel.open()) {
            listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            int port = ((InetSocketAddress) listener.getLocalAddress()).getPort();
            CompletableFuture<TlsChannel> accepted = CompletableFuture.supplyAsync(() -> {
                try {
                    TlsChannel t = new TlsChannel(listener.accept(), serverTls.serverEngine());
                    t.handshake();
                    return t;
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }, threads);
            try (TlsChannel c = new TlsChannel(SocketChannel.open(new InetSocketAddress("127.0.0.1", port)),
                    clientTls.clientEngine("127.0.0.1", port));
                 TlsChannel s = handshakeAndGet(c, accepted)) {
                assertThat(s.engine().getSession().getProtocol()).isEqualTo("TLSv1.3");
                assertThat(s.engine().getSession().getCipherSuite()).isEqualTo("TLS_AES_128_GCM_SHA256");
                assertThat(s.engine().getSession().getPeerPrincipal().getName()).isEqualTo(client.subject());
                // Server -> client: headers and payloads gathered, as the reply writer sends them.
                CompletableFuture<Void> sending = CompletableFuture.runAsync(() -> {
                    try {
                        for (int off = 0; off < down.length; off += 1 << 20) {
                            ByteBuffer header = ByteBuffer.allocate(20).putInt(off).position(20).flip();
                            ByteBuffer data = ByteBuffer.wrap(down, off, 1 << 20);
                            ByteBuffer[] parts = {header, data};
                            while (data.hasRemaining()) {
                                s.write(parts);
                            }
                        }
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }, threads);
                // Client -> server at the same time, in small and odd-sized pieces.
                CompletableFuture<byte[]> receivedUp = CompletableFuture.supplyAsync(() -> readFully(s, up.length),
                        threads);
                Random r = new Random(seed);
                for (int off = 0; off < up.length; ) {
                    int n = Math.min(up.length - off, 1 + r.nextInt(70_000));
                    ByteBuffer b = ByteBuffer.wrap(up, off, n);
                    while (b.hasRemaining()) {
                        c.write(b);
                    }
                    off += n;
                }
                byte[] gotDown = readFully(c, down.length + 20 * (down.length >> 20));
                sending.get(60, TimeUnit.SECONDS);
                assertThat(Arrays.mismatch(receivedUp.get(60, TimeUnit.SECONDS), up)).isEqualTo(-1);
                ByteBuffer in = ByteBuffer.wrap(gotDown);
                for (int off = 0; off < down.length; off += 1 << 20) {
                    assertThat(in.getInt()).isEqualTo(off);
                    in.position(in.position() + 16);
                    byte[] chunk = new byte[1 << 20];
                    in.get(chunk);
                    assertThat(Arrays.mismatch(chunk, Arrays.copyOfRange(down, off, off + (1 << 20)))).isEqualTo(-1);
                }
            }
        } finally {
            threads.shutdownNow();
        }
    }

    private static TlsChannel handshakeAndGet(TlsChannel c, CompletableFuture<TlsChannel> accepted) throws Exception {
        c.handshake();
        return accepted.get(60, TimeUnit.SECONDS);
    }

    private static byte[] readFully(TlsChannel ch, int n) {
        byte[] out = new byte[n];
        ByteBuffer b = ByteBuffer.wrap(out);
        try {
            while (b.hasRemaining()) {
                // Alternate small and large reads: both the buffered and the direct path.
                ByteBuffer window = b.slice(b.position(), Math.min(b.remaining(), b.position() % 3 == 0 ? 100 : 65536));
                int k = ch.read(window);
                if (k < 0) {
                    throw new IOException("EOF after " + b.position() + " of " + n);
                }
                b.position(b.position() + k);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return out;
    }

    private TlsSettings settings(TestPki.Identity id) {
        return new TlsSettings(id.cert(), id.key(), pki.ca(), TlsMode.REQUIRE, List.of());
    }

    private byte[] random(int n) {
        byte[] b = new byte[n];
        new Random(seed + n).nextBytes(b);
        return b;
    }
}
