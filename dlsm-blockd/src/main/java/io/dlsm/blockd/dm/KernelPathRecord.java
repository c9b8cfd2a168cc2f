package io.dlsm.blockd.dm;

import java.nio.file.Path;

/**
 * The state file of one volume's kernel device. {@code pending} is written before the
 * commands of a transition run and cleared after they all succeeded, so after a crash the
 * file names every device that may exist and which transition was cut short.
 */
public record KernelPathRecord(String volume, KernelPathMode mode, KernelPathState state, KernelPathState pending,
                               long sizeBytes, String nbdDevice, NbdSource nbdSource, Backing local,
                               Backing metadata, long regionSectors, long bandwidthBytesPerSecond) {

    /** The NBD export /dev/nbdN is attached to. */
    public record NbdSource(String host, int port, String export) {
    }

    /**
     * A local device: a block device ({@code loopDevice} null) or a file attached to the
     * named loop device.
     */
    public record Backing(String path, String loopDevice) {
        public static Backing device(String path) {
            return new Backing(path, null);
        }

        public static Backing file(Path file, String loopDevice) {
            return new Backing(file.toString(), loopDevice);
        }

        public String device() {
            return loopDevice != null ? loopDevice : path;
        }
    }

    public static final String DM_PREFIX = "dlsm-";

    public String dmName() {
        return DM_PREFIX + volume;
    }

    public String devicePath() {
        return devicePathOf(volume);
    }

    public static String devicePathOf(String volume) {
        return "/dev/mapper/" + DM_PREFIX + volume;
    }

    KernelPathRecord pending(KernelPathState target) {
        return new KernelPathRecord(volume, mode, state, target, sizeBytes, nbdDevice, nbdSource, local, metadata,
                regionSectors, bandwidthBytesPerSecond);
    }

    KernelPathRecord reached() {
        return new KernelPathRecord(volume, mode, pending, null, sizeBytes, nbdDevice, nbdSource, local, metadata,
                regionSectors, bandwidthBytesPerSecond);
    }

    KernelPathRecord withLocal(Backing newLocal) {
        return new KernelPathRecord(volume, mode, state, pending, sizeBytes, nbdDevice, nbdSource, newLocal, metadata,
                regionSectors, bandwidthBytesPerSecond);
    }

    KernelPathRecord withBandwidth(long bytesPerSecond) {
        return new KernelPathRecord(volume, mode, state, pending, sizeBytes, nbdDevice, nbdSource, local, metadata,
                regionSectors, bytesPerSecond);
    }
}
