package io.dlsm.backend.cli;

import java.math.BigDecimal;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Sizes, rates and durations as people type and read them. Input: {@code 512M}, {@code 10G},
 * {@code 1.5GiB} (K/M/G/T and KiB..TiB are powers of 1024, as for qemu-img and truncate),
 * {@code 10GB} (KB..TB are powers of 1000), plain bytes; rates the same with an optional
 * {@code /s}. Output always binary: {@code 1.5 GiB}, {@code 12.3 MiB/s}.
 */
public final class Units {

    private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([A-Za-z]*)");
    private static final Map<String, Long> MULTIPLIERS = Map.ofEntries(
            Map.entry("", 1L), Map.entry("B", 1L),
            Map.entry("K", 1L << 10), Map.entry("KIB", 1L << 10), Map.entry("KB", 1_000L),
            Map.entry("M", 1L << 20), Map.entry("MIB", 1L << 20), Map.entry("MB", 1_000_000L),
            Map.entry("G", 1L << 30), Map.entry("GIB", 1L << 30), Map.entry("GB", 1_000_000_000L),
            Map.entry("T", 1L << 40), Map.entry("TIB", 1L << 40), Map.entry("TB", 1_000_000_000_000L));
    private static final String[] BINARY_UNITS = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};

    private Units() {}

    /** Bytes of a size such as {@code 10G}; whole bytes only, so {@code 1.5K} is fine, {@code 0.3} is not. */
    public static long parseSize(String text) {
        Matcher m = SIZE.matcher(text.strip());
        Long multiplier = m.matches() ? MULTIPLIERS.get(m.group(2).toUpperCase(Locale.ROOT)) : null;
        if (multiplier == null) {
            throw new IllegalArgumentException(
                    "'" + text + "' is not a size (examples: 4096, 512M, 10G, 1.5GiB, 10GB)");
        }
        BigDecimal bytes = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(multiplier));
        try {
            return bytes.longValueExact();
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("'" + text + "' is not a whole number of bytes or is too large");
        }
    }

    /** Bytes per second of a rate such as {@code 100M} or {@code 100MiB/s}. */
    public static long parseRate(String text) {
        String stripped = text.strip();
        String perSecond = stripped.endsWith("/s") ? stripped.substring(0, stripped.length() - 2) : stripped;
        try {
            return parseSize(perSecond);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "'" + text + "' is not a rate in bytes per second (examples: 100M, 1G/s, 50MiB/s)");
        }
    }

    /** {@code 512 B}, {@code 1.5 GiB}: one decimal from KiB up. */
    public static String formatBytes(double bytes) {
        int unit = 0;
        double value = bytes;
        while (Math.abs(value) >= 1024 && unit < BINARY_UNITS.length - 1) {
            value /= 1024;
            unit++;
        }
        return unit == 0
                ? String.format(Locale.ROOT, "%d B", Math.round(value))
                : String.format(Locale.ROOT, "%.1f %s", value, BINARY_UNITS[unit]);
    }

    public static String formatRate(double bytesPerSecond) {
        return formatBytes(bytesPerSecond) + "/s";
    }

    /** {@code 42s}, {@code 3m05s}, {@code 2h07m}; "-" when unknown. */
    public static String formatEta(Double seconds) {
        if (seconds == null || seconds.isNaN() || seconds.isInfinite() || seconds < 0) {
            return "-";
        }
        long s = Math.round(seconds);
        if (s < 60) {
            return s + "s";
        }
        if (s < 3600) {
            return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
        }
        return String.format(Locale.ROOT, "%dh%02dm", s / 3600, (s % 3600) / 60);
    }

    /** {@code 1.23 s} for report times, where sub-second precision matters. */
    public static String formatSeconds(double seconds) {
        return String.format(Locale.ROOT, "%.2f s", seconds);
    }
}
