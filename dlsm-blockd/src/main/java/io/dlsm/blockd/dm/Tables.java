package io.dlsm.blockd.dm;

/**
 * Device-mapper table lines. Lengths are in 512-byte sectors, whatever the devices' logical
 * block size: that is the unit of every dm table.
 */
public final class Tables {
    public static final int SECTOR = 512;

    private Tables() {
    }

    public static long sectors(long bytes) {
        if (bytes <= 0 || bytes % SECTOR != 0) {
            throw new IllegalArgumentException("size must be a positive multiple of 512 bytes, got " + bytes);
        }
        return bytes / SECTOR;
    }

    /** {@code 0 SECTORS linear DEVICE 0}: the whole device, one to one. */
    public static String linear(long sizeBytes, String device) {
        return "0 " + sectors(sizeBytes) + " linear " + device + " 0";
    }

    /**
     * {@code 0 SECTORS clone META DEST SOURCE REGION 1 no_hydration 4 hydration_threshold T
     * hydration_batch_size B}. Always loaded with {@code no_hydration}: the background copy
     * starts only with the {@code enable_hydration} message, after the table is live, so a
     * failed swap never leaves a half-started copy behind.
     */
    public static String clone(long sizeBytes, String meta, String dest, String source, long regionSectors,
                               CloneTuning tuning) {
        if (regionSectors < 8 || Long.bitCount(regionSectors) != 1) {
            // dm-clone: a power of two between 8 sectors (4 KiB) and 2^21 sectors.
            throw new IllegalArgumentException("region must be a power of two >= 8 sectors, got " + regionSectors);
        }
        return "0 " + sectors(sizeBytes) + " clone " + meta + " " + dest + " " + source + " " + regionSectors
                + " 1 no_hydration 4 hydration_threshold " + tuning.hydrationThreshold()
                + " hydration_batch_size " + tuning.hydrationBatchSize();
    }

    /** {@code 0 SECTORS error}: every read and write fails with EIO (a fenced device). */
    public static String error(long sizeBytes) {
        return "0 " + sectors(sizeBytes) + " error";
    }
}
