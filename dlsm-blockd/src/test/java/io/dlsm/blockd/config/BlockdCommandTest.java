package io.dlsm.blockd.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class BlockdCommandTest {
    @TempDir
    Path dir;

    /** Runs the command line; returns the config the daemon would have been started with. */
    private static BlockdConfig parse(String... args) {
        AtomicReference<BlockdConfig> seen = new AtomicReference<>();
        int code = BlockdCommand.run(c -> {
            seen.set(c);
            return 0;
        }, args);
        assertThat(code).as("exit code").isZero();
        return seen.get();
    }

    @Test
    void defaults() {
        assertThat(parse()).isEqualTo(new BlockdConfig(Path.of("/var/lib/dlsm/blockd"),
                new HostPort("127.0.0.1", 10809), new HostPort("127.0.0.1", 7810), 8, 256, Optional.empty(), java.time.Duration.ofSeconds(60)));
    }

    @Test
    void flags() {
        assertThat(parse("--data-dir", "/srv/d", "--nbd-listen", "0.0.0.0:0", "--api-listen=[::1]:9000",
                "--io-threads", "3", "--max-connections", "5", "--token-file", "/etc/t"))
                .isEqualTo(new BlockdConfig(Path.of("/srv/d"), new HostPort("0.0.0.0", 0),
                        new HostPort("::1", 9000), 3, 5, Optional.of(Path.of("/etc/t")), java.time.Duration.ofSeconds(60)));
    }

    @Test
    void authIsOnUnlessExplicitlyTurnedOff() {
        assertThat(parse().insecureNoAuth()).isFalse();
        assertThat(parse("--insecure-no-auth").insecureNoAuth()).isTrue();
        // Both at once is a contradiction, refused rather than guessed.
        assertThat(BlockdCommand.run(x -> 0, "--insecure-no-auth", "--token-file", "/etc/t")).isEqualTo(2);
    }

    @Test
    void kernelPathIsOffUnlessAskedFor() {
        assertThat(parse().kernelPath()).isEqualTo(io.dlsm.blockd.dm.KernelPathSetting.OFF);
        assertThat(parse("--kernel-path", "auto").kernelPath()).isEqualTo(io.dlsm.blockd.dm.KernelPathSetting.AUTO);
        assertThat(parse("--kernel-path=linear_over_nbd").kernelPath())
                .isEqualTo(io.dlsm.blockd.dm.KernelPathSetting.LINEAR_OVER_NBD);
    }

    @Test
    void backendRegistrationFlags() {
        BlockdConfig c = parse("--backend-url", "http://ctl:7800", "--node-name", "node-a",
                "--registration-token-file", "/etc/bt");
        assertThat(c.registration()).contains(new BlockdConfig.Registration(java.net.URI.create("http://ctl:7800/"),
                "node-a", Optional.of(Path.of("/etc/bt"))));
        assertThat(parse().registration()).isEmpty();
        // One without the other is a usage error, not a silently unregistered node.
        assertThat(BlockdCommand.run(x -> 0, "--backend-url", "http://ctl:7800")).isNotZero();
    }

    @Test
    void configFileSuppliesDefaultsAndFlagsWin() throws Exception {
        Path file = dir.resolve("blockd.properties");
        Files.writeString(file, "data-dir=/from/file\nnbd-listen=10.0.0.1:10809\nio-threads=12\n");
        BlockdConfig c = parse("--config", file.toString(), "--io-threads", "2");
        assertThat(c.dataDir()).isEqualTo(Path.of("/from/file"));
        assertThat(c.nbdListen()).isEqualTo(new HostPort("10.0.0.1", 10809));
        assertThat(c.ioThreads()).isEqualTo(2);
        assertThat(c.apiListen()).isEqualTo(new HostPort("127.0.0.1", 7810));
        assertThat(parse("--config=" + file).ioThreads()).isEqualTo(12);
    }

    @Test
    void badValuesFailWithoutStartingTheDaemon() {
        for (String[] args : new String[][] {{"--io-threads", "0"}, {"--max-connections", "-1"},
            {"--io-threads", "many"}, {"--no-such-flag"}, {"--nbd-listen", "nohost"},
            {"--nbd-handshake-timeout", "0"}, {"--nbd-stall-timeout", "-5"},
            {"--nbd-connection-buffer", "1048576"}, {"--nbd-buffer-budget", "33554432"}}) {
            refused(args);
        }
    }

    @Test
    void helpExitsZeroAndListsTheMainOptions() {
        PrintStream out = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = BlockdCommand.run(c -> {
                throw new AssertionError("--help must not start the daemon");
            }, "--help");
        } finally {
            System.setOut(out);
        }
        assertThat(code).isZero();
        assertThat(captured.toString(StandardCharsets.UTF_8)).contains("--data-dir", "--nbd-listen", "--api-listen",
                "--nbd-handshake-timeout", "--nbd-stall-timeout", "--nbd-connection-buffer", "--nbd-buffer-budget");
    }

    @Test
    void nbdLimitsDefaultToTheServersAndCanBeSet() {
        assertThat(parse().nbdLimits()).isEqualTo(io.dlsm.blockd.nbd.server.NbdLimits.DEFAULTS);
        assertThat(parse().nbdLimits().handshakeTimeout()).isEqualTo(java.time.Duration.ofSeconds(10));
        assertThat(parse("--nbd-handshake-timeout", "3", "--nbd-stall-timeout", "30", "--nbd-connection-buffer",
                "33554432", "--nbd-buffer-budget", "1073741824").nbdLimits())
                .isEqualTo(new io.dlsm.blockd.nbd.server.NbdLimits(java.time.Duration.ofSeconds(3),
                        java.time.Duration.ofSeconds(30), 32L << 20, 1L << 30));
    }

    @Test
    void hostPortParsesNamesIpv4AndBracketedIpv6() {
        assertThat(HostPort.parse("localhost:7810")).isEqualTo(new HostPort("localhost", 7810));
        assertThat(HostPort.parse("0.0.0.0:0")).isEqualTo(new HostPort("0.0.0.0", 0));
        assertThat(HostPort.parse("[::1]:10809")).isEqualTo(new HostPort("::1", 10809));
        assertThat(HostPort.parse("[::1]:10809")).hasToString("[::1]:10809");
        assertThat(HostPort.parse("[::1]:10809").toSocketAddress().getAddress().isLoopbackAddress()).isTrue();
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "host", ":80", "host:", "host:port", "host:65536", "host:-1", "[::1]", "::1"})
    void hostPortRejectsMalformedAddresses(String text) {
        assertThatThrownBy(() -> HostPort.parse(text)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void tlsIsOffByDefaultRequiredWhenCertificatesAreGivenAndItsOptionsGoTogether() {
        assertThat(parse().tls()).isEmpty();
        BlockdConfig c = parse("--tls-cert", "/etc/c.pem", "--tls-key", "/etc/k.pem", "--tls-ca", "/etc/ca.pem",
                "--tls-allowed-subject", "CN=node-b,O=DLSM", "--tls-allowed-subject", "CN=client,O=DLSM");
        assertThat(c.tls()).contains(new io.dlsm.blockd.tls.TlsSettings(Path.of("/etc/c.pem"), Path.of("/etc/k.pem"),
                Path.of("/etc/ca.pem"), io.dlsm.blockd.tls.TlsMode.REQUIRE,
                java.util.List.of("CN=node-b,O=DLSM", "CN=client,O=DLSM")));
        assertThat(parse("--tls-cert", "c", "--tls-key", "k", "--tls-ca", "ca", "--tls", "offer").tls().get().mode())
                .isEqualTo(io.dlsm.blockd.tls.TlsMode.OFFER);
        for (String[] args : new String[][] {{"--tls-cert", "c"}, {"--tls-cert", "c", "--tls-key", "k"},
            {"--tls", "require"}, {"--tls-allowed-subject", "CN=x"},
            {"--tls-cert", "c", "--tls-key", "k", "--tls-ca", "ca", "--tls", "sometimes"}}) {
            assertThat(refused(args)).contains("--tls");
        }
    }

    @Test
    void helpListsTheTlsOptions() {
        PrintStream out = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            BlockdCommand.run(c -> {
                throw new AssertionError("--help must not start the daemon");
            }, "--help");
        } finally {
            System.setOut(out);
        }
        assertThat(captured.toString(StandardCharsets.UTF_8)).contains("--tls-cert", "--tls-key", "--tls-ca", "--tls=",
                "--tls-allowed-subject");
    }

    /** Runs a command line that must fail without starting the daemon; returns what it printed on stderr. */
    private static String refused(String... args) {
        AtomicReference<BlockdConfig> seen = new AtomicReference<>();
        PrintStream err = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = BlockdCommand.run(c -> {
                seen.set(c);
                return 0;
            }, args);
        } finally {
            System.setErr(err);
        }
        assertThat(code).as(String.join(" ", args)).isNotZero();
        assertThat(seen.get()).isNull();
        return captured.toString(StandardCharsets.UTF_8);
    }
}
