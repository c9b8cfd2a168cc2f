package io.dlsm.backend.cli;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code dlsm volume create|list|show|delete}. */
final class VolumeCommands {

    private VolumeCommands() {}

    @Command(name = "volume", description = "Create, list, show and delete volumes.")
    static final class Group extends BackendCommand.Group {}

    @Command(name = "create", description = "Create a volume on a node.")
    static final class Create extends BackendCommand {

        @Parameters(index = "0", paramLabel = "NAME")
        private String name;

        @Option(names = "--size", required = true, paramLabel = "SIZE", converter = SizeConverter.class,
                description = "Size: 10G, 512M, 1.5GiB (powers of 1024), 10GB (powers of 1000), or bytes.")
        private long sizeBytes;

        @Option(names = "--node", required = true, paramLabel = "NODE", description = "Node that holds the volume.")
        private String node;

        Create(DlsmCli cli) {
            super(cli);
        }

        @Override
        public Integer call() {
            Reply<Volume> created = client().createVolume(name, sizeBytes, node);
            Volume v = created.value();
            return print(created, String.format(Locale.ROOT, "volume %s: %s on %s, %s%n",
                    v.name(), Units.formatBytes(v.sizeBytes()), v.node(), v.state()));
        }
    }

    @Command(name = "list", description = "List the volumes.")
    static final class ListVolumes extends BackendCommand {

        ListVolumes(DlsmCli cli) {
            super(cli);
        }

        @Override
        public Integer call() {
            Reply<List<Volume>> volumes = client().volumes();
            List<List<String>> rows = volumes.value().stream()
                    .map(v -> Arrays.asList(v.name(), Units.formatBytes(v.sizeBytes()), v.node(), v.state(),
                            v.migrationId()))
                    .toList();
            return print(volumes, new Table(List.of("NAME", "SIZE", "NODE", "STATE", "MIGRATION"), rows).render());
        }
    }

    @Command(name = "show", description = "Show one volume.")
    static final class Show extends BackendCommand {

        @Parameters(index = "0", paramLabel = "NAME")
        private String name;

        Show(DlsmCli cli) {
            super(cli);
        }

        @Override
        public Integer call() {
            Reply<Volume> volume = client().volume(name);
            Volume v = volume.value();
            Table fields = new Table(List.of("name", v.name()), List.of(
                    List.of("size", Units.formatBytes(v.sizeBytes()) + " (" + v.sizeBytes() + " bytes)"),
                    Arrays.asList("node", v.node()),
                    Arrays.asList("state", v.state()),
                    Arrays.asList("migration", v.migrationId()),
                    Arrays.asList("created", v.createdAt())));
            return print(volume, fields.render());
        }
    }

    @Command(name = "delete", description = "Delete a volume and its data.")
    static final class Delete extends BackendCommand {

        @Parameters(index = "0", paramLabel = "NAME")
        private String name;

        Delete(DlsmCli cli) {
            super(cli);
        }

        @Override
        public Integer call() {
            client().deleteVolume(name);
            // 204 has no body; --json prints nothing and the exit status says it all.
            if (!json()) {
                out().println("volume " + name + " deleted");
            }
            return DlsmCli.EXIT_OK;
        }
    }
}
