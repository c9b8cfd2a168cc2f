package io.dlsm.backend.cli;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/** A volume as the backend reports it ({@code GET /v1/volumes/{name}}). */
@JsonIgnoreProperties(ignoreUnknown = true)
public record Volume(String name, long sizeBytes, String node, String state, String migrationId, String createdAt) {}
