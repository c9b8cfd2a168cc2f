package io.dlsm.blockd.snapshot;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dlsm.blockd.nbd.server.Export;
import io.dlsm.blockd.nbd.server.ExportRegistry;
import io.dlsm.blockd.posix.LibC;
import io.dlsm.blockd.posix.SparseCopy;
import io.dlsm.blockd.state.AtomicFile;
import io.dlsm.blockd.volume.FileBlockDevice;
import io.dlsm.blockd.volume.Volume;
import io.dlsm.blockd.volume.VolumeException;
import io.dlsm.blockd.volume.VolumeName;
import io.dlsm.blockd.volume.VolumeStore;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Point-in-time, read-only copies of volumes under {@code <data-dir>/snapshots/VOLUME}:
 * {@code SNAP.img} (sparse) and {@code SNAP.json}. The copy is made while the volume's writes
 * are held back, so it holds every write acknowledged before and none admitted after. The data
 * file is complete and synced before the record is written; a data file without a record is a
 * snapshot that did not complete and is removed at start. Each snapshot is exported read-only
 * as {@code VOLUME@snap-SNAP}.
 */
public final class SnapshotStore implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(SnapshotStore.class);
    static final String EXPORT_INFIX = "@snap-";

    private final Path dir;
    private final LibC libc;
    private final ExportRegistry exports;
    private final VolumeStore volumes;
    private final ObjectMapper json;
    private final Clock clock;
    /**
     * Volume to its snapshots. Concurrent so that the volume store's deletion check can read it
     * under its own lock without taking ours (we call into the volume store holding ours).
     */
    private final Map<String, NavigableMap<String, Entry>> snapshots = new ConcurrentHashMap<>();

    private record Entry(SnapshotRecord record, FileBlockDevice device, Export export) {
    }

    public SnapshotStore(Path dataDir, LibC libc, ExportRegistry exports, VolumeStore volumes, ObjectMapper json,
                         Clock clock) {
        this.dir = dataDir.resolve("snapshots");
        this.libc = libc;
        this.exports = exports;
        this.volumes = volumes;
        this.json = json;
        this.clock = clock;
        volumes.dependents(v -> List.copyOf(snapshots.getOrDefault(v, new ConcurrentSkipListMap<>()).keySet()));
    }

    /** Loads and exports every recorded snapshot; removes data files of incomplete ones. */
    public synchronized void open() throws IOException {
        Files.createDirectories(dir);
        try (DirectoryStream<Path> volumeDirs = Files.newDirectoryStream(dir, Files::isDirectory)) {
            for (Path vdir : volumeDirs) {
                try (DirectoryStream<Path> metas = Files.newDirectoryStream(vdir, "*.json")) {
                    for (Path meta : metas) {
                        SnapshotRecord rec = json.readValue(meta.toFile(), SnapshotRecord.class);
                        Path img = dataFile(rec.volume(), rec.name());
                        if (!Files.exists(img)) {
                            log.error("snapshot {}@{} is recorded in {} but its data file {} is missing; not exported",
                                    rec.volume(), rec.name(), meta, img);
                            continue;
                        }
                        register(rec);
                    }
                }
                try (DirectoryStream<Path> imgs = Files.newDirectoryStream(vdir, "*.img")) {
                    for (Path img : imgs) {
                        String snap = img.getFileName().toString().replaceFirst("\\.img$", "");
                        if (!Files.exists(vdir.resolve(snap + ".json"))) {
                            log.warn("removing {}: left by a snapshot that did not complete", img);
                            Files.delete(img);
                        }
                    }
                }
            }
        }
        log.info("{} snapshots loaded from {}", snapshots.values().stream().mapToInt(Map::size).sum(), dir);
    }

    /**
     * Takes snapshot {@code name} of {@code volume}. Writes to the volume wait (they are not
     * refused) while the data extents are copied, so the cost is proportional to the data.
     */
    public synchronized Snapshot create(String volume, String name) {
        VolumeName.require("volume", volume);
        VolumeName.require("name", name);
        if (find(volume, name) != null) {
            throw new VolumeException(VolumeException.Kind.ALREADY_EXISTS, "volume '" + volume
                    + "' already has a snapshot '" + name + "'", Map.of("volume", volume, "snapshot", name));
        }
        if (!volumes.exists(volume)) {
            throw VolumeException.notFound(volume);
        }
        Path img = dataFile(volume, name);
        try {
            Files.createDirectories(img.getParent());
            // Recorded inside the paused section, under the volume store's lock: a delete of the
            // volume cannot slip in between the copy and the moment the snapshot protects it.
            Entry e = volumes.withWritesPaused(volume, (device, file) -> {
                SparseCopy.Method m = SparseCopy.copy(libc, file, img, device.size());
                SnapshotRecord rec = new SnapshotRecord(volume, name, device.size(), clock.instant());
                AtomicFile.syncDirectory(img.getParent());
                AtomicFile.write(metaFile(volume, name), json.writeValueAsBytes(rec));
                log.info("snapshot {}@{} taken ({} copy)", volume, name, m);
                return register(rec);
            });
            return view(e);
        } catch (IOException e) {
            deleteQuietly(metaFile(volume, name));
            deleteQuietly(img);
            throw storageFailure("snapshot volume '" + volume + "' as '" + name + "'", e);
        }
    }

    public List<Snapshot> list(String volume) {
        VolumeName.require("volume", volume);
        if (!volumes.exists(volume) && !snapshots.containsKey(volume)) {
            throw VolumeException.notFound(volume);
        }
        List<Snapshot> out = new ArrayList<>();
        for (Entry e : snapshots.getOrDefault(volume, new ConcurrentSkipListMap<>()).values()) {
            out.add(view(e));
        }
        return out;
    }

    public Snapshot get(String volume, String name) {
        return view(entry(volume, name));
    }

    /** Refused while NBD clients read it: they would see the data vanish. */
    public synchronized void delete(String volume, String name) {
        Entry e = entry(volume, name);
        int clients = e.export().connectionCount();
        if (clients > 0) {
            throw new VolumeException(VolumeException.Kind.CONFLICT, "snapshot '" + name + "' of volume '" + volume
                    + "' has " + clients + " NBD connection(s) to " + e.export().name()
                    + "; disconnect them before deleting", Map.of("volume", volume, "snapshot", name));
        }
        try {
            AtomicFile.delete(metaFile(volume, name));
            exports.withdraw(e.export().name());
            e.device().close();
            AtomicFile.delete(dataFile(volume, name));
        } catch (IOException ex) {
            throw storageFailure("delete snapshot '" + name + "' of volume '" + volume + "'", ex);
        }
        snapshots.computeIfPresent(volume, (v, m) -> {
            m.remove(name);
            return m.isEmpty() ? null : m;
        });
        log.info("deleted snapshot {}@{}", volume, name);
    }

    /** A new volume with the snapshot's content, grown to {@code sizeBytes} (at least the snapshot's size). */
    public synchronized Volume restore(String volume, String name, String newVolume, long sizeBytes) {
        Entry e = entry(volume, name);
        long size = e.record().sizeBytes();
        if (sizeBytes < size) {
            throw VolumeException.invalid("sizeBytes", "sizeBytes " + sizeBytes + " is smaller than snapshot '"
                    + name + "' of volume '" + volume + "' (" + size + " bytes); a volume made from it can only be"
                    + " as large or larger");
        }
        // The snapshot is read-only, so no write can race the copy.
        return volumes.createFilled(newVolume, sizeBytes, false, img -> {
            SparseCopy.Method m = SparseCopy.copy(libc, dataFile(volume, name), img, size);
            log.info("volume {} created from snapshot {}@{} ({})", newVolume, volume, name, m);
        });
    }

    private Entry register(SnapshotRecord rec) throws IOException {
        // Read-only, never migrated: it never syncs eagerly, so nothing is ever queued.
        FileBlockDevice dev = FileBlockDevice.open(libc, dataFile(rec.volume(), rec.name()), Runnable::run);
        Export export = Export.of(exportName(rec.volume(), rec.name()), dev, true);
        exports.register(export);
        Entry e = new Entry(rec, dev, export);
        snapshots.computeIfAbsent(rec.volume(), v -> new ConcurrentSkipListMap<>()).put(rec.name(), e);
        return e;
    }

    public static String exportName(String volume, String snapshot) {
        return volume + EXPORT_INFIX + snapshot;
    }

    private Entry find(String volume, String name) {
        NavigableMap<String, Entry> m = snapshots.get(volume);
        return m == null ? null : m.get(name);
    }

    private Entry entry(String volume, String name) {
        VolumeName.require("volume", volume);
        VolumeName.require("snapshot", name);
        Entry e = find(volume, name);
        if (e == null) {
            throw new VolumeException(VolumeException.Kind.NOT_FOUND, "no snapshot '" + name + "' of volume '"
                    + volume + "' on this node", Map.of("volume", volume, "snapshot", name));
        }
        return e;
    }

    private Snapshot view(Entry e) {
        long allocated = e.device().allocatedBytesOrUnknown();
        SnapshotRecord r = e.record();
        return new Snapshot(r.volume(), r.name(), r.sizeBytes(), allocated, e.export().name(), r.createdAt());
    }

    private VolumeException storageFailure(String what, IOException e) {
        log.error("could not {}", what, e);
        return new VolumeException(VolumeException.Kind.STORAGE, "could not " + what + ": " + e.getMessage()
                + " (check free space and the data directory " + dir + ")", Map.of(), e);
    }

    private Path dataFile(String volume, String name) {
        return dir.resolve(volume).resolve(name + ".img");
    }

    private Path metaFile(String volume, String name) {
        return dir.resolve(volume).resolve(name + ".json");
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // best effort while undoing a failed snapshot
        }
    }

    @Override
    public synchronized void close() throws IOException {
        for (NavigableMap<String, Entry> m : snapshots.values()) {
            for (Entry e : m.values()) {
                e.device().close();
            }
        }
        snapshots.clear();
    }
}
