package io.dlsm.backend.cli;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code dlsm migration list|show|abort|switch|bandwidth}. */
final class MigrationCommands {

    private MigrationCommands() {}

    @Command(name = "migration",
            description = "List, inspect and steer migrations (start one with 'dlsm migrate').")
    static final class Group extends BackendCommand.Group {}

    @Command(name = "list", description = "List the migrations.")
    static final class ListMigrations extends BackendCommand {

        ListMigrations(DlsmCli cli) {
            super(cli);
        }

        @Override
        public Integer call() {
            Reply<List<Migration>> migrations = client().migrations();
            List<List<String>> rows = migrations.value().stream()
                    .map(m -> Arrays.asList(m.id(), m.volume(), m.sourceNode(), m.targetNode(), m.phase(),
                            String.format(Locale.ROOT, "%.1f%%", 100 * m.progress().ratio()), m.updatedAt()))
                    .toList();
            return print(migrations, new Table(
                    List.of("ID", "VOLUME", "SOURCE", "TARGET", "PHASE", "PROGRESS", "UPDATED"), rows).render());
        }
    }

    @Command(name = "show", description = "Show a migration and its progress.")
    static final class Show extends BackendCommand {

        @Parameters(index = "0", paramLabel = "ID")
        private String id;

        Show(DlsmCli cli) {
            super(cli);
        }

        @Override
        public Integer call() {
            Reply<Migration> migration = client().migration(id);
            return print(migration, MigrationReport.render(migration.value()));
        }
    }

    @Command(name = "abort",
            description = "Abort a migration; the volume stays on (or returns to) the source.")
    static final class Abort extends PhaseChange {

        Abort(DlsmCli cli) {
            super(cli);
        }

        @Override
        Reply<Migration> change(BackendClient client, String id) {
            return client.abortMigration(id);
        }
    }

    @Command(name = "switch",
            description = "Fence the source and activate the target now (for --manual-switch migrations).")
    static final class Switch extends PhaseChange {

        Switch(DlsmCli cli) {
            super(cli);
        }

        @Override
        Reply<Migration> change(BackendClient client, String id) {
            return client.switchMigration(id);
        }
    }

    /** A command that moves migration ID to another phase and says where it ended up. */
    abstract static class PhaseChange extends BackendCommand {

        @Parameters(index = "0", paramLabel = "ID")
        private String id;

        PhaseChange(DlsmCli cli) {
            super(cli);
        }

        abstract Reply<Migration> change(BackendClient client, String id);

        @Override
        public Integer call() {
            Reply<Migration> reply = change(client(), id);
            return print(reply, MigrationReport.oneLine(reply.value()));
        }
    }

    @Command(name = "bandwidth",
            description = "Change the background copy limit of a running migration.")
    static final class Bandwidth extends BackendCommand {

        @Parameters(index = "0", paramLabel = "ID")
        private String id;

        @Parameters(index = "1", paramLabel = "RATE", converter = RateConverter.class,
                description = "Bytes per second: 100M, 1G/s; 0 = unlimited.")
        private long bytesPerSecond;

        Bandwidth(DlsmCli cli) {
            super(cli);
        }

        @Override
        public Integer call() {
            Reply<Migration> changed = client().setBandwidth(id, bytesPerSecond);
            String limit = bytesPerSecond == 0 ? "unlimited" : Units.formatRate(bytesPerSecond);
            return print(changed, String.format("migration %s: %s, background copy limit %s%n",
                    changed.value().id(), changed.value().phase(), limit));
        }
    }
}
