package io.dlsm.blockd.sink;

import java.time.Instant;

/**
 * What is persisted about a sink beside its data and bitmap files. Timestamps follow the
 * design's timeline: t0 created, t1 activated, t2 hydrated. {@code kernelCopy}: the kernel
 * (a dm-clone device) hydrates the data file, not this sink's copier; null in records written
 * before it existed, meaning false.
 */
public record SinkRecord(String name, long sizeBytes, SourceAddress source, int regionSize,
                         SinkState state, boolean autoCommit, long bandwidthBytesPerSecond,
                         int retryDeadlineSeconds, Instant t0, Instant t1, Instant t2, Boolean kernelCopy) {

    /** Where the source export is: host and NBD port of its blockd, and the export name. */
    public record SourceAddress(String host, int port, String export) {
        /** The source volume's ordinary export; a migration export is named VOLUME@TOKEN. */
        public String volumeExport() {
            int at = export.indexOf('@');
            return at < 0 ? export : export.substring(0, at);
        }

        @Override
        public String toString() {
            return "nbd://" + host + ":" + port + "/" + export;
        }
    }

    public SinkRecord withState(SinkState s) {
        return new SinkRecord(name, sizeBytes, source, regionSize, s, autoCommit, bandwidthBytesPerSecond, retryDeadlineSeconds, t0, t1, t2, kernelCopy);
    }

    public SinkRecord withT1(Instant t) {
        return new SinkRecord(name, sizeBytes, source, regionSize, state, autoCommit, bandwidthBytesPerSecond, retryDeadlineSeconds, t0, t, t2, kernelCopy);
    }

    public SinkRecord withT2(Instant t) {
        return new SinkRecord(name, sizeBytes, source, regionSize, state, autoCommit, bandwidthBytesPerSecond, retryDeadlineSeconds, t0, t1, t, kernelCopy);
    }

    public boolean kernelCopies() {
        return Boolean.TRUE.equals(kernelCopy);
    }

    public SinkRecord withKernelCopy() {
        return new SinkRecord(name, sizeBytes, source, regionSize, state, autoCommit, bandwidthBytesPerSecond,
                retryDeadlineSeconds, t0, t1, t2, true);
    }

    public SinkRecord withSource(SourceAddress moved) {
        return new SinkRecord(name, sizeBytes, moved, regionSize, state, autoCommit, bandwidthBytesPerSecond, retryDeadlineSeconds, t0, t1, t2, kernelCopy);
    }

    public SinkRecord withBandwidth(long bps) {
        return new SinkRecord(name, sizeBytes, source, regionSize, state, autoCommit, bps, retryDeadlineSeconds, t0, t1, t2, kernelCopy);
    }
}
