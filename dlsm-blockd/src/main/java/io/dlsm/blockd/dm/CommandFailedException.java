package io.dlsm.blockd.dm;

import java.io.IOException;

/** A node-side tool exited non-zero or did not finish in time; the message names the command. */
public final class CommandFailedException extends IOException {
    private final CommandRunner.Command command;
    private final CommandRunner.Result result;

    public CommandFailedException(CommandRunner.Command command, CommandRunner.Result result, String why) {
        super(command.display() + ": " + why + (result == null || result.stderr().isBlank() ? ""
                : ": " + result.stderr().strip()));
        this.command = command;
        this.result = result;
    }

    public CommandRunner.Command command() {
        return command;
    }

    /** Null when the command timed out. */
    public CommandRunner.Result result() {
        return result;
    }
}
