package io.dlsm.tests.support;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dlsm.blockd.block.Extent;
import io.dlsm.blockd.nbd.client.NbdClient;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * base:allocation maps in one comparable form: adjacent extents with equal state merged, since
 * servers may split the same map differently from one request to the next.
 */
public final class AllocationMaps {
    private AllocationMaps() {
    }

    /** The map libnbd's nbdinfo reports for an NBD URI ({@code nbdinfo --map --json}). */
    public static List<Extent> fromNbdinfo(String uri) throws IOException {
        JsonNode entries = new ObjectMapper().readTree(Processes.run("nbdinfo", "--map", "--json", uri));
        List<Extent> extents = new ArrayList<>();
        for (JsonNode e : entries) {
            int type = e.get("type").asInt();
            extents.add(new Extent(e.get("offset").asLong(), e.get("length").asLong(), (type & 1) != 0,
                    (type & 2) != 0));
        }
        return merged(extents);
    }

    /** The whole export's map as seen through our client, asking until every byte is covered. */
    public static List<Extent> fromClient(NbdClient client) throws IOException {
        List<Extent> extents = new ArrayList<>();
        long offset = 0;
        while (offset < client.size()) {
            List<Extent> part = client.blockStatus(offset, client.size() - offset);
            extents.addAll(part);
            offset = part.get(part.size() - 1).end();
        }
        return merged(extents);
    }

    public static List<Extent> merged(List<Extent> extents) {
        List<Extent> out = new ArrayList<>();
        for (Extent e : extents) {
            Extent last = out.isEmpty() ? null : out.get(out.size() - 1);
            if (last != null && last.end() == e.offset() && last.hole() == e.hole() && last.zero() == e.zero()) {
                out.set(out.size() - 1, new Extent(last.offset(), last.length() + e.length(), e.hole(), e.zero()));
            } else {
                out.add(e);
            }
        }
        return out;
    }
}
