package io.dlsm.backend.config;

import java.util.Objects;

/**
 * Where the API listens, as given by the operator. Port 0 asks the OS for a free port, which
 * tests and supervisors learn from the READY line.
 */
public record ListenAddress(String host, int port) {

    public ListenAddress {
        Objects.requireNonNull(host, "host");
        if (host.isEmpty()) {
            throw new IllegalArgumentException("empty host");
        }
        if (port < 0 || port > 65_535) {
            throw new IllegalArgumentException("port out of range: " + port);
        }
    }

    /** Parses {@code HOST:PORT}; an IPv6 host is written in brackets, e.g. {@code [::1]:7800}. */
    public static ListenAddress parse(String text) throws ConfigException {
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw new ConfigException("listen address must be HOST:PORT, got '" + text + "'");
        }
        String host = text.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        } else if (host.contains(":")) {
            throw new ConfigException("IPv6 listen host must be in brackets, got '" + text + "'");
        }
        int port;
        try {
            port = Integer.parseInt(text.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new ConfigException("listen port is not a number in '" + text + "'", e);
        }
        try {
            return new ListenAddress(host, port);
        } catch (IllegalArgumentException e) {
            throw new ConfigException("bad listen address '" + text + "': " + e.getMessage(), e);
        }
    }

    /** Same {@code HOST:PORT} form that {@link #parse} accepts. */
    public String hostPort() {
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }

    public ListenAddress withPort(int actualPort) {
        return new ListenAddress(host, actualPort);
    }
}
