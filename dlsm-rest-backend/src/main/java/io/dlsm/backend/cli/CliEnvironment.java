package io.dlsm.backend.cli;

import java.time.Duration;
import java.util.Map;

/**
 * What the CLI takes from the process around it, passed in so tests can supply their own.
 *
 * @param variables the environment (DLSM_BACKEND, DLSM_TOKEN_FILE, DLSM_STATE_DIR, COLUMNS)
 * @param interactive stdout is a terminal: redraw a progress bar rather than log lines
 * @param pacer how the CLI waits between polls
 */
public record CliEnvironment(Map<String, String> variables, boolean interactive, Pacer pacer) {

    /** Waits between two polls of the backend. */
    @FunctionalInterface
    public interface Pacer {
        void pause(Duration duration) throws InterruptedException;
    }

    public CliEnvironment {
        variables = Map.copyOf(variables);
    }

    public static CliEnvironment ofProcess() {
        // System.console() is null unless both stdin and stdout are terminals; a piped stdin
        // therefore also gets log lines, which is the safe side.
        return new CliEnvironment(System.getenv(), System.console() != null, duration -> Thread.sleep(duration.toMillis()));
    }

    /** The terminal width when the shell exported it (scripts/dlsm does), else the classic 80. */
    public int columns() {
        try {
            int columns = Integer.parseInt(variables.getOrDefault("COLUMNS", "").strip());
            return columns > 0 ? columns : 80;
        } catch (NumberFormatException e) {
            return 80;
        }
    }
}
