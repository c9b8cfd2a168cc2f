package io.dlsm.backend.cli;

import java.util.Locale;

/**
 * Text for a migration in progress: a one-row bar for terminals, redrawn in place, and a
 * self-contained log line for pipes and files.
 *
 * @param columns the terminal's width; the bar shrinks so the row never wraps, because a
 *     wrapped row can no longer be redrawn with a carriage return
 */
public record ProgressRenderer(int columns) {

    private static final int MAX_BAR = 30;
    private static final int MIN_BAR = 8;

    /** {@code ACTIVE    [#####-----]   42.0%  12.3 MiB/s  ETA 1m05s  on-demand 1.2 MiB  background 8.0 MiB} */
    public String bar(Migration migration) {
        MigrationProgress p = migration.progress();
        // A stalled sink shows why in place of its phase: NO_SPACE asks for the operator.
        String phase = String.format(Locale.ROOT, "%-9s ", p.stalled() ? p.condition() : migration.phase());
        String figures = figures(p, "on-demand", "background");
        if (phase.length() + figures.length() + MIN_BAR + 2 >= columns) {
            figures = figures(p, "od", "bg");
        }
        int room = columns - 1 - phase.length() - figures.length() - 2;
        int width = Math.max(MIN_BAR, Math.min(MAX_BAR, room));
        int filled = (int) Math.round(Math.min(1.0, Math.max(0.0, p.ratio())) * width);
        String row = (phase + "[" + "#".repeat(filled) + "-".repeat(width - filled) + "]" + figures).stripTrailing();
        // Still too wide (a very narrow terminal): cut the least important figures at the end.
        return row.length() < columns ? row : row.substring(0, Math.max(0, columns - 1));
    }

    /** Fixed-width fields, so the bar keeps its width while the figures change. */
    private static String figures(MigrationProgress p, String onDemandLabel, String backgroundLabel) {
        return String.format(Locale.ROOT, "  %5.1f%%  %10s  ETA %-5s  %s %-9s  %s %-9s",
                percent(p), Units.formatRate(p.rateBytesPerSecond()), Units.formatEta(p.etaSeconds()),
                onDemandLabel, Units.formatBytes(p.bytesFetchedOnDemand()),
                backgroundLabel, Units.formatBytes(p.bytesCopiedInBackground()));
    }

    /** {@code ACTIVE  42.0%  12.3 MiB/s  ETA 1m05s  on-demand 1.2 MiB  background 8.0 MiB  wire 9.2 MiB} */
    public String line(Migration migration) {
        MigrationProgress p = migration.progress();
        String line = String.format(Locale.ROOT, "%s  %.1f%%  %s  ETA %s  on-demand %s  background %s  wire %s",
                migration.phase(), percent(p), Units.formatRate(p.rateBytesPerSecond()), Units.formatEta(p.etaSeconds()),
                Units.formatBytes(p.bytesFetchedOnDemand()), Units.formatBytes(p.bytesCopiedInBackground()),
                Units.formatBytes(p.wireBytesReceived()));
        return p.stalled() ? line + "  " + p.condition() + ": " + p.conditionMessage() : line;
    }

    private static double percent(MigrationProgress p) {
        return 100 * Math.min(1.0, Math.max(0.0, p.ratio()));
    }
}
