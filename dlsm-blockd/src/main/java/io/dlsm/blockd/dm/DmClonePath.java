package io.dlsm.blockd.dm;

import java.io.IOException;

/**
 * The dm-clone mode: linear over /dev/nbdN attached to the source node's migration export
 * (PROXY), then on activation a clone table (metadata, local destination, nbd source) with
 * the kernel hydrating, and once every region is local, linear over the destination. blockd
 * only sets tables and watches progress; the data never passes through user space.
 */
public final class DmClonePath extends KernelPath {

    public DmClonePath(KernelPathRecord rec, DeviceMapper dm, NbdDevices nbd, LoopDevices loops,
                       KernelPathStore store) {
        super(rec, dm, nbd, loops, store);
        if (rec.mode() != KernelPathMode.DM_CLONE) {
            throw new IllegalArgumentException("not a dm-clone record: " + rec.mode());
        }
    }

    /**
     * @param source the source node's migration export ({@code VOL@token}): the connection the
     *               fenced source still accepts writes from, as it does from a user-space sink
     * @param metadata zeroed at first use: dm-clone formats an all-zero metadata device
     */
    public static KernelPathRecord plan(String volume, long sizeBytes, String nbdDevice,
                                        KernelPathRecord.NbdSource source, KernelPathRecord.Backing local,
                                        KernelPathRecord.Backing metadata, long regionSectors,
                                        long bandwidthBytesPerSecond) {
        Tables.sectors(sizeBytes);
        CloneTuning.forBandwidth(bandwidthBytesPerSecond, regionSectors);
        return new KernelPathRecord(volume, KernelPathMode.DM_CLONE, KernelPathState.PLANNED, null, sizeBytes,
                nbdDevice, source, local, metadata, regionSectors, bandwidthBytesPerSecond);
    }

    public String cloneTable() {
        return Tables.clone(rec.sizeBytes(), rec.metadata().device(), rec.local().device(), rec.nbdDevice(),
                rec.regionSectors(), CloneTuning.forBandwidth(rec.bandwidthBytesPerSecond(), rec.regionSectors()));
    }

    /**
     * t1, PROXY → HYDRATING: the source is fenced, so from now on writes land locally and
     * reads of regions not yet copied go to the source. Hydration is enabled only once the
     * clone table is live.
     */
    public void activate() throws IOException {
        begin(KernelPathState.HYDRATING);
        toHydrating();
        arrive();
    }

    private void toHydrating() throws IOException {
        attachLoop(rec.metadata());
        attachLoop(rec.local());
        swapTable(cloneTable());
        dm.message(rec.dmName(), "enable_hydration");
    }

    /** Changes the copy rate while it runs; recorded first so a restart keeps it. */
    public void setBandwidth(long bytesPerSecond) throws IOException {
        rec = rec.withBandwidth(bytesPerSecond);
        store.save(rec);
        if (rec.state() == KernelPathState.HYDRATING) {
            for (String m : CloneTuning.forBandwidth(bytesPerSecond, rec.regionSectors()).messages()) {
                dm.message(rec.dmName(), m);
            }
        }
    }

    /**
     * One look at the copy; when every region is local, swaps to linear(local). The caller
     * polls this periodically while HYDRATING.
     */
    public CloneStatus poll() throws IOException {
        if (rec.state() != KernelPathState.HYDRATING) {
            throw new IllegalStateException("kernel path for " + rec.volume() + " is " + rec.state()
                    + ", not HYDRATING");
        }
        CloneStatus s = CloneStatus.parse(dm.status(rec.dmName()));
        if (s.failed()) {
            throw new IOException("dm-clone for " + rec.volume() + " reports metadata mode " + s.metadataMode()
                    + ": hydration stopped; the device keeps serving, do not swap");
        }
        if (s.fullyHydrated()) {
            finish();
        }
        return s;
    }

    /** HYDRATING → LOCAL: linear over the destination; the source and metadata are let go. */
    void finish() throws IOException {
        begin(KernelPathState.LOCAL);
        toLocal();
        arrive();
    }

    private void toLocal() throws IOException {
        swapTable(Tables.linear(rec.sizeBytes(), rec.local().device()));
        nbd.disconnect(rec.nbdDevice());
        detachLoop(rec.metadata());
    }

    @Override
    protected void rollForward(KernelPathState target) throws IOException {
        if (target == KernelPathState.HYDRATING) {
            toHydrating();
        } else {
            // Only ever pending after the status showed every region hydrated.
            toLocal();
        }
        arrive();
    }
}
