package io.dlsm.backend;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.Properties;

/**
 * What this backend process is: the version it was built as and when it started serving.
 * Health reports both so operators can tell a restarted or upgraded backend from a stale one.
 */
public record BackendInfo(String version, Instant startedAt) {

    private static final String BUILD_RESOURCE = "build.properties";

    /** The Maven project version, written into {@value #BUILD_RESOURCE} at build time. */
    public static String buildVersion() {
        try (InputStream in = BackendInfo.class.getResourceAsStream(BUILD_RESOURCE)) {
            if (in == null) {
                return "unknown";
            }
            Properties props = new Properties();
            props.load(in);
            String version = props.getProperty("version", "unknown");
            // An unfiltered copy (e.g. running from an IDE without Maven) still holds the placeholder.
            return version.startsWith("${") ? "unknown" : version;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + BUILD_RESOURCE, e);
        }
    }
}
