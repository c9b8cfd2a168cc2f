package io.dlsm.blockd.dm;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Renders instead of running: each command becomes one shell line, so a guest without a JVM
 * can execute exactly the commands the state machines issue. Tolerated commands get
 * {@code || true}, as {@link ProcessCommandRunner} tolerates them. Output-consuming calls
 * get empty output, so only plans that do not branch on output can be rendered (the state
 * machines' setup, cut-over and teardown steps don't; polling is rendered separately).
 */
public final class ShellScriptRunner implements CommandRunner {
    private static final Pattern SAFE = Pattern.compile("[A-Za-z0-9_./:=@%+,-]+");
    private final List<String> lines = new ArrayList<>();

    @Override
    public Result run(Command c) {
        lines.add(c.display() + (c.mayFail() ? " || true" : ""));
        return new Result(0, "", "");
    }

    public void comment(String text) {
        lines.add("# " + text);
    }

    public void raw(String line) {
        lines.add(line);
    }

    /** The lines rendered since the last call, and forgets them. */
    public List<String> take() {
        List<String> out = List.copyOf(lines);
        lines.clear();
        return out;
    }

    /** POSIX single-quoting, only where needed so the common case stays readable. */
    public static String quote(String s) {
        if (!s.isEmpty() && SAFE.matcher(s).matches()) {
            return s;
        }
        return "'" + s.replace("'", "'\"'\"'") + "'";
    }
}
