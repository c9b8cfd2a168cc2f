package io.dlsm.backend.cli;

import java.time.Duration;

/** Polls a migration until it finishes, showing each state it sees. */
public final class MigrationWatcher {

    private final BackendClient client;
    private final ProgressDisplay display;
    private final CliEnvironment.Pacer pacer;
    private final Duration interval;

    public MigrationWatcher(BackendClient client, ProgressDisplay display, CliEnvironment.Pacer pacer, Duration interval) {
        this.client = client;
        this.display = display;
        this.pacer = pacer;
        this.interval = interval;
    }

    /** The migration's last state as the backend reported it; its phase is final. */
    public Reply<Migration> watch(Reply<Migration> start) throws InterruptedException {
        Reply<Migration> current = start;
        try {
            display.update(current.value());
            while (!current.value().finished()) {
                pacer.pause(interval);
                current = client.migration(current.value().id());
                display.update(current.value());
            }
            return current;
        } finally {
            display.close();
        }
    }
}
