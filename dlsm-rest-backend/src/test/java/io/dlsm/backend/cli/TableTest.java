package io.dlsm.backend.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class TableTest {

    @Test
    void padsColumnsToTheWidestCellAndShowsMissingValuesAsDash() {
        Table table = new Table(List.of("NAME", "SIZE", "NODE"), List.of(
                List.of("demo", "10.0 GiB", "node-a"),
                Arrays.asList("a-much-longer-name", "512.0 MiB", null)));
        assertThat(table.render()).isEqualTo(
                "NAME                SIZE       NODE\n"
                + "demo                10.0 GiB   node-a\n"
                + "a-much-longer-name  512.0 MiB  -\n");
    }

    @Test
    void emptyTableIsItsHeader() {
        assertThat(new Table(List.of("ID", "PHASE"), List.of()).render()).isEqualTo("ID  PHASE\n");
    }

    @Test
    void rowOfTheWrongWidthIsABug() {
        assertThatThrownBy(() -> new Table(List.of("A", "B"), List.of(List.of("1"))))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
