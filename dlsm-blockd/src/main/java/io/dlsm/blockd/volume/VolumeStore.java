package io.dlsm.blockd.volume;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dlsm.blockd.nbd.server.Export;
import io.dlsm.blockd.nbd.server.ExportRegistry;
import io.dlsm.blockd.posix.LibC;
import io.dlsm.blockd.posix.SparseCopy;
import io.dlsm.blockd.state.AtomicFile;
import java.io.Closeable;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Volumes as sparse files under {@code <data-dir>/volumes}: {@code NAME.img} holds the data,
 * {@code NAME.json} the record. The record is written last on create and removed first on
 * delete, so a crash in between leaves only a data file nobody was told about, which the next
 * start removes.
 */
public final class VolumeStore implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(VolumeStore.class);
    /** Kernel nbd and most hypervisors want whole 512-byte sectors. */
    public static final long SIZE_ALIGNMENT = 512;
    public static final long MAX_SIZE = 1L << 50;

    private final Path dir;
    private final LibC libc;
    private final ExportRegistry exports;
    private final ObjectMapper json;
    private final Clock clock;
    private final Executor writeback;
    private final AutoFenceListener autoFenceListener;
    private final Map<String, Entry> volumes = new TreeMap<>();
    /** At most one per volume: a volume has one kernel device on its node. */
    private final Map<String, DirectWriter> directWriters = new TreeMap<>();
    private final java.security.SecureRandom random = new java.security.SecureRandom();

    private record Entry(VolumeRecord record, FileBlockDevice device, Export export, Export migration) {
        Entry with(VolumeRecord r) {
            return new Entry(r, device, export, migration);
        }
    }

    /** {@code writeback}: see {@link FileBlockDevice#open}. */
    public VolumeStore(Path dataDir, LibC libc, ExportRegistry exports, ObjectMapper json, Clock clock,
                       Executor writeback, AutoFenceListener autoFenceListener) {
        this.dir = dataDir.resolve("volumes");
        this.libc = libc;
        this.exports = exports;
        this.json = json;
        this.clock = clock;
        this.writeback = writeback;
        this.autoFenceListener = autoFenceListener;
    }

    /** Loads every volume recorded on disk and exports it. */
    public synchronized void open() throws IOException {
        Files.createDirectories(dir);
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.json")) {
            for (Path meta : ds) {
                VolumeRecord rec = json.readValue(meta.toFile(), VolumeRecord.class);
                Path img = dataFile(rec.name());
                if (!Files.exists(img)) {
                    log.error("volume {} is recorded in {} but its data file {} is missing; not exported",
                            rec.name(), meta, img);
                    continue;
                }
                FileBlockDevice dev = FileBlockDevice.open(libc, img, writeback);
                Export export = Export.of(rec.name(), dev, rec.readOnly());
                if (rec.fenced()) {
                    try {
                        export.gate().fenceAndDrain();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IOException("interrupted while loading " + rec.name(), e);
                    }
                }
                exports.register(export);
                Export migration = rec.migrationExport() == null ? null : registerMigrationExport(rec, export);
                if (migration != null) {
                    syncEagerlyWhilePrepared(rec, dev);
                }
                volumes.put(rec.name(), new Entry(rec, dev, export, migration));
            }
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.img")) {
            for (Path img : ds) {
                String name = img.getFileName().toString().replaceFirst("\\.img$", "");
                if (!volumes.containsKey(name) && !Files.exists(metaFile(name))) {
                    log.warn("removing {}: left by a create that did not complete", img);
                    Files.delete(img);
                }
            }
        }
        log.info("{} volumes loaded from {}", volumes.size(), dir);
    }

    public synchronized Volume create(String name, long sizeBytes, boolean readOnly) {
        return createFilled(name, sizeBytes, readOnly, img -> {
            try (RandomAccessFile raf = new RandomAccessFile(img.toFile(), "rw")) {
                raf.setLength(sizeBytes);
            }
        });
    }

    /** Writes the initial content of a new volume's data file, which does not exist yet. */
    @FunctionalInterface
    public interface ImageFiller {
        void fill(Path image) throws IOException;
    }

    /**
     * Creates a volume whose data file {@code filler} writes (a copy of a snapshot or of another
     * volume). The file is grown to {@code sizeBytes} if the filler left it shorter and synced
     * before the record is written, so a crash never leaves a recorded volume half filled.
     */
    public synchronized Volume createFilled(String name, long sizeBytes, boolean readOnly, ImageFiller filler) {
        VolumeName.require("name", name);
        requireSize("sizeBytes", sizeBytes);
        if (volumes.containsKey(name) || exports.lookup(name).isPresent()) {
            throw new VolumeException(VolumeException.Kind.ALREADY_EXISTS,
                    "volume '" + name + "' already exists on this node", Map.of("volume", name));
        }
        VolumeRecord rec = new VolumeRecord(name, sizeBytes, readOnly, clock.instant(), false, null);
        Path img = dataFile(name);
        try {
            filler.fill(img);
            try (RandomAccessFile raf = new RandomAccessFile(img.toFile(), "rw")) {
                if (raf.length() < sizeBytes) {
                    raf.setLength(sizeBytes);
                }
                raf.getFD().sync();
            }
            AtomicFile.write(metaFile(name), json.writeValueAsBytes(rec));
            FileBlockDevice dev = FileBlockDevice.open(libc, img, writeback);
            Export export = Export.of(name, dev, readOnly);
            exports.register(export);
            volumes.put(name, new Entry(rec, dev, export, null));
        } catch (IOException e) {
            deleteQuietly(metaFile(name));
            deleteQuietly(img);
            throw storageFailure("create volume '" + name + "'", e);
        }
        log.info("created volume {} ({} bytes)", name, sizeBytes);
        return view(volumes.get(name));
    }

    /**
     * A new volume with the content {@code source} has now, grown to {@code sizeBytes} (never
     * smaller than the source: that would cut off data).
     */
    public synchronized Volume createCopy(String name, long sizeBytes, String source) {
        Entry src = entry(source);
        long sourceSize = src.record().sizeBytes();
        if (sizeBytes < sourceSize) {
            throw VolumeException.invalid("sizeBytes", "sizeBytes " + sizeBytes + " is smaller than volume '"
                    + source + "' (" + sourceSize + " bytes); a clone can only be as large or larger");
        }
        return createFilled(name, sizeBytes, false, img -> withWritesPaused(source, (dev, file) -> {
            SparseCopy.Method m = SparseCopy.copy(libc, file, img, sourceSize);
            log.info("volume {} cloned from volume {} ({})", name, source, m);
            return m;
        }));
    }

    /** Reads a volume's data file while no write can change it. */
    @FunctionalInterface
    public interface ConsistentRead<T> {
        T read(FileBlockDevice device, Path dataFile) throws IOException;
    }

    /**
     * Runs {@code action} while writes to the volume are held back and every acknowledged write
     * is flushed: what it reads is one point in time, each write entirely in or entirely out.
     * The store's lock is held too, so the volume cannot be resized or deleted meanwhile.
     */
    public synchronized <T> T withWritesPaused(String name, ConsistentRead<T> action) throws IOException {
        Entry e = entry(name);
        try {
            e.export().gate().pauseAndDrain();
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for the writes to volume '" + name + "' to finish", ex);
        }
        try {
            e.device().flush();
            return action.read(e.device(), dataFile(name));
        } finally {
            e.export().gate().resume();
        }
    }

    /** Names of what depends on a volume and forbids deleting it (its snapshots). */
    @FunctionalInterface
    public interface Dependents {
        List<String> of(String volume);
    }

    private Dependents dependents = v -> List.of();

    /** Set once at start by the snapshot store; called under this store's lock. */
    public synchronized void dependents(Dependents d) {
        this.dependents = d;
    }

    public synchronized List<Volume> list() {
        List<Volume> out = new ArrayList<>();
        for (Entry e : volumes.values()) {
            out.add(view(e));
        }
        return out;
    }

    public synchronized Volume get(String name) {
        return view(entry(name));
    }

    /** Volumes only grow: shrinking would silently destroy the data past the new end. */
    public synchronized Volume resize(String name, long sizeBytes) {
        Entry e = entry(name);
        requireSize("sizeBytes", sizeBytes);
        if (sizeBytes < e.record().sizeBytes()) {
            throw new VolumeException(VolumeException.Kind.CONFLICT, "volume '" + name + "' is "
                    + e.record().sizeBytes() + " bytes; shrinking to " + sizeBytes
                    + " would destroy data and is not supported", Map.of("volume", name, "field", "sizeBytes"));
        }
        VolumeRecord rec = e.record().withSize(sizeBytes);
        try {
            e.device().resize(sizeBytes);
            AtomicFile.write(metaFile(name), json.writeValueAsBytes(rec));
        } catch (IOException ex) {
            throw storageFailure("resize volume '" + name + "'", ex);
        }
        volumes.put(name, e.with(rec));
        log.info("resized volume {} to {} bytes", name, sizeBytes);
        return view(volumes.get(name));
    }

    public synchronized Volume setReadOnly(String name, boolean readOnly) {
        Entry e = entry(name);
        VolumeRecord rec = e.record().withReadOnly(readOnly);
        try {
            AtomicFile.write(metaFile(name), json.writeValueAsBytes(rec));
        } catch (IOException ex) {
            throw storageFailure("change access of volume '" + name + "'", ex);
        }
        e.export().gate().setReadOnly(readOnly);
        if (!readOnly) {
            reopenReadOnlyClients(e.export(), name, "made writable");
        }
        volumes.put(name, e.with(rec));
        return view(volumes.get(name));
    }

    /** Refused while NBD clients are connected: deleting a disk in use loses a VM's data. */
    public synchronized void delete(String name) {
        Entry e = entry(name);
        List<String> snapshots = dependents.of(name);
        if (!snapshots.isEmpty()) {
            throw new VolumeException(VolumeException.Kind.CONFLICT, "volume '" + name + "' has snapshot(s) "
                    + String.join(", ", snapshots) + "; delete them first", Map.of("volume", name,
                    "snapshots", List.copyOf(snapshots)));
        }
        DirectWriter direct = directWriters.get(name);
        if (direct != null) {
            throw new VolumeException(VolumeException.Kind.CONFLICT, "volume '" + name + "' is in use by "
                    + direct.describe() + "; remove it (DELETE /v1/volumes/" + name + "/device, i.e. detach the "
                    + "volume) before deleting", Map.of("volume", name, "device", direct.describe()));
        }
        int clients = e.export().connectionCount();
        if (clients > 0) {
            throw new VolumeException(VolumeException.Kind.CONFLICT, "volume '" + name + "' has " + clients
                    + " NBD connection(s); disconnect them before deleting", Map.of("volume", name,
                    "connections", clients));
        }
        try {
            AtomicFile.delete(metaFile(name));
            if (e.migration() != null) {
                exports.withdraw(e.migration().name());
            }
            exports.withdraw(name);
            e.device().close();
            AtomicFile.delete(dataFile(name));
        } catch (IOException ex) {
            throw storageFailure("delete volume '" + name + "'", ex);
        }
        volumes.remove(name);
        log.info("deleted volume {}", name);
    }

    // ------------------------------------------------------------ migration source side

    /**
     * Refuses every writer but a migration sink from now on, waits for admitted writes and
     * makes them durable: from here the source's content only changes through the sink.
     * A direct writer (the kernel device of a VM on this node) is stopped first: the gate
     * cannot refuse it.
     */
    public Volume fence(String name) {
        // The direct writer is called without this store's lock: it takes the kernel devices'
        // lock, and they call into this store while holding it.
        DirectWriter direct;
        synchronized (this) {
            entry(name);
            direct = directWriters.get(name);
        }
        try {
            if (direct != null) {
                direct.fence();
                log.info("volume {}: {} fenced", name, direct.describe());
            }
        } catch (IOException ex) {
            throw storageFailure("fence " + direct.describe() + " of volume '" + name + "'", ex);
        }
        synchronized (this) {
            Entry e = entry(name);
            if (e.record().fenced() && e.export().gate().fenced()) {
                // Already durable: the orchestrator confirming a fence the volume did itself
                // must not pay a flush and a record write while the VM waits on the target.
                return view(e);
            }
            try {
                e.export().gate().fenceAndDrain();
                e.device().syncEagerly(false);
                e.device().flush();
                persist(e.with(e.record().withFenced(true)));
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                throw storageFailure("fence volume '" + name + "'", new IOException("interrupted", ex));
            } catch (IOException ex) {
                throw storageFailure("fence volume '" + name + "'", ex);
            }
            log.info("fenced volume {}", name);
            return view(volumes.get(name));
        }
    }

    public Volume unfence(String name) {
        DirectWriter direct;
        Volume v;
        synchronized (this) {
            Entry e = entry(name);
            e.export().gate().unfence();
            try {
                persist(e.with(e.record().withFenced(false)));
            } catch (IOException ex) {
                throw storageFailure("unfence volume '" + name + "'", ex);
            }
            if (e.migration() != null) {
                e.export().gate().fenceWhenWritersLeave(g -> autoFence(name));
                e.device().syncEagerly(true);
            }
            direct = directWriters.get(name);
            log.info("unfenced volume {}", name);
            reopenReadOnlyClients(e.export(), name, "unfenced");
            v = view(volumes.get(name));
        }
        if (direct != null) {
            try {
                direct.unfence();
            } catch (IOException ex) {
                throw storageFailure("unfence " + direct.describe() + " of volume '" + name + "'", ex);
            }
        }
        return v;
    }

    private static void reopenReadOnlyClients(Export export, String name, String why) {
        int n = export.reopenReadOnlyClients("volume " + name + " is writable again (" + why
                + "): reconnect to write");
        if (n > 0) {
            log.info("volume {} {}: {} client(s) told it was read-only disconnected to reconnect writable", name,
                    why, n);
        }
    }

    /**
     * Counts {@code writer} as a writer of the volume until {@link #detachDirectWriter}. On a
     * fenced volume it is fenced at once: a fenced volume has no writer but its sink.
     */
    public void attachDirectWriter(String name, DirectWriter writer) throws IOException {
        boolean fenced;
        synchronized (this) {
            Entry e = entry(name);
            DirectWriter existing = directWriters.get(name);
            if (existing != null && existing != writer) {
                throw new VolumeException(VolumeException.Kind.CONFLICT, "volume '" + name + "' already has "
                        + existing.describe(), Map.of("volume", name));
            }
            if (existing == writer) {
                return;
            }
            directWriters.put(name, writer);
            e.export().gate().writerAttached();
            fenced = e.export().gate().fenced();
        }
        if (fenced) {
            writer.fence();
        }
    }

    /** The direct writer is gone; like any last writer leaving, it may fire the automatic fence. */
    public void detachDirectWriter(String name, DirectWriter writer) {
        Export export;
        synchronized (this) {
            if (directWriters.get(name) != writer) {
                return;
            }
            directWriters.remove(name);
            Entry e = volumes.get(name);
            if (e == null) {
                return;
            }
            export = e.export();
        }
        // Outside the lock: the automatic fence it may fire takes it.
        export.gate().writerDetached();
    }

    /**
     * Opens (or returns) the unlisted export a sink reads and, after an abort, writes back
     * through; its name carries a random token so only the orchestrator can hand it out.
     * From now on the volume fences itself when its last ordinary writer disconnects.
     */
    public synchronized Volume openMigrationExport(String name) {
        Entry e = entry(name);
        if (e.migration() != null) {
            return view(e);
        }
        byte[] token = new byte[8];
        random.nextBytes(token);
        String alias = name + "@" + java.util.HexFormat.of().formatHex(token);
        VolumeRecord rec = e.record().withMigrationExport(alias);
        try {
            Export migration = registerMigrationExport(rec, e.export());
            persist(new Entry(rec, e.device(), e.export(), migration));
            syncEagerlyWhilePrepared(rec, e.device());
        } catch (IOException ex) {
            exports.withdraw(alias);
            throw storageFailure("open a migration export for volume '" + name + "'", ex);
        }
        log.info("volume {}: migration export {} opened", name, alias);
        return view(volumes.get(name));
    }

    public synchronized Volume closeMigrationExport(String name) {
        Entry e = entry(name);
        if (e.migration() == null) {
            return view(e);
        }
        e.export().gate().disarmAutoFence();
        e.device().syncEagerly(false);
        exports.withdraw(e.migration().name());
        try {
            persist(new Entry(e.record().withMigrationExport(null), e.device(), e.export(), null));
        } catch (IOException ex) {
            throw storageFailure("close the migration export of volume '" + name + "'", ex);
        }
        return view(volumes.get(name));
    }

    private Export registerMigrationExport(VolumeRecord rec, Export volumeExport) {
        Export migration = new Export(rec.migrationExport(), volumeExport.device(), volumeExport.gate(), true, false);
        exports.register(migration);
        if (!rec.fenced()) {
            volumeExport.gate().fenceWhenWritersLeave(g -> autoFence(rec.name()));
        }
        return migration;
    }

    /**
     * The VM will be paused for its last memory pass, and QEMU flushes the disk while it is:
     * everything written since the guest's last flush would then go to the disk inside the
     * downtime. Syncing as writes arrive leaves that flush almost nothing.
     */
    private static void syncEagerlyWhilePrepared(VolumeRecord rec, FileBlockDevice device) {
        if (!rec.fenced()) {
            device.syncEagerly(true);
        }
    }

    /** The last writer left a volume whose migration is prepared: the VM has moved away. */
    private void autoFence(String name) {
        try {
            fence(name);
            log.info("volume {} fenced automatically: its last writer disconnected during a migration", name);
        } catch (RuntimeException e) {
            log.error("automatic fence of volume {} failed", name, e);
            return;
        }
        autoFenceListener.fencedAutomatically(name);
    }

    /**
     * Takes over a data file a committed sink left in this store's directory, keeping the
     * export clients are already connected to.
     */
    public synchronized Volume adopt(String name, long sizeBytes, FileBlockDevice device, Export export)
            throws IOException {
        VolumeRecord rec = new VolumeRecord(name, sizeBytes, false, clock.instant(), false, null);
        AtomicFile.write(metaFile(name), json.writeValueAsBytes(rec));
        volumes.put(name, new Entry(rec, device, export, null));
        log.info("volume {} adopted from a committed migration", name);
        return view(volumes.get(name));
    }

    /** Where a volume's data file lives (a committing sink moves its file here). */
    public Path dataFileOf(String name) {
        return dataFile(VolumeName.require("name", name));
    }

    public synchronized boolean exists(String name) {
        return volumes.containsKey(name);
    }

    private void persist(Entry e) throws IOException {
        AtomicFile.write(metaFile(e.record().name()), json.writeValueAsBytes(e.record()));
        volumes.put(e.record().name(), e);
    }

    /** The device of a volume, for other engines of this node (migration sources). */
    public synchronized FileBlockDevice device(String name) {
        return entry(name).device();
    }

    public synchronized Export export(String name) {
        return entry(name).export();
    }

    private Entry entry(String name) {
        VolumeName.require("name", name);
        Entry e = volumes.get(name);
        if (e == null) {
            throw VolumeException.notFound(name);
        }
        return e;
    }

    private Volume view(Entry e) {
        long allocated = e.device().allocatedBytesOrUnknown();
        VolumeRecord r = e.record();
        int connections = e.export().connectionCount() + (e.migration() == null ? 0 : e.migration().connectionCount());
        return new Volume(r.name(), r.sizeBytes(), allocated, e.export().readOnly(), e.export().gate().fenced(),
                connections, e.export().gate().writers(), r.name(), r.migrationExport(), r.createdAt());
    }

    private static void requireSize(String field, long size) {
        if (size <= 0 || size % SIZE_ALIGNMENT != 0 || size > MAX_SIZE) {
            throw VolumeException.invalid(field, field + " must be a positive multiple of "
                    + SIZE_ALIGNMENT + " no larger than " + MAX_SIZE + ", got " + size);
        }
    }

    private VolumeException storageFailure(String what, IOException e) {
        log.error("could not {}", what, e);
        return new VolumeException(VolumeException.Kind.STORAGE, "could not " + what + ": " + e.getMessage()
                + " (check the data directory " + dir + ")", Map.of(), e);
    }

    private Path dataFile(String name) {
        return dir.resolve(name + ".img");
    }

    private Path metaFile(String name) {
        return dir.resolve(name + ".json");
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // best effort while undoing a failed create
        }
    }

    @Override
    public synchronized void close() throws IOException {
        for (Entry e : volumes.values()) {
            e.device().close();
        }
        volumes.clear();
    }
}
