package io.dlsm.backend.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.json.JsonMapper;
import org.junit.jupiter.api.Test;

class ProgressRendererTest {

    private static Migration migration(String phase, int present) throws Exception {
        return JsonMapper.builder().build().readValue(Canned.migration(phase, present, null), Migration.class);
    }

    @Test
    void barOnAWideTerminal() throws Exception {
        assertThat(new ProgressRenderer(120).bar(migration("ACTIVE", 128))).isEqualTo(
                "ACTIVE    [########----------------------]   25.0%  20.0 MiB/s  ETA 12s    on-demand 3.0 MiB    background 64.0 MiB");
    }

    @Test
    void barShrinksSoTheRowNeverWraps() throws Exception {
        String bar = new ProgressRenderer(100).bar(migration("ACTIVE", 256));
        assertThat(bar).isEqualTo(
                "ACTIVE    [#######------]   50.0%  20.0 MiB/s  ETA 12s    on-demand 3.0 MiB    background 128.0 MiB");
        assertThat(bar.length()).isLessThan(100);
    }

    @Test
    void barWidthDoesNotDependOnTheFigures() throws Exception {
        ProgressRenderer renderer = new ProgressRenderer(100);
        assertThat(renderer.bar(migration("PREPARED", 0)).indexOf(']'))
                .isEqualTo(renderer.bar(migration("ACTIVE", 300)).indexOf(']'));
    }

    @Test
    void barOnAClassicTerminalUsesShortLabels() throws Exception {
        assertThat(new ProgressRenderer(80).bar(migration("ACTIVE", 256))).isEqualTo(
                "ACTIVE    [####----]   50.0%  20.0 MiB/s  ETA 12s    od 3.0 MiB    bg 128.0 MiB");
    }

    @Test
    void barOnATinyTerminalIsCut() throws Exception {
        assertThat(new ProgressRenderer(40).bar(migration("ACTIVE", 512))).isEqualTo(
                "ACTIVE    [########]  100.0%       0 B/");
    }

    @Test
    void preparedHasNoRateOrEta() throws Exception {
        assertThat(new ProgressRenderer(120).bar(migration("PREPARED", 0))).isEqualTo(
                "PREPARED  [------------------------------]    0.0%       0 B/s  ETA -      on-demand 3.0 MiB    background 0 B");
    }

    @Test
    void logLine() throws Exception {
        assertThat(new ProgressRenderer(80).line(migration("ACTIVE", 128))).isEqualTo(
                "ACTIVE  25.0%  20.0 MiB/s  ETA 12s  on-demand 3.0 MiB  background 64.0 MiB  wire 67.0 MiB");
    }

    @Test
    void aStalledTargetShowsWhyInPlaceOfThePhaseAndInTheLogLine() throws Exception {
        Migration m = JsonMapper.builder().build().readValue(Canned.noSpace("ACTIVE", 128), Migration.class);
        assertThat(new ProgressRenderer(120).bar(m)).startsWith("NO_SPACE  [########---");
        assertThat(new ProgressRenderer(80).line(m)).isEqualTo("ACTIVE  25.0%  20.0 MiB/s  ETA 12s  on-demand 3.0 MiB"
                + "  background 64.0 MiB  wire 67.0 MiB  NO_SPACE: node 'node-b': no space left for sink demo on this node");
        assertThat(new ProgressRenderer(120).bar(migration("ACTIVE", 128))).startsWith("ACTIVE    [");
    }
}
