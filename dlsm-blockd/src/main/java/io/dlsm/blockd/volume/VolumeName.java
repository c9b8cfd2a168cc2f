package io.dlsm.blockd.volume;

import java.util.regex.Pattern;

/**
 * Volume names double as file names and NBD export names, so only a conservative alphabet is
 * accepted: no separators, no dot-only names, nothing a shell or a path could misread.
 */
public final class VolumeName {
    public static final int MAX_LENGTH = 128;
    private static final Pattern ALLOWED = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");

    private VolumeName() {
    }

    /** Returns the name if acceptable; otherwise throws naming the field. */
    public static String require(String field, String name) {
        if (name == null || name.isEmpty()) {
            throw VolumeException.invalid(field, field + " is required");
        }
        if (name.length() > MAX_LENGTH) {
            throw VolumeException.invalid(field, field + " is longer than " + MAX_LENGTH + " characters");
        }
        if (!ALLOWED.matcher(name).matches()) {
            throw VolumeException.invalid(field, field + " '" + printable(name)
                    + "' may only contain letters, digits, '.', '_' and '-', and must start with a letter or digit");
        }
        return name;
    }

    private static String printable(String s) {
        StringBuilder b = new StringBuilder();
        s.codePoints().limit(MAX_LENGTH).forEach(c -> {
            if (c < 0x20 || c == 0x7f) {
                b.append(String.format("\\x%02x", c));
            } else {
                b.appendCodePoint(c);
            }
        });
        return b.toString();
    }
}
