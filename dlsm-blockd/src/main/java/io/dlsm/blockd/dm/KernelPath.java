package io.dlsm.blockd.dm;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One volume's /dev/mapper/dlsm-VOL through its life: a state machine over
 * {@link KernelPathState} that drives {@link DeviceMapper}, {@link NbdDevices} and
 * {@link LoopDevices}. Every transition records its target ({@code pending}) before touching
 * the kernel and its arrival after, which is what makes {@link #recover} possible.
 * Not thread-safe: one owner drives one volume.
 */
public abstract class KernelPath {
    private static final Logger log = LoggerFactory.getLogger(KernelPath.class);

    protected final DeviceMapper dm;
    protected final NbdDevices nbd;
    protected final LoopDevices loops;
    protected final KernelPathStore store;
    protected KernelPathRecord rec;

    protected KernelPath(KernelPathRecord rec, DeviceMapper dm, NbdDevices nbd, LoopDevices loops,
                         KernelPathStore store) {
        this.rec = rec;
        this.dm = dm;
        this.nbd = nbd;
        this.loops = loops;
        this.store = store;
    }

    public KernelPathRecord record() {
        return rec;
    }

    public KernelPathState state() {
        return rec.state();
    }

    /**
     * PLANNED → NBD_CONNECTED → PROXY: attach /dev/nbdN to the export and create the linear
     * proxy over it. When this returns, {@link KernelPathRecord#devicePath()} is usable (what
     * Cinder's initialize_connection hands Nova). On failure everything is torn down again.
     */
    public void setUp() throws IOException {
        if (rec.state() == KernelPathState.PLANNED && rec.pending() == null) {
            store.save(rec);
        }
        try {
            begin(KernelPathState.NBD_CONNECTED);
            nbd.connect(rec.nbdDevice(), rec.nbdSource().host(), rec.nbdSource().port(), rec.nbdSource().export());
            arrive();
            begin(KernelPathState.PROXY);
            dm.create(rec.dmName(), Tables.linear(rec.sizeBytes(), rec.nbdDevice()));
            arrive();
        } catch (IOException | RuntimeException e) {
            log.error("kernel path for {}: setup failed, tearing down: {}", rec.volume(), e.getMessage());
            remove();
            throw e;
        }
    }

    /**
     * Tears everything down, from any state; every step tolerates "already gone", so this is
     * also the clean-up of a setup that crashed halfway.
     */
    public void remove() throws IOException {
        if (rec.state() != KernelPathState.REMOVED) {
            rec = rec.pending(KernelPathState.REMOVED);
            store.save(rec);
        }
        dm.remove(rec.dmName());
        if (rec.nbdDevice() != null) {
            // A local volume's device (LocalVolumePath) never had an nbd hop.
            nbd.disconnect(rec.nbdDevice());
        }
        detachLoop(rec.local());
        detachLoop(rec.metadata());
        rec = rec.reached();
        store.delete(rec.volume());
    }

    /**
     * After a restart: finishes or undoes the transition a crash cut short. A setup that never
     * completed is torn down (the device was never handed out); a cut-over or activation is
     * rolled forward (the device is in use and may be left suspended, which would hang its
     * VM); a stable state is kept as it is.
     */
    public void recover() throws IOException {
        KernelPathState p = rec.pending();
        if (p == null && rec.state() == KernelPathState.PLANNED) {
            // Recorded, then the crash came before the first step was even marked pending.
            remove();
            return;
        }
        if (p == null) {
            log.info("kernel path for {}: keeping {} ({})", rec.volume(), rec.state(), rec.devicePath());
            return;
        }
        log.warn("kernel path for {}: {} → {} was interrupted; recovering", rec.volume(), rec.state(), p);
        // A fence or unfence cut short: the device may be left suspended; finish it either way.
        if (p == KernelPathState.FENCED) {
            fence();
            return;
        }
        if (p == KernelPathState.LOCAL && rec.state() == KernelPathState.FENCED) {
            unfence();
            return;
        }
        switch (p) {
            case PLANNED, NBD_CONNECTED, PROXY, REMOVED -> remove();
            case HYDRATING, LOCAL -> rollForward(p);
            case FENCED -> throw new IllegalStateException("handled above");
        }
    }

    /**
     * LOCAL → FENCED: suspend (in-flight writes drain into the file), load {@code error},
     * resume. From here every read and write of the device fails with EIO. Already FENCED: no-op.
     */
    public void fence() throws IOException {
        if (rec.state() == KernelPathState.FENCED && rec.pending() == null) {
            return;
        }
        begin(KernelPathState.FENCED);
        swapTable(Tables.error(rec.sizeBytes()));
        arrive();
    }

    /** FENCED → LOCAL: linear over the local device again. Already LOCAL: no-op. */
    public void unfence() throws IOException {
        if (rec.state() == KernelPathState.LOCAL && rec.pending() == null) {
            return;
        }
        if (rec.state() != KernelPathState.FENCED) {
            throw new IllegalStateException("kernel path for " + rec.volume() + " is " + rec.state()
                    + ", not FENCED");
        }
        // The loop device stayed attached while fenced: only the table changes.
        begin(KernelPathState.LOCAL);
        swapTable(Tables.linear(rec.sizeBytes(), rec.local().device()));
        arrive();
    }

    /**
     * The local file was renamed under its loop device (a committed sink's file moving into the
     * volume store): the device is unchanged, the record follows so a restart finds it.
     */
    public void relocateLocal(Path file) throws IOException {
        KernelPathRecord.Backing b = rec.local();
        if (b == null || b.loopDevice() == null) {
            throw new IllegalStateException("kernel path for " + rec.volume() + " has no local file to relocate");
        }
        rec = rec.withLocal(KernelPathRecord.Backing.file(file, b.loopDevice()));
        store.save(rec);
        log.info("kernel path for {}: local file is now {}", rec.volume(), file);
    }

    /** Re-runs the interrupted transition to {@code target}; its steps must be idempotent. */
    protected abstract void rollForward(KernelPathState target) throws IOException;

    /** Replaces the live table: suspend (drains in-flight I/O to the old table), load, resume. */
    protected void swapTable(String table) throws IOException {
        dm.suspend(rec.dmName());
        dm.load(rec.dmName(), table);
        dm.resume(rec.dmName());
    }

    /** Attaches a file backing to its loop device unless it already is (roll-forward). */
    protected void attachLoop(KernelPathRecord.Backing b) throws IOException {
        if (b == null || b.loopDevice() == null) {
            return;
        }
        Optional<Path> current = loops.backingFile(b.loopDevice());
        if (current.isPresent() && current.get().equals(Path.of(b.path()))) {
            return;
        }
        loops.attach(b.loopDevice(), Path.of(b.path()));
    }

    protected void detachLoop(KernelPathRecord.Backing b) throws IOException {
        if (b != null && b.loopDevice() != null) {
            loops.detach(b.loopDevice());
        }
    }

    protected void begin(KernelPathState target) throws IOException {
        if (rec.pending() != target && !rec.state().canMoveTo(target, rec.mode())) {
            throw new IllegalStateException("kernel path for " + rec.volume() + " (" + rec.mode() + ") is "
                    + rec.state() + " and cannot move to " + target);
        }
        rec = rec.pending(target);
        store.save(rec);
    }

    protected void arrive() throws IOException {
        rec = rec.reached();
        store.save(rec);
        log.info("kernel path for {}: {}", rec.volume(), rec.state());
    }
}
