package io.dlsm.backend.api;

/** Body of {@code GET /v1/health}. */
public record Health(String status, String version, long uptimeSeconds) {
}
