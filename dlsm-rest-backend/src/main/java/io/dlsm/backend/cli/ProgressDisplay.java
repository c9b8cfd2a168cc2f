package io.dlsm.backend.cli;

import java.io.PrintWriter;

/** Where the states of a migration being watched go. */
public interface ProgressDisplay {

    void update(Migration migration);

    /** The watch is over (the migration finished or the watch failed); leave the output tidy. */
    void close();

    /** For {@code --json}: the caller prints only the final document. */
    static ProgressDisplay silent() {
        return new ProgressDisplay() {
            @Override
            public void update(Migration migration) {}

            @Override
            public void close() {}
        };
    }

    /** Redraws one row in place: carriage return, the bar, erase to the end of the row. */
    static ProgressDisplay terminal(PrintWriter out, ProgressRenderer renderer) {
        return new ProgressDisplay() {
            private boolean drawn;

            @Override
            public void update(Migration migration) {
                out.print("\r" + renderer.bar(migration) + "\033[K");
                out.flush();
                drawn = true;
            }

            @Override
            public void close() {
                if (drawn) {
                    out.println();
                    out.flush();
                }
            }
        };
    }

    /** One line per update, for logs; the caller polls once a second. */
    static ProgressDisplay lines(PrintWriter out, ProgressRenderer renderer) {
        return new ProgressDisplay() {
            @Override
            public void update(Migration migration) {
                out.println(renderer.line(migration));
                out.flush();
            }

            @Override
            public void close() {}
        };
    }
}
