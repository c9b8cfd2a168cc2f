package io.dlsm.blockd.dm;

import io.dlsm.blockd.sink.SinkState;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The mode that needs only dm-mod + nbd: /dev/mapper/dlsm-VOL is linear over a local
 * /dev/nbdN attached to blockd's own sink export (the user-space engine fetches and copies);
 * once the sink holds every region the table is swapped to linear over a loop device on the
 * volume file, and the nbd hop leaves the I/O path.
 */
public final class LinearOverNbdPath extends KernelPath {

    public LinearOverNbdPath(KernelPathRecord rec, DeviceMapper dm, NbdDevices nbd, LoopDevices loops,
                             KernelPathStore store) {
        super(rec, dm, nbd, loops, store);
        if (rec.mode() != KernelPathMode.LINEAR_OVER_NBD) {
            throw new IllegalArgumentException("not a linear-over-nbd record: " + rec.mode());
        }
    }

    /**
     * @param blockdNbd blockd's own NBD listener (the sink is exported under the volume name)
     * @param volumeFile the file the sink's data ends up in (the volume's data file after commit)
     */
    public static KernelPathRecord plan(String volume, long sizeBytes, String nbdDevice, String blockdHost,
                                        int blockdPort, Path volumeFile, String loopDevice) {
        Tables.sectors(sizeBytes);
        return new KernelPathRecord(volume, KernelPathMode.LINEAR_OVER_NBD, KernelPathState.PLANNED, null,
                sizeBytes, nbdDevice, new KernelPathRecord.NbdSource(blockdHost, blockdPort, volume),
                KernelPathRecord.Backing.file(volumeFile, loopDevice), null, 0, 0);
    }

    /** The local copy is complete from HYDRATED on; COMMITTED only moved the file. */
    public static boolean readyForCutOver(SinkState sink) {
        return sink == SinkState.HYDRATED || sink == SinkState.COMMITTED;
    }

    /**
     * PROXY → LOCAL: attach the volume file to its loop device, swap the table to linear over
     * it, disconnect nbd. Suspending first drains the requests still in flight through nbd
     * into the sink's file, so the loop device reads what the sink wrote.
     */
    public void cutOver() throws IOException {
        begin(KernelPathState.LOCAL);
        toLocal();
        arrive();
    }

    private void toLocal() throws IOException {
        attachLoop(rec.local());
        swapTable(Tables.linear(rec.sizeBytes(), rec.local().device()));
        nbd.disconnect(rec.nbdDevice());
    }

    @Override
    protected void rollForward(KernelPathState target) throws IOException {
        toLocal();
        arrive();
    }
}
