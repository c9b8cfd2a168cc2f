package io.dlsm.backend.cli;

import java.time.Duration;
import java.util.Optional;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code dlsm migrate VOLUME --to NODE}: starts a live migration and, unless told not to,
 * watches it to the end with a progress display and prints the report.
 */
@Command(name = "migrate",
        description = {"Live-migrate a volume to another node and watch it finish.",
            "The volume stays usable throughout: the target proxies to the source until the writer moves "
                    + "(the switch), then serves it at once while the blocks follow in the background."})
final class MigrateCommand extends BackendCommand {

    /** A terminal redraws often enough to look live; a log gets one line a second. */
    static final Duration TERMINAL_INTERVAL = Duration.ofMillis(250);
    static final Duration LOG_INTERVAL = Duration.ofSeconds(1);

    @Parameters(index = "0", paramLabel = "VOLUME")
    private String volume;

    @Option(names = "--to", required = true, paramLabel = "NODE", description = "Target node.")
    private String targetNode;

    @Option(names = "--bandwidth", paramLabel = "RATE", converter = RateConverter.class,
            description = "Background copy limit in bytes per second: 100M, 1G/s; 0 = unlimited "
                    + "(default: the backend's). On-demand reads are never throttled.")
    private Long bandwidth;

    @Option(names = "--manual-switch",
            description = "Do not switch when the writer leaves the source; wait for 'dlsm migration switch ID'.")
    private boolean manualSwitch;

    @Option(names = "--no-wait", description = "Start the migration and return; watch it with 'dlsm migration show ID'.")
    private boolean noWait;

    MigrateCommand(DlsmCli cli) {
        super(cli);
    }

    @Override
    public Integer call() throws InterruptedException {
        BackendClient client = client();
        Reply<Migration> started = client.createMigration(volume, targetNode, Optional.ofNullable(bandwidth), manualSwitch);
        Migration m = started.value();
        if (noWait) {
            return print(started, MigrationReport.oneLine(m));
        }
        if (!json()) {
            out().printf("migration %s: volume %s %s -> %s%s%n", m.id(), m.volume(), m.sourceNode(), m.targetNode(),
                    manualSwitch ? " (switch it with: dlsm migration switch " + m.id() + ")" : "");
            out().flush();
        }
        Reply<Migration> last = watcher(client).watch(started);
        Migration end = last.value();
        print(last, MigrationReport.render(end));
        if (end.succeeded()) {
            return DlsmCli.EXIT_OK;
        }
        String why = end.errorText() == null ? "" : ": " + end.errorText();
        err().println("error: migration " + end.id() + " ended " + end.phase() + why);
        return DlsmCli.EXIT_FAILED;
    }

    private MigrationWatcher watcher(BackendClient client) {
        CliEnvironment environment = environment();
        ProgressRenderer renderer = new ProgressRenderer(environment.columns());
        if (json()) {
            return new MigrationWatcher(client, ProgressDisplay.silent(), environment.pacer(), LOG_INTERVAL);
        }
        if (environment.interactive()) {
            return new MigrationWatcher(
                    client, ProgressDisplay.terminal(out(), renderer), environment.pacer(), TERMINAL_INTERVAL);
        }
        return new MigrationWatcher(client, ProgressDisplay.lines(out(), renderer), environment.pacer(), LOG_INTERVAL);
    }
}
