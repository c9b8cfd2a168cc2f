package io.dlsm.backend.config;

/** The configuration cannot be used; the message is meant for the operator as is. */
public final class ConfigException extends Exception {
    public ConfigException(String message) {
        super(message);
    }

    public ConfigException(String message, Throwable cause) {
        super(message, cause);
    }
}
