package io.dlsm.backend.cli;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.Set;

/** A migration as the backend reports it ({@code GET /v1/migrations/{id}}). */
@JsonIgnoreProperties(ignoreUnknown = true)
public record Migration(
        String id,
        String volume,
        String sourceNode,
        String targetNode,
        String phase,
        String createdAt,
        String updatedAt,
        JsonNode error,
        MigrationProgress progress) {

    public static final String COMMITTED = "COMMITTED";

    /**
     * Phases that never change again. DEGRADED is not one: the target lost the source for a
     * while and goes back to ACTIVE when the source answers again, so a watch keeps going.
     */
    private static final Set<String> FINAL_PHASES = Set.of(COMMITTED, "ABORTED", "FAILED");

    public Migration {
        progress = progress == null ? MigrationProgress.NONE : progress;
    }

    public boolean finished() {
        return FINAL_PHASES.contains(phase);
    }

    public boolean succeeded() {
        return COMMITTED.equals(phase);
    }

    /** The error as one line; the contract leaves open whether it is a string or an error object. */
    public String errorText() {
        if (error == null || error.isNull()) {
            return null;
        }
        if (error.isTextual()) {
            return error.asText();
        }
        JsonNode message = error.get("message");
        return message != null ? message.asText() : error.toString();
    }
}
