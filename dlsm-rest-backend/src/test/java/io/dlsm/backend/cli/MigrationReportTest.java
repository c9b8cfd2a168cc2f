package io.dlsm.backend.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.json.JsonMapper;
import org.junit.jupiter.api.Test;

class MigrationReportTest {

    private static Migration migration(String phase, int present, String error) throws Exception {
        return JsonMapper.builder().build().readValue(Canned.migration(phase, present, error), Migration.class);
    }

    @Test
    void committedMigration() throws Exception {
        assertThat(MigrationReport.render(migration("COMMITTED", 512, null))).isEqualTo(String.join(System.lineSeparator(),
                "migration m-1: volume demo  node-a -> node-b  COMMITTED",
                "  total time                   12.50 s",
                "  t0 -> t1 (proxy phase)       1.00 s",
                "  t1 -> t2 (hydration)         11.00 s",
                "  regions present              512 / 512 (100.0%)",
                "  wire bytes received          259.0 MiB = 1.012 x allocated (256.0 MiB)",
                "  fetched on demand            3.0 MiB",
                "  copied in background         256.0 MiB",
                "  skipped as holes             256.0 MiB",
                "  overwritten, never fetched   2.0 MiB",
                ""));
    }

    @Test
    void unfinishedMigrationHasNoTotalOrHydrationTimeYet() throws Exception {
        String report = MigrationReport.render(migration("ACTIVE", 100, null));
        assertThat(report).contains("  total time                   -", "  t1 -> t2 (hydration)         -");
    }

    @Test
    void failedMigrationSaysWhy() throws Exception {
        assertThat(MigrationReport.render(migration("FAILED", 100, "node-a unreachable")))
                .contains("FAILED", "  error                        node-a unreachable");
    }

    @Test
    void aStalledTargetSaysWhyAndWhere() throws Exception {
        Migration m = com.fasterxml.jackson.databind.json.JsonMapper.builder().build()
                .readValue(Canned.noSpace("ACTIVE", 100), Migration.class);
        assertThat(MigrationReport.render(m)).contains(
                "  stalled                      NO_SPACE: node 'node-b': no space left for sink demo on this node");
        assertThat(MigrationReport.render(migration("ACTIVE", 100, null))).doesNotContain("stalled");
    }
}
