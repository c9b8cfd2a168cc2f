package io.dlsm.backend.cli;

import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.Optional;

/** The summary of a migration: where it stands, how long each phase took, what crossed the wire. */
public final class MigrationReport {

    private MigrationReport() {}

    /** {@code migration ID: volume demo node-a -> node-b, ACTIVE} and a newline. */
    public static String oneLine(Migration m) {
        return String.format(Locale.ROOT, "migration %s: volume %s %s -> %s, %s%n",
                m.id(), m.volume(), m.sourceNode(), m.targetNode(), m.phase());
    }

    public static String render(Migration m) {
        MigrationProgress p = m.progress();
        StringBuilder text = new StringBuilder();
        text.append(String.format(Locale.ROOT, "migration %s: volume %s  %s -> %s  %s%n",
                m.id(), m.volume(), m.sourceNode(), m.targetNode(), m.phase()));
        if (m.errorText() != null) {
            row(text, "error", m.errorText());
        }
        if (p.stalled()) {
            row(text, "stalled", p.condition() + (p.conditionMessage() == null ? "" : ": " + p.conditionMessage()));
        }
        row(text, "total time", seconds(m.createdAt(), m.finished() ? m.updatedAt() : null));
        row(text, "t0 -> t1 (proxy phase)", seconds(p.t0(), p.t1()));
        row(text, "t1 -> t2 (hydration)", seconds(p.t1(), p.t2()));
        row(text, "regions present", p.regionsPresent() + " / " + p.regionsTotal()
                + String.format(Locale.ROOT, " (%.1f%%)", 100 * p.ratio()));
        String wire = Units.formatBytes(p.wireBytesReceived());
        row(text, "wire bytes received", p.allocatedBytes() > 0
                ? String.format(Locale.ROOT, "%s = %.3f x allocated (%s)", wire,
                        (double) p.wireBytesReceived() / p.allocatedBytes(), Units.formatBytes(p.allocatedBytes()))
                : wire + " (allocated " + Units.formatBytes(p.allocatedBytes()) + ")");
        row(text, "fetched on demand", Units.formatBytes(p.bytesFetchedOnDemand()));
        row(text, "copied in background", Units.formatBytes(p.bytesCopiedInBackground()));
        row(text, "skipped as holes", Units.formatBytes(p.bytesSkippedAsHoles()));
        row(text, "overwritten, never fetched", Units.formatBytes(p.bytesOverwrittenNeverFetched()));
        return text.toString();
    }

    private static void row(StringBuilder text, String label, String value) {
        text.append(String.format(Locale.ROOT, "  %-28s %s%n", label, value));
    }

    /** The time between two backend timestamps, or "-" while the later one is not reached. */
    static String seconds(String from, String to) {
        Optional<Instant> start = instant(from);
        Optional<Instant> end = instant(to);
        if (start.isEmpty() || end.isEmpty()) {
            return "-";
        }
        return Units.formatSeconds(Duration.between(start.get(), end.get()).toNanos() / 1e9);
    }

    private static Optional<Instant> instant(String text) {
        if (text == null || text.isBlank()) {
            return Optional.empty();
        }
        try {
            return Optional.of(OffsetDateTime.parse(text).toInstant());
        } catch (DateTimeParseException e) {
            // A timestamp this client cannot read shows as unknown rather than failing the report.
            return Optional.empty();
        }
    }
}
