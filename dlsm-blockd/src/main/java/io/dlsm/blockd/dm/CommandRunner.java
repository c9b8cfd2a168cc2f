package io.dlsm.blockd.dm;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Runs the node-side tools ({@code dmsetup}, {@code nbd-client}, {@code losetup}). Everything
 * the kernel path does to the kernel goes through here, so a recording double can check the
 * exact command sequence and a script renderer can emit the very same commands for a guest.
 */
public interface CommandRunner {

    /**
     * One command. {@code mayFail} marks the idempotent clean-up steps (remove a device that
     * may already be gone): their failure is logged, not thrown, because "already gone" is
     * the outcome they want.
     */
    record Command(List<String> argv, Map<String, String> env, Duration timeout, boolean mayFail) {
        public Command {
            argv = List.copyOf(argv);
            env = Map.copyOf(env);
        }

        public static Command of(Duration timeout, String... argv) {
            return new Command(List.of(argv), Map.of(), timeout, false);
        }

        public Command withEnv(Map<String, String> more) {
            Map<String, String> m = new java.util.TreeMap<>(env);
            m.putAll(more);
            return new Command(argv, m, timeout, mayFail);
        }

        public Command tolerant() {
            return new Command(argv, env, timeout, true);
        }

        /** The command as a shell line, env first: what the logs and the rendered plan show. */
        public String display() {
            List<String> words = new ArrayList<>();
            new java.util.TreeMap<>(env).forEach((k, v) -> words.add(k + "=" + ShellScriptRunner.quote(v)));
            argv.forEach(a -> words.add(ShellScriptRunner.quote(a)));
            return String.join(" ", words);
        }
    }

    record Result(int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }
    }

    /**
     * Runs {@code c}. Throws {@link CommandFailedException} when it exits non-zero or times
     * out, unless the command is {@code mayFail}; throws IOException when it cannot start.
     */
    Result run(Command c) throws IOException;
}
