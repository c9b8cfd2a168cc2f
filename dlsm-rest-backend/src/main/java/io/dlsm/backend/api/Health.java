package io.dlsm.backend.api;

/**
 * Body of {@code GET /v1/health}, which answers without a token: hence nothing but the status
 * (the version, uptime and counts are for callers with the API token, at /metrics).
 */
public record Health(String status) {
}
