package io.dlsm.blockd.dm;

/**
 * dm-clone's two hydration knobs, derived from the migration's bandwidth setting. dm-clone has
 * no rate limit of its own: the only lever is how many regions it copies at once
 * ({@code hydration_threshold}) and how many contiguous ones it merges into one copy
 * ({@code hydration_batch_size}). We size the in-flight bytes to about a tenth of a second at
 * the requested rate, so the copy cannot run far ahead of it on a fast link; unlimited keeps
 * the kernel's default threshold and batches for large sequential copies.
 */
public record CloneTuning(int hydrationThreshold, int hydrationBatchSize) {
    /** dm-clone's own default threshold. */
    public static final int KERNEL_DEFAULT_THRESHOLD = 64;
    public static final int UNLIMITED_BATCH = 16;
    public static final int MAX_THRESHOLD = 1024;

    public CloneTuning {
        if (hydrationThreshold < 1 || hydrationBatchSize < 1) {
            throw new IllegalArgumentException("threshold and batch size must be >= 1");
        }
    }

    /** @param bandwidthBytesPerSecond 0 = unlimited, as in the sink API */
    public static CloneTuning forBandwidth(long bandwidthBytesPerSecond, long regionSectors) {
        if (bandwidthBytesPerSecond < 0) {
            throw new IllegalArgumentException("bandwidth must be >= 0");
        }
        if (bandwidthBytesPerSecond == 0) {
            return new CloneTuning(KERNEL_DEFAULT_THRESHOLD, UNLIMITED_BATCH);
        }
        long regionBytes = regionSectors * Tables.SECTOR;
        long inFlight = bandwidthBytesPerSecond / 10 / regionBytes;
        int threshold = (int) Math.max(1, Math.min(MAX_THRESHOLD, inFlight));
        // Batching multiplies a copy's size; keep single regions when the budget is small.
        int batch = (int) Math.max(1, Math.min(UNLIMITED_BATCH, threshold / 4));
        return new CloneTuning(threshold, batch);
    }

    /** The messages that apply this tuning to a live clone device (bandwidth changed mid-copy). */
    public java.util.List<String> messages() {
        return java.util.List.of("hydration_threshold " + hydrationThreshold,
                "hydration_batch_size " + hydrationBatchSize);
    }
}
