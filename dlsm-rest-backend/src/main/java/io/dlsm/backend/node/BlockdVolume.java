package io.dlsm.backend.node;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/** The part of blockd's volume view the orchestration needs. */
@JsonIgnoreProperties(ignoreUnknown = true)
public record BlockdVolume(String name, long sizeBytes, long allocatedBytes, boolean fenced, int writers,
                           String migrationExport) {
}
