package io.dlsm.backend.migration;

import io.dlsm.backend.snapshot.VolumeSource;
import io.dlsm.backend.node.NodeRegistry;
import io.dlsm.backend.snapshot.SnapshotService;
import io.dlsm.backend.volume.Volume;
import io.dlsm.backend.volume.VolumeService;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Volumes made from a volume or a snapshot, on whichever node is asked for. The copy itself
 * can only be made where the source's data is (a sparse copy or reflink, no network); for
 * another node it is made there and then moved by a DLSM migration that switches at once, so
 * the new volume is usable on the requested node immediately while its data follows in the
 * background, each block crossing the network once. This is what Cinder needs: its scheduler
 * places a clone by capacity, not next to its source.
 */
public final class CrossNodeCopies {
    private static final Logger LOG = LoggerFactory.getLogger(CrossNodeCopies.class);

    private final VolumeService volumes;
    private final SnapshotService snapshots;
    private final MigrationService migrations;
    private final NodeRegistry nodes;

    public CrossNodeCopies(VolumeService volumes, SnapshotService snapshots, MigrationService migrations,
                           NodeRegistry nodes) {
        this.volumes = volumes;
        this.snapshots = snapshots;
        this.migrations = migrations;
        this.nodes = nodes;
    }

    public VolumeService.Created create(String name, Long sizeBytes, String nodeName, VolumeSource source) {
        SnapshotService.SourceInfo from = snapshots.sourceOf(source);
        if (nodeName == null || nodeName.equals(from.node())) {
            return snapshots.createVolume(name, sizeBytes, from.node(), source);
        }
        Optional<Volume> retried = volumes.find(name)
                .filter(v -> migrations.activeFor(name).map(Migration::targetNode).filter(nodeName::equals).isPresent());
        if (retried.isPresent()) {
            // Cinder retries a create whose answer it lost: the copy is already on its way there.
            return new VolumeService.Created(retried.get(), false);
        }
        // Refuse before copying anything when the copy could not be moved there.
        nodes.requireUp("node", nodeName);
        VolumeService.Created made = snapshots.createVolume(name, sizeBytes, from.node(), source);
        if (!made.created()) {
            return made;
        }
        try {
            Migration m = migrations.create(new MigrationRequest(name, nodeName, 0L, SwitchMode.AUTO)).migration();
            if (!m.phase().switched()) {
                // Nobody writes a volume made a moment ago: nothing to wait for.
                migrations.switchNow(m.id());
            }
        } catch (RuntimeException e) {
            LOG.warn("volume {}: made from {} on {} but not moved to {}; removing it: {}", name, from.description(),
                    from.node(), nodeName, e.toString());
            deleteQuietly(name, e);
            throw e;
        }
        LOG.info("volume {} made from {} on {} and moving to {}", name, from.description(), from.node(), nodeName);
        return new VolumeService.Created(volumes.get(name), true);
    }

    private void deleteQuietly(String name, RuntimeException cause) {
        try {
            migrations.activeFor(name).ifPresent(m -> migrations.abort(m.id()));
            volumes.delete(name);
        } catch (RuntimeException e) {
            cause.addSuppressed(e);
        }
    }
}
