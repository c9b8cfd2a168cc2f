package io.dlsm.blockd.dm;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** This node's kernel paths: builds the state machine for a record and recovers them all at start. */
public final class KernelPaths {
    private static final Logger log = LoggerFactory.getLogger(KernelPaths.class);

    private final DeviceMapper dm;
    private final NbdDevices nbd;
    private final LoopDevices loops;
    private final KernelPathStore store;

    public KernelPaths(DeviceMapper dm, NbdDevices nbd, LoopDevices loops, KernelPathStore store) {
        this.dm = dm;
        this.nbd = nbd;
        this.loops = loops;
        this.store = store;
    }

    public KernelPath open(KernelPathRecord rec) {
        if (rec.nbdSource() == null) {
            // A volume that already lives here: no nbd hop, linear over its file from the start.
            return new LocalVolumePath(rec, dm, nbd, loops, store);
        }
        return switch (rec.mode()) {
            case LINEAR_OVER_NBD -> new LinearOverNbdPath(rec, dm, nbd, loops, store);
            case DM_CLONE -> new DmClonePath(rec, dm, nbd, loops, store);
            case USER_SPACE_ONLY -> throw new IllegalArgumentException("USER_SPACE_ONLY has no kernel device");
        };
    }

    /**
     * At start, before anything new is set up: every state file left by an interrupted
     * transition is finished or undone. Devices without a state file are not ours and are
     * never touched. Returns the paths that remain (stable ones).
     */
    public List<KernelPath> recoverAll() throws IOException {
        List<KernelPath> kept = new ArrayList<>();
        for (KernelPathRecord rec : store.all()) {
            KernelPath p = open(rec);
            try {
                p.recover();
            } catch (IOException | RuntimeException e) {
                // One broken device must not keep blockd from serving the others.
                log.error("kernel path for {}: recovery failed: {}", rec.volume(), e.getMessage());
            }
            if (p.state() != KernelPathState.REMOVED) {
                kept.add(p);
            }
        }
        return kept;
    }
}
