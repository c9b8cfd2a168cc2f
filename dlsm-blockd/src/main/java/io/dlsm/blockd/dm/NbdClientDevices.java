package io.dlsm.blockd.dm;

import io.dlsm.blockd.tls.TlsSettings;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * {@link NbdDevices} through {@code nbd-client HOST PORT DEVICE -N EXPORT}, the form the in-guest
 * kernel tests run. With TLS configured the node's own certificate goes along ({@code -certfile
 * -keyfile -cacertfile -tlshostname}; nbd-client 3.24 knows no short forms of these): nbd-client
 * then does STARTTLS and carries the device's traffic through its user-space TLS proxy, so a
 * node that requires TLS also accepts its kernel's connections.
 */
public final class NbdClientDevices implements NbdDevices {
    /** The handshake with an unreachable host must not hang the caller. */
    static final Duration TIMEOUT = Duration.ofSeconds(30);

    private final CommandRunner runner;
    private final Optional<TlsSettings> tls;

    public NbdClientDevices(CommandRunner runner) {
        this(runner, Optional.empty());
    }

    public NbdClientDevices(CommandRunner runner, Optional<TlsSettings> tls) {
        this.runner = runner;
        this.tls = tls;
    }

    @Override
    public void connect(String device, String host, int port, String export) throws IOException {
        List<String> args = new ArrayList<>(List.of("nbd-client", host, Integer.toString(port), device, "-N", export));
        tls.ifPresent(t -> args.addAll(List.of("-certfile", t.certificate().toString(), "-keyfile",
                t.privateKey().toString(), "-cacertfile", t.ca().toString(), "-tlshostname", host)));
        runner.run(CommandRunner.Command.of(TIMEOUT, args.toArray(String[]::new)));
    }

    @Override
    public void disconnect(String device) throws IOException {
        runner.run(CommandRunner.Command.of(TIMEOUT, "nbd-client", "-d", device).tolerant());
    }
}
