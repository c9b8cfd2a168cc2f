package io.dlsm.backend.cli;

/**
 * A decoded backend answer together with its body as received, so {@code --json} can print
 * exactly what the backend said (including fields this client does not know yet).
 */
public record Reply<T>(T value, String json) {}
