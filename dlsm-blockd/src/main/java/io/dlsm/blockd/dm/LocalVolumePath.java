package io.dlsm.blockd.dm;

import java.io.IOException;
import java.nio.file.Path;

/**
 * /dev/mapper/dlsm-VOL for a volume that already lives on this node: linear over a loop
 * device on the volume file from the start. There is nothing to fetch, so the path goes
 * PLANNED → LOCAL directly, skipping the nbd states; the record has no nbd device or source.
 * Keeping the same dm name as a migrated volume means the hypervisor sees one naming scheme.
 */
public final class LocalVolumePath extends KernelPath {

    public LocalVolumePath(KernelPathRecord rec, DeviceMapper dm, NbdDevices nbd, LoopDevices loops,
                           KernelPathStore store) {
        super(rec, dm, nbd, loops, store);
        if (rec.nbdSource() != null || rec.nbdDevice() != null || rec.local() == null) {
            throw new IllegalArgumentException("not a local-volume record for " + rec.volume());
        }
    }

    public static KernelPathRecord plan(String volume, long sizeBytes, Path volumeFile, String loopDevice) {
        Tables.sectors(sizeBytes);
        return new KernelPathRecord(volume, KernelPathMode.LINEAR_OVER_NBD, KernelPathState.PLANNED, null,
                sizeBytes, null, null, KernelPathRecord.Backing.file(volumeFile, loopDevice), null, 0, 0);
    }

    /** PLANNED → LOCAL: attach the loop device, create linear over it. On failure, tears down. */
    @Override
    public void setUp() throws IOException {
        if (rec.state() != KernelPathState.PLANNED) {
            throw new IllegalStateException("kernel path for " + rec.volume() + " is " + rec.state()
                    + ", not PLANNED: remove it first");
        }
        // Not begin(): the shared state machine has no PLANNED → LOCAL edge, only this path does.
        rec = rec.pending(KernelPathState.LOCAL);
        store.save(rec);
        try {
            attachLoop(rec.local());
            dm.create(rec.dmName(), Tables.linear(rec.sizeBytes(), rec.local().device()));
            arrive();
        } catch (IOException | RuntimeException e) {
            remove();
            throw e;
        }
    }

    /** A setup cut short was never handed out: undo it rather than finish it. */
    @Override
    protected void rollForward(KernelPathState target) throws IOException {
        remove();
    }
}
