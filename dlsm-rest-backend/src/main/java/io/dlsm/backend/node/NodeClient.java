package io.dlsm.backend.node;

import java.util.Optional;

/**
 * The calls the backend makes to a node's blockd control API. An interface so that the
 * orchestration can be tested without blockd processes.
 *
 * <p>Every method throws {@link NodeCallException} when blockd answers an unexpected status or
 * cannot be reached. "Not found" is an answer, not a failure, where the callers need to tell
 * (an {@code Optional}), and deletions of something already gone succeed: retries after a
 * crash must be harmless.
 */
public interface NodeClient {

    /** Creates a volume; blockd's 409 (the name exists) surfaces as {@link NodeCallException}. */
    BlockdVolume createVolume(Node node, String name, long sizeBytes);

    Optional<BlockdVolume> getVolume(Node node, String name);

    BlockdVolume resizeVolume(Node node, String name, long sizeBytes);

    /** Succeeds if the volume is already gone. */
    void deleteVolume(Node node, String name);

    /** A point-in-time copy of the volume kept on the node; blockd's 409 (the name exists) surfaces. */
    BlockdSnapshot createSnapshot(Node node, String volume, String name);

    Optional<BlockdSnapshot> getSnapshot(Node node, String volume, String name);

    /** Succeeds if the snapshot is already gone. */
    void deleteSnapshot(Node node, String volume, String name);

    /**
     * Creates volume {@code name} on the node filled from {@code sourceVolume} there, or from its
     * snapshot {@code sourceSnapshot} when not null; blockd's 409 (the name exists) surfaces.
     */
    BlockdVolume createVolumeFrom(Node node, String name, long sizeBytes, String sourceVolume, String sourceSnapshot);

    /** Opens (or returns the already open) migration export; returns its {@code NAME@token}. */
    String openMigrationExport(Node node, String volume);

    /** Succeeds if the export or the volume is already gone. */
    void closeMigrationExport(Node node, String volume);

    BlockdVolume fence(Node node, String volume);

    BlockdVolume unfence(Node node, String volume);

    /** Creates a sink in PROXY that reads from {@code export} at {@code sourceHost:sourcePort}. */
    BlockdSink createSink(Node node, String name, String sourceHost, int sourcePort, String export,
                          long bandwidthBytesPerSecond);

    Optional<BlockdSink> getSink(Node node, String name);

    /**
     * Activates the sink of a source the caller has fenced and seen fenced: the node does not
     * ask the source again.
     */
    BlockdSink activateFencedSink(Node node, String name);

    BlockdSink setSinkBandwidth(Node node, String name, long bytesPerSecond);

    /** Points the sink at its source's new NBD address; the export name stays. */
    BlockdSink repointSink(Node node, String name, String sourceHost, int sourcePort);

    /** Aborts (after ACTIVE: copies the destination's writes back first); empty if already gone. */
    Optional<BlockdSink> abortSink(Node node, String name);

    /**
     * Asks the node's blockd to create /dev/mapper/dlsm-VOLUME for the volume or the sink it
     * holds ({@code POST /v1/volumes/VOLUME/device}) and returns the device path once it
     * exists. Idempotent on blockd's side.
     */
    String createDevice(Node node, String volume);

    /** Tears the device down; succeeds if it is already gone. */
    void deleteDevice(Node node, String volume);
}
