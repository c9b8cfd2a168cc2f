package io.dlsm.backend.cli;

import java.util.Locale;

/** Backend documents as the contract (docs/backend-api.md) shapes them, for the fake backend. */
final class Canned {

    static final String MIGRATION_ID = "m-1";

    private Canned() {}

    static String volume(String name, long sizeBytes, String node, String state) {
        return String.format(Locale.ROOT,
                "{\"name\":\"%s\",\"sizeBytes\":%d,\"node\":\"%s\",\"state\":\"%s\",\"createdAt\":\"2026-01-05T10:00:00Z\"}",
                name, sizeBytes, node, state);
    }

    static String node(String name, int nbdPort, String state) {
        return String.format(Locale.ROOT,
                "{\"name\":\"%s\",\"apiUrl\":\"http://127.0.0.1:%d\",\"nbdHost\":\"127.0.0.1\",\"nbdPort\":%d,"
                        + "\"state\":\"%s\",\"lastHeartbeat\":\"2026-01-05T10:00:05Z\",\"capacityBytes\":107374182400,"
                        + "\"freeBytes\":53687091200,\"capabilities\":{\"nbd\":true,\"deviceMapper\":false,\"dmClone\":false},"
                        + "\"nodeAuth\":\"CREDENTIAL\",\"backendAuth\":\"TOKEN\",\"someFutureField\":1}",
                name, nbdPort + 1, nbdPort, state);
    }

    /** A demo-sized migration: 512 regions of 1 MiB, 256 MiB allocated, `present` of them local. */
    static String migration(String phase, int present, String error) {
        double ratio = present / 512.0;
        long mib = 1 << 20;
        boolean active = !phase.equals("PREPARED");
        boolean hydrated = present == 512;
        return String.format(Locale.ROOT,
                "{\"id\":\"%s\",\"volume\":\"demo\",\"sourceNode\":\"node-a\",\"targetNode\":\"node-b\",\"phase\":\"%s\","
                        + "\"createdAt\":\"2026-01-05T10:00:00Z\",\"updatedAt\":\"2026-01-05T10:00:12.500Z\"%s,"
                        + "\"progress\":{\"regionsTotal\":512,\"regionsPresent\":%d,\"ratio\":%s,"
                        + "\"bytesFetchedOnDemand\":%d,\"bytesCopiedInBackground\":%d,\"bytesSkippedAsHoles\":%d,"
                        + "\"bytesOverwrittenNeverFetched\":%d,\"wireBytesReceived\":%d,\"allocatedBytes\":%d,"
                        + "\"rateBytesPerSecond\":%s,\"etaSeconds\":%s,\"t0\":\"2026-01-05T10:00:00.250Z\",\"t1\":%s,\"t2\":%s}}",
                MIGRATION_ID, phase, error == null ? "" : ",\"error\":\"" + error + "\"", present, ratio,
                3 * mib, present / 2 * mib, present / 2 * mib, 2 * mib, (present / 2 + 3) * mib + 4096, 256 * mib,
                active && !hydrated ? 20 * mib : 0, active && !hydrated ? "12.0" : "null",
                active ? "\"2026-01-05T10:00:01.250Z\"" : "null", hydrated ? "\"2026-01-05T10:00:12.250Z\"" : "null");
    }

    /** The same migration with the target sink reporting NO_SPACE. */
    static String noSpace(String phase, int present) {
        String m = migration(phase, present, null);
        return m.substring(0, m.length() - 2) + ",\"condition\":\"NO_SPACE\",\"conditionMessage\":"
                + "\"node 'node-b': no space left for sink demo on this node\"}}";
    }

    static String error(String code, String message) {
        return "{\"code\":\"" + code + "\",\"message\":\"" + message + "\",\"details\":{}}";
    }
}
