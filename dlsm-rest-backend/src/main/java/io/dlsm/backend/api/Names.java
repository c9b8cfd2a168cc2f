package io.dlsm.backend.api;

import io.dlsm.backend.api.error.BadRequestException;
import java.util.regex.Pattern;

/**
 * Validation of names and numbers coming from requests, in one place so every resource rejects
 * the same things with the same messages. Volume names follow blockd's own rule (they become
 * NBD export names and file names there); ids become file names in the state store.
 */
public final class Names {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

    private Names() {
    }

    public static String requireName(String field, String value) {
        if (value == null || value.isEmpty()) {
            throw new BadRequestException(field, field + " is required");
        }
        if (!NAME.matcher(value).matches()) {
            throw new BadRequestException(field, field + " '" + value
                    + "' must be 1-128 characters of letters, digits, '.', '_' and '-', starting with a letter or digit");
        }
        return value;
    }

    public static long requirePositive(String field, Long value) {
        if (value == null) {
            throw new BadRequestException(field, field + " is required");
        }
        if (value <= 0) {
            throw new BadRequestException(field, field + " must be positive, got " + value);
        }
        return value;
    }

    public static long requireNonNegative(String field, Long value) {
        if (value == null) {
            throw new BadRequestException(field, field + " is required");
        }
        if (value < 0) {
            throw new BadRequestException(field, field + " must be >= 0 (0 = unlimited), got " + value);
        }
        return value;
    }
}
