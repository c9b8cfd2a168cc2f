package io.dlsm.backend.cli;

import java.util.Arrays;
import java.util.List;
import picocli.CommandLine.Command;

/** {@code dlsm node list}, {@code dlsm node reset-credential}. */
final class NodeCommands {

    private NodeCommands() {}

    @Command(name = "node", description = "List the blockd nodes; reset a node's credential.")
    static final class Group extends BackendCommand.Group {}

    @Command(name = "reset-credential",
            description = {"Forget the credential a node bound at its first registration, for a node reinstalled "
                    + "without its DATA_DIR/backend-credential: its next registration with the registration token "
                    + "binds a new one. Until then, anybody with the registration token could take the name."})
    static final class ResetCredential extends BackendCommand {

        @picocli.CommandLine.Parameters(paramLabel = "NODE", description = "The node's name.")
        String name;

        ResetCredential(DlsmCli cli) {
            super(cli);
        }

        @Override
        public Integer call() {
            Reply<Node> node = client().resetNodeCredential(name);
            return print(node, "credential of node " + name + " reset: it registers again with the registration "
                    + "token" + System.lineSeparator());
        }
    }

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
                            n.lastHeartbeat(), auth(n.nodeAuth()), auth(n.backendAuth())))
                    .toList();
            return print(nodes, new Table(
                    List.of("NAME", "STATE", "NBD", "API", "FREE", "CAPACITY", "LAST HEARTBEAT", "NODE AUTH",
                            "BACKEND AUTH"), rows).render());
        }

        /** {@code REGISTRATION_TOKEN} as {@code registration-token}; a backend too old to say: "-". */
        private static String auth(String value) {
            return value == null ? "-" : value.toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        }

        private static String bytesOrDash(Long bytes) {
            return bytes == null ? "-" : Units.formatBytes(bytes);
        }
    }
}
