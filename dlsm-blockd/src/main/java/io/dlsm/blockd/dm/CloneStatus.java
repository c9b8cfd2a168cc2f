package io.dlsm.blockd.dm;

/**
 * One dm-clone status line as {@code dmsetup status} prints it:
 * {@code START LEN clone META_BLOCK USED/TOTAL_META REGION HYDRATED/TOTAL HYDRATING #F F... #C C... MODE},
 * e.g. {@code 0 65536 clone 8 6/1024 64 0/1024 0 1 no_hydration 4 hydration_threshold 1
 * hydration_batch_size 1 rw}. Field 7 (1-based) is hydrated/total regions.
 */
public record CloneStatus(long sectors, long regionSectors, long hydratedRegions, long totalRegions,
                          long hydratingRegions, boolean hydrationEnabled, String metadataMode) {

    public static CloneStatus parse(String line) {
        String s = line.strip();
        String[] f = s.split("\\s+");
        if (f.length < 3 || !f[2].equals("clone")) {
            throw new IllegalArgumentException("not a dm-clone status line: '" + s + "'");
        }
        // The kernel prints "Fail" instead of the fields when the metadata device failed.
        if (f.length < 10) {
            throw new IllegalArgumentException("dm-clone reports an error state: '" + s + "'");
        }
        try {
            long[] hydrated = fraction(f[6]);
            int features = Integer.parseInt(f[8]);
            boolean noHydration = false;
            for (int i = 0; i < features; i++) {
                noHydration |= f[9 + i].equals("no_hydration");
            }
            return new CloneStatus(Long.parseLong(f[1]), Long.parseLong(f[5]), hydrated[0], hydrated[1],
                    Long.parseLong(f[7]), !noHydration, f[f.length - 1]);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("cannot parse dm-clone status '" + s + "': " + e.getMessage(), e);
        }
    }

    private static long[] fraction(String s) {
        int slash = s.indexOf('/');
        if (slash < 0) {
            throw new IllegalArgumentException("expected N/M, got " + s);
        }
        return new long[] {Long.parseLong(s.substring(0, slash)), Long.parseLong(s.substring(slash + 1))};
    }

    public boolean fullyHydrated() {
        return totalRegions > 0 && hydratedRegions == totalRegions;
    }

    public double progress() {
        return totalRegions == 0 ? 1.0 : (double) hydratedRegions / totalRegions;
    }

    /** The metadata went read-only or failed: the copy cannot go on, swapping would lose data. */
    public boolean failed() {
        return !metadataMode.equals("rw");
    }
}
