package io.dlsm.blockd.dm;

import java.io.IOException;
import java.time.Duration;

/** {@link NbdDevices} through {@code nbd-client HOST PORT DEVICE -N EXPORT}, the form the in-guest kernel tests run. */
public final class NbdClientDevices implements NbdDevices {
    /** The handshake with an unreachable host must not hang the caller. */
    static final Duration TIMEOUT = Duration.ofSeconds(30);

    private final CommandRunner runner;

    public NbdClientDevices(CommandRunner runner) {
        this.runner = runner;
    }

    @Override
    public void connect(String device, String host, int port, String export) throws IOException {
        runner.run(CommandRunner.Command.of(TIMEOUT, "nbd-client", host, Integer.toString(port), device,
                "-N", export));
    }

    @Override
    public void disconnect(String device) throws IOException {
        runner.run(CommandRunner.Command.of(TIMEOUT, "nbd-client", "-d", device).tolerant());
    }
}
