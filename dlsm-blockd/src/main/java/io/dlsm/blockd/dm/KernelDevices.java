package io.dlsm.blockd.dm;

import io.dlsm.blockd.sink.SinkState;
import io.dlsm.blockd.volume.DirectWriter;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drives every volume's /dev/mapper/dlsm-VOL on this node from the API and the sink
 * lifecycle: creates the device on request, moves it along its state machine when the sink
 * changes phase ({@link #reconcile}, called on every sink transition and by a periodic poll,
 * which also watches dm-clone's progress) and tears it down on request or abort.
 *
 * <p>Which path a device gets:
 * <ul>
 * <li>a volume that lives here: {@link LocalVolumePath}, linear over a loop device on its file;
 * <li>a sink in {@link KernelPathMode#LINEAR_OVER_NBD}: linear over a local /dev/nbdN attached to
 *     blockd's own export of the sink, cut over to the loop device once the sink is committed;
 * <li>a sink in {@link KernelPathMode#DM_CLONE}: linear over /dev/nbdN attached to the source's
 *     export while PROXY, the clone table from activation on with the sink's own data file as the
 *     destination (the sink's copier stands aside), linear over that file at the end, when the
 *     sink is told it is hydrated and commits the file as the volume.
 * </ul>
 * All methods hold one lock: transitions of one device must not interleave, and they are rare
 * and short (a suspend waits at most for in-flight I/O to drain).
 */
public final class KernelDevices {
    private static final Logger log = LoggerFactory.getLogger(KernelDevices.class);
    /** dm-clone metadata: a fixed header plus two bits per region is far below this per GiB. */
    private static final long META_BASE_BYTES = 4L << 20;

    /** A volume that lives on this node. */
    public record LocalVolume(long sizeBytes, Path file, boolean fenced) {
    }

    /** What the kernel path needs to know of a sink. */
    public record SinkView(long sizeBytes, SinkState state, KernelPathRecord.NbdSource source, int regionSize,
                           long bandwidthBytesPerSecond) {
    }

    /** This node's volumes, sinks and free devices, as the daemon sees them (a map in tests). */
    public interface Inventory {
        Optional<LocalVolume> volume(String name);

        Optional<SinkView> sink(String name);

        /** Where a volume's data file is (or will be, once its sink commits). */
        Path volumeFile(String name);

        List<String> freeNbdDevices();

        List<String> freeLoopDevices();

        /**
         * A device now writes the volume's file directly (linear over a loop device on it): the
         * volume store must count it as a writer and fence it with the volume.
         */
        void attachDirectWriter(String volume, DirectWriter writer) throws IOException;

        void detachDirectWriter(String volume, DirectWriter writer);

        /**
         * A dm-clone device will copy the sink's data file itself: the sink's own copier and
         * export stand aside. Returns the file (dm-clone's destination).
         */
        Path handOverToKernel(String sink);

        /** dm-clone copied {@code hydrated} of the sink's regions so far (its progress). */
        void kernelProgress(String sink, long hydrated);

        /** dm-clone copied every region and the device no longer reads the source. */
        void kernelHydrated(String sink);
    }

    /** What {@code POST .../device} answers. */
    public record Device(String volume, String devicePath, KernelPathMode mode, KernelPathState state) {
        static Device of(KernelPath p) {
            KernelPathRecord r = p.record();
            return new Device(r.volume(), r.devicePath(), r.mode(), r.state());
        }
    }

    private final KernelPaths paths;
    private final KernelPathMode mode;
    private final Inventory inventory;
    private final String blockdNbdHost;
    private final int blockdNbdPort;
    private final Path kernelDir;
    private final Map<String, KernelPath> live = new TreeMap<>();
    /** The devices that write their volume's own file, as the volume store knows them. */
    private final Map<String, DeviceWriter> writers = new TreeMap<>();

    /**
     * @param kept the paths {@link KernelPaths#recoverAll()} kept, so devices survive a restart
     * @param blockdNbdHost where the kernel reaches this blockd's own NBD export (linear-over-nbd)
     * @param kernelDir where dm-clone's local copy and metadata files go
     */
    public KernelDevices(KernelPaths paths, List<KernelPath> kept, KernelPathMode mode, Inventory inventory,
                         String blockdNbdHost, int blockdNbdPort, Path kernelDir) {
        if (mode == KernelPathMode.USER_SPACE_ONLY) {
            throw new IllegalArgumentException("USER_SPACE_ONLY has no kernel devices");
        }
        this.paths = paths;
        this.mode = mode;
        this.inventory = inventory;
        this.blockdNbdHost = blockdNbdHost;
        this.blockdNbdPort = blockdNbdPort;
        this.kernelDir = kernelDir;
        for (KernelPath p : kept) {
            live.put(p.record().volume(), p);
        }
        for (KernelPath p : kept) {
            try {
                attachWriterIfDirect(p);
            } catch (IOException | RuntimeException e) {
                // The device keeps serving; the volume store just does not know it writes.
                log.error("kernel device for {}: could not register it as a writer of the volume: {}",
                        p.record().volume(), e.toString());
            }
        }
    }

    /**
     * /dev/mapper/dlsm-VOL as a writer of the volume's file. Fencing it swaps in the error
     * table: a VM still on this node gets EIO rather than writing behind the migration's back.
     */
    private final class DeviceWriter implements DirectWriter {
        private final String volume;

        DeviceWriter(String volume) {
            this.volume = volume;
        }

        @Override
        public void fence() throws IOException {
            synchronized (KernelDevices.this) {
                KernelPath p = live.get(volume);
                if (p != null) {
                    p.fence();
                }
            }
        }

        @Override
        public void unfence() throws IOException {
            synchronized (KernelDevices.this) {
                KernelPath p = live.get(volume);
                if (p != null) {
                    p.unfence();
                }
            }
        }

        @Override
        public String describe() {
            return "kernel device " + KernelPathRecord.devicePathOf(volume);
        }
    }

    /** Registers a LOCAL (or FENCED) device over the volume's own file with the volume store. */
    private void attachWriterIfDirect(KernelPath p) throws IOException {
        KernelPathRecord r = p.record();
        boolean onVolumeFile = r.local() != null && r.local().path() != null
                && Path.of(r.local().path()).equals(inventory.volumeFile(r.volume()));
        boolean direct = p.state() == KernelPathState.LOCAL || p.state() == KernelPathState.FENCED;
        if (!onVolumeFile || !direct || writers.containsKey(r.volume()) || inventory.volume(r.volume()).isEmpty()) {
            return;
        }
        DeviceWriter w = new DeviceWriter(r.volume());
        inventory.attachDirectWriter(r.volume(), w);
        writers.put(r.volume(), w);
    }

    private void detachWriter(String volume) {
        DeviceWriter w = writers.remove(volume);
        if (w != null) {
            inventory.detachDirectWriter(volume, w);
        }
    }

    public KernelPathMode mode() {
        return mode;
    }

    public synchronized Optional<Device> get(String volume) {
        return Optional.ofNullable(live.get(volume)).map(Device::of);
    }

    /**
     * Creates the device and returns once it exists (what Cinder's initialize_connection hands
     * Nova). Idempotent: an existing device is answered as it is.
     */
    public synchronized Device create(String volume) {
        KernelPath existing = live.get(volume);
        if (existing != null) {
            return Device.of(existing);
        }
        Optional<SinkView> sink = inventory.sink(volume).filter(s -> s.state() != SinkState.COMMITTED);
        Optional<LocalVolume> local = inventory.volume(volume);
        KernelPathRecord rec;
        if (sink.isPresent()) {
            rec = planForSink(volume, sink.get());
        } else if (local.isPresent()) {
            if (local.get().fenced()) {
                throw new KernelDeviceException(KernelDeviceException.Kind.CONFLICT, volume, "volume '" + volume
                        + "' is fenced (it is migrating away from this node): attach it on the migration's "
                        + "destination, or unfence it (abort the migration) first");
            }
            rec = LocalVolumePath.plan(volume, local.get().sizeBytes(), local.get().file(), freeLoop(volume, Set.of()));
        } else {
            throw new KernelDeviceException(KernelDeviceException.Kind.NOT_FOUND, volume,
                    "no volume or sink named '" + volume + "' on this node: create the sink (migration) or the "
                            + "volume here first");
        }
        KernelPath p = paths.open(rec);
        try {
            p.setUp();
        } catch (IOException | RuntimeException e) {
            throw new KernelDeviceException(KernelDeviceException.Kind.FAILED, volume, "could not create "
                    + rec.devicePath() + " for '" + volume + "' (" + describe(rec) + "): " + e.getMessage()
                    + "; everything started was torn down, see blockd's log for the failing command", e);
        }
        live.put(volume, p);
        log.info("kernel device {} for {} is {} ({})", rec.devicePath(), volume, p.state(), describe(rec));
        try {
            attachWriterIfDirect(p);
        } catch (IOException | RuntimeException e) {
            delete(volume);
            throw new KernelDeviceException(KernelDeviceException.Kind.FAILED, volume, "could not register "
                    + rec.devicePath() + " as a writer of volume '" + volume + "': " + e.getMessage()
                    + "; the device was torn down again", e);
        }
        // The sink may already be past the phase the device starts in (e.g. created after activation).
        reconcile(volume);
        return Device.of(live.getOrDefault(volume, p));
    }

    /** Tears the device down; {@code false} when there was none (idempotent). */
    public synchronized boolean delete(String volume) {
        KernelPath p = live.remove(volume);
        if (p == null) {
            return false;
        }
        try {
            p.remove();
        } catch (IOException | RuntimeException e) {
            live.put(volume, p);
            throw new KernelDeviceException(KernelDeviceException.Kind.FAILED, volume, "could not remove "
                    + p.record().devicePath() + " for '" + volume + "': " + e.getMessage()
                    + "; is it still open (e.g. attached to a VM)? detach it and retry the DELETE", e);
        }
        deleteCloneFiles(volume);
        // Last: a prepared migration whose source VM was the device's only writer fences now.
        detachWriter(volume);
        return true;
    }

    /**
     * Moves {@code volume}'s device along with its sink: activation loads dm-clone's table,
     * a committed sink gets the linear-over-nbd cut-over, an aborted one loses its device,
     * and a hydrating clone is polled. Called on every sink transition and periodically;
     * does nothing when nothing is due, so repeated calls are harmless.
     */
    public synchronized void reconcile(String volume) {
        KernelPath p = live.get(volume);
        if (p == null || p instanceof LocalVolumePath) {
            return;
        }
        SinkPhase phase = phaseOf(volume);
        try {
            switch (p.state()) {
                case PROXY -> {
                    if (phase == SinkPhase.GONE) {
                        // The migration was aborted (or the sink deleted): the export the
                        // device reads from is withdrawn, nothing could be served through it.
                        log.warn("kernel device for {}: the sink is gone, removing the device", volume);
                        delete(volume);
                    } else if (p instanceof LinearOverNbdPath linear && phase == SinkPhase.COMMITTED) {
                        // readyForCutOver is already true at HYDRATED, but the loop device goes
                        // on the volume file, which exists only once the sink has committed.
                        linear.cutOver();
                        attachWriterIfDirect(linear);
                    } else if (p instanceof DmClonePath clone && phase.activated()) {
                        clone.activate();
                    }
                }
                case HYDRATING -> {
                    DmClonePath clone = (DmClonePath) p;
                    SinkView view = inventory.sink(volume).orElse(null);
                    if (view != null && view.bandwidthBytesPerSecond() != clone.record().bandwidthBytesPerSecond()) {
                        clone.setBandwidth(view.bandwidthBytesPerSecond());
                    }
                    CloneStatus status = clone.poll();
                    inventory.kernelProgress(volume, status.hydratedRegions());
                    if (clone.state() == KernelPathState.LOCAL) {
                        inventory.kernelHydrated(volume);
                    }
                }
                case LOCAL -> {
                    if (p instanceof DmClonePath clone) {
                        followCommittedClone(volume, clone, phase);
                    }
                }
                default -> {
                }
            }
        } catch (IOException | RuntimeException e) {
            // The next poll retries; the device keeps serving in its current table meanwhile.
            log.error("kernel device for {}: {} step failed (sink {}), will retry: {}", volume, p.state(), phase,
                    e.getMessage());
        }
    }

    /**
     * A dm-clone device over the sink's own data file after the swap to linear: the sink must
     * learn it is hydrated (retried here if the first report failed), and once it committed,
     * the file lives in the volume store and the device is the volume's writer.
     */
    private void followCommittedClone(String volume, DmClonePath clone, SinkPhase phase) throws IOException {
        Path volumeFile = inventory.volumeFile(volume);
        if (Path.of(clone.record().local().path()).equals(volumeFile)) {
            return;
        }
        if (phase == SinkPhase.ACTIVATED) {
            inventory.kernelHydrated(volume);
        } else if (phase == SinkPhase.COMMITTED) {
            clone.relocateLocal(volumeFile);
            attachWriterIfDirect(clone);
        }
    }

    /** The periodic poll: every device is reconciled (dm-clone progress, missed transitions). */
    public void reconcileAll() {
        List<String> names;
        synchronized (this) {
            names = new ArrayList<>(live.keySet());
        }
        for (String n : names) {
            reconcile(n);
        }
    }

    /** The sink's phase as far as the device cares. */
    enum SinkPhase {
        PROXY, ACTIVATED, COMMITTED, GONE;

        boolean activated() {
            return this == ACTIVATED || this == COMMITTED;
        }
    }

    private SinkPhase phaseOf(String volume) {
        Optional<SinkView> s = inventory.sink(volume);
        if (s.isEmpty()) {
            // After a restart a committed sink is just a volume.
            return inventory.volume(volume).isPresent() ? SinkPhase.COMMITTED : SinkPhase.GONE;
        }
        return switch (s.get().state()) {
            case PROXY -> SinkPhase.PROXY;
            case ACTIVE, DEGRADED, HYDRATED -> SinkPhase.ACTIVATED;
            case COMMITTED -> SinkPhase.COMMITTED;
            case ABORTING, ABORTED -> SinkPhase.GONE;
        };
    }

    private KernelPathRecord planForSink(String volume, SinkView s) {
        // Loop devices picked for this record, not yet in any live record.
        Set<String> taken = new HashSet<>();
        String nbdDevice = freeNbd(volume);
        return switch (mode) {
            case LINEAR_OVER_NBD -> LinearOverNbdPath.plan(volume, s.sizeBytes(), nbdDevice, blockdNbdHost,
                    blockdNbdPort, inventory.volumeFile(volume), freeLoop(volume, taken));
            case DM_CLONE -> {
                if (s.state() != SinkState.PROXY) {
                    throw new KernelDeviceException(KernelDeviceException.Kind.CONFLICT, volume, "sink '" + volume
                            + "' is " + s.state() + ": a dm-clone device must be created while the sink is PROXY "
                            + "(before activation), or after the sink committed");
                }
                String localLoop = freeLoop(volume, taken);
                taken.add(localLoop);
                String metaLoop = freeLoop(volume, taken);
                Path metaFile = kernelDir.resolve(volume + ".clone.meta");
                long regions = (s.sizeBytes() + s.regionSize() - 1) / s.regionSize();
                createMetadataFile(volume, metaFile, META_BASE_BYTES + regions / 2);
                // dm-clone's destination is the sink's own data file: what the kernel copies and
                // what the VM writes is what becomes the volume at commit. Handed over last, so
                // a refusal above leaves the sink as it was.
                Path localFile = inventory.handOverToKernel(volume);
                yield DmClonePath.plan(volume, s.sizeBytes(), nbdDevice, s.source(),
                        KernelPathRecord.Backing.file(localFile, localLoop),
                        KernelPathRecord.Backing.file(metaFile, metaLoop), s.regionSize() / Tables.SECTOR,
                        s.bandwidthBytesPerSecond());
            }
            case USER_SPACE_ONLY -> throw new IllegalStateException("unreachable");
        };
    }

    private void createMetadataFile(String volume, Path meta, long metaSize) {
        try {
            Files.createDirectories(kernelDir);
            // Sparse and all zero: dm-clone formats an unformatted metadata device.
            Files.deleteIfExists(meta);
            try (RandomAccessFile raf = new RandomAccessFile(meta.toFile(), "rw")) {
                raf.setLength((metaSize + 4095) / 4096 * 4096);
            }
        } catch (IOException e) {
            throw new KernelDeviceException(KernelDeviceException.Kind.FAILED, volume, "could not create dm-clone's "
                    + "metadata file " + meta + " for '" + volume + "': " + e.getMessage(), e);
        }
    }

    private void deleteCloneFiles(String volume) {
        try {
            Files.deleteIfExists(kernelDir.resolve(volume + ".clone.meta"));
        } catch (IOException e) {
            log.warn("kernel device for {}: could not delete dm-clone's metadata file: {}", volume, e.toString());
        }
    }

    private String freeNbd(String volume) {
        Set<String> used = new HashSet<>();
        live.values().forEach(p -> used.add(p.record().nbdDevice()));
        return inventory.freeNbdDevices().stream().filter(d -> !used.contains(d)).findFirst()
                .orElseThrow(() -> new KernelDeviceException(KernelDeviceException.Kind.CONFLICT, volume,
                        "no free nbd device on this node for '" + volume + "' (" + used.size() + " in use by "
                                + "kernel paths): load nbd with more devices (modprobe nbd nbds_max=N) or remove "
                                + "unused devices"));
    }

    private String freeLoop(String volume, Set<String> alsoTaken) {
        Set<String> used = new HashSet<>(alsoTaken);
        for (KernelPath p : live.values()) {
            for (KernelPathRecord.Backing b : new KernelPathRecord.Backing[] {p.record().local(),
                    p.record().metadata()}) {
                if (b != null && b.loopDevice() != null) {
                    used.add(b.loopDevice());
                }
            }
        }
        return inventory.freeLoopDevices().stream().filter(d -> !used.contains(d)).findFirst()
                .orElseThrow(() -> new KernelDeviceException(KernelDeviceException.Kind.CONFLICT, volume,
                        "no free loop device on this node for '" + volume + "': load loop with more devices "
                                + "(modprobe loop max_loop=N) or create them (mknod /dev/loopN b 7 N)"));
    }

    private static String describe(KernelPathRecord r) {
        if (r.nbdSource() == null) {
            return "linear over " + r.local().device() + " on " + r.local().path();
        }
        return r.mode() + ", " + r.nbdDevice() + " → nbd://" + r.nbdSource().host() + ":" + r.nbdSource().port()
                + "/" + r.nbdSource().export();
    }
}
