package io.dlsm.backend.node;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/** The part of blockd's snapshot view the backend needs. */
@JsonIgnoreProperties(ignoreUnknown = true)
public record BlockdSnapshot(String volume, String name, long sizeBytes, long allocatedBytes, String exportName) {
}
