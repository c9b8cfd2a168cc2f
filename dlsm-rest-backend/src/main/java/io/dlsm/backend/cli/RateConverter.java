package io.dlsm.backend.cli;

import picocli.CommandLine;

/** Option values such as {@code 100M} or {@code 1G/s}, in bytes per second; 0 means unlimited. */
final class RateConverter implements CommandLine.ITypeConverter<Long> {
    @Override
    public Long convert(String value) {
        try {
            return Units.parseRate(value);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.TypeConversionException(e.getMessage());
        }
    }
}
