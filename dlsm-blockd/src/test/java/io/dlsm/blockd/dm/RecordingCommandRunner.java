package io.dlsm.blockd.dm;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Records every command as its shell line and answers from a script: stdout for a command
 * line, or a failure. Unscripted commands succeed with empty output. A failing command that
 * is not tolerated throws, exactly like {@link ProcessCommandRunner}.
 */
final class RecordingCommandRunner implements CommandRunner {
    final List<String> commands = new ArrayList<>();
    private final Map<String, String> outputs = new TreeMap<>();
    private final Map<String, Integer> failures = new TreeMap<>();
    private final Map<String, Integer> failuresLeft = new TreeMap<>();

    /** {@code line} prints {@code stdout} (line as {@link Command#display()} shows it). */
    RecordingCommandRunner answer(String line, String stdout) {
        outputs.put(line, stdout);
        return this;
    }

    /** {@code line} exits 1 the next {@code times} times. */
    RecordingCommandRunner fail(String line, int times) {
        failuresLeft.put(line, times);
        return this;
    }

    @Override
    public Result run(Command c) throws IOException {
        String line = c.display();
        commands.add(line);
        Integer left = failuresLeft.get(line);
        if (left != null && left > 0) {
            failuresLeft.put(line, left - 1);
            failures.merge(line, 1, Integer::sum);
            Result r = new Result(1, "", "scripted failure");
            if (c.mayFail()) {
                return r;
            }
            throw new CommandFailedException(c, r, "exit 1");
        }
        return new Result(0, outputs.getOrDefault(line, ""), "");
    }

    List<String> take() {
        List<String> out = List.copyOf(commands);
        commands.clear();
        return out;
    }
}
