package io.dlsm.backend.cli;

import java.util.ArrayList;
import java.util.List;

/** A plain text table: a header row, columns padded to their widest cell, two spaces apart. */
public record Table(List<String> headers, List<List<String>> rows) {

    public Table {
        headers = List.copyOf(headers);
        rows = rows.stream().map(row -> row.stream().map(cell -> cell == null ? "-" : cell).toList()).toList();
        for (List<String> row : rows) {
            if (row.size() != headers.size()) {
                throw new IllegalArgumentException("row " + row + " has " + row.size() + " cells for " + headers.size() + " columns");
            }
        }
    }

    /** The table, one line per row, each ending in a newline; no trailing blanks. */
    public String render() {
        int[] widths = new int[headers.size()];
        List<List<String>> all = new ArrayList<>();
        all.add(headers);
        all.addAll(rows);
        for (List<String> row : all) {
            for (int i = 0; i < widths.length; i++) {
                widths[i] = Math.max(widths[i], row.get(i).length());
            }
        }
        StringBuilder text = new StringBuilder();
        for (List<String> row : all) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < widths.length; i++) {
                line.append(i == 0 ? "" : "  ").append(row.get(i)).append(" ".repeat(widths[i] - row.get(i).length()));
            }
            text.append(line.toString().stripTrailing()).append('\n');
        }
        return text.toString();
    }
}
