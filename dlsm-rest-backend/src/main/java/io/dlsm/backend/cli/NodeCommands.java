package io.dlsm.backend.cli;

import java.util.Arrays;
import java.util.List;
import picocli.CommandLine.Command;

/** {@code dlsm node list}. */
final class NodeCommands {

    private NodeCommands() {}

    @Command(name = "node", description = "List the blockd nodes.")
    static final class Group extends BackendCommand.Group {}

    @Command(name = "list", description = "List the registered nodes.")
    static final class ListNodes extends BackendCommand {

        ListNodes(DlsmCli cli) {
            super(cli);
        }

        @Override
        public Integer call() {
            Reply<List<Node>> nodes = client().nodes();
            List<List<String>> rows = nodes.value().stream()
                    .map(n -> Arrays.asList(n.name(), n.state(), n.nbdAddress(), n.apiUrl(),
                            bytesOrDash(n.freeBytes()), bytesOrDash(n.capacityBytes()),
                            n.lastHeartbeat()))
                    .toList();
            return print(nodes, new Table(
                    List.of("NAME", "STATE", "NBD", "API", "FREE", "CAPACITY", "LAST HEARTBEAT"), rows).render());
        }

        private static String bytesOrDash(Long bytes) {
            return bytes == null ? "-" : Units.formatBytes(bytes);
        }
    }
}
