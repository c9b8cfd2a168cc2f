package io.dlsm.backend.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** A leaf command that talks to the backend: access to the global options and the outputs. */
abstract class BackendCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    private final DlsmCli cli;

    BackendCommand(DlsmCli cli) {
        this.cli = cli;
    }

    final BackendClient client() {
        return cli.client();
    }

    final boolean json() {
        return cli.json();
    }

    final CliEnvironment environment() {
        return cli.environment();
    }

    final PrintWriter out() {
        return spec.commandLine().getOut();
    }

    final PrintWriter err() {
        return spec.commandLine().getErr();
    }

    /** With {@code --json} the backend's own document, else the text the command built. */
    final int print(Reply<?> reply, String text) {
        out().print(json() ? reply.json().strip() + System.lineSeparator() : text);
        out().flush();
        return DlsmCli.EXIT_OK;
    }

    /** A command that only groups subcommands: calling it alone is a usage error. */
    abstract static class Group implements Runnable {

        @Spec
        private CommandSpec spec;

        @Override
        public void run() {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "a subcommand is required: " + String.join(", ", spec.subcommands().keySet()));
        }
    }
}
