package io.dlsm.backend.cli;

import picocli.CommandLine;

/** Option values such as {@code 10G}; a bad one is a usage error with an example. */
final class SizeConverter implements CommandLine.ITypeConverter<Long> {
    @Override
    public Long convert(String value) {
        try {
            return Units.parseSize(value);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.TypeConversionException(e.getMessage());
        }
    }
}
