package io.dlsm.blockd.sink;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dlsm.blockd.nbd.BufferPool;
import io.dlsm.blockd.nbd.client.NbdClient;
import io.dlsm.blockd.nbd.server.Export;
import io.dlsm.blockd.nbd.server.ExportRegistry;
import io.dlsm.blockd.posix.LibC;
import io.dlsm.blockd.state.AtomicFile;
import io.dlsm.blockd.tls.NodeTls;
import io.dlsm.blockd.volume.FileBlockDevice;
import io.dlsm.blockd.volume.VolumeName;
import io.dlsm.blockd.volume.VolumeStore;
import java.io.Closeable;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sinks of this node: creation, the phase changes the orchestrator asks for, and resuming
 * every unfinished sink after a restart. Files live under {@code <data-dir>/sinks}: the local
 * copy {@code NAME.img}, the record and the bitmaps (see {@link SinkJournal}).
 */
public final class SinkManager implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(SinkManager.class);
    public static final int DEFAULT_REGION_SIZE = 64 * 1024;
    public static final int MIN_REGION_SIZE = 4096;
    public static final int MAX_REGION_SIZE = 16 << 20;

    /** A sink's source at a new address; a null export keeps the current export name. */
    public record Repoint(String host, Integer port, String export) {
    }

    /** What a create call may specify; null fields take defaults. */
    public record CreateRequest(String name, Long sizeBytes, SinkRecord.SourceAddress source, Integer regionSize,
                                Boolean autoCommit, Long bandwidthBytesPerSecond, Integer retryDeadlineSeconds) {
    }

    private final Path dir;
    private final LibC libc;
    private final ExportRegistry exports;
    private final VolumeStore volumes;
    private final ObjectMapper json;
    private final BufferPool buffers;
    private final Clock clock;
    private final Duration defaultRetryDeadline;
    private final ExecutorService background;
    /** For the data file a committed sink hands to the volume store: see {@link FileBlockDevice#open}. */
    private final Executor writeback;
    private final Optional<NodeTls> tls;
    private final Map<String, Managed> sinks = new TreeMap<>();
    /** Told of every phase change (the kernel path follows the sink); must not throw. */
    private final List<java.util.function.BiConsumer<String, SinkState>> listeners =
            new java.util.concurrent.CopyOnWriteArrayList<>();

    /** A sink with its copier and export; the copier exists from activation on. */
    private static final class Managed {
        final Sink sink;
        final Export export;
        final RateLimiter limiter;
        /** One commit at a time: the hydrated hook and the periodic reconciler may both ask. */
        final java.util.concurrent.atomic.AtomicBoolean committing = new java.util.concurrent.atomic.AtomicBoolean();
        BackgroundCopier copier;
        /** Regions dm-clone reported hydrated, for a sink the kernel copies; only grows. */
        final java.util.concurrent.atomic.AtomicLong kernelHydrated = new java.util.concurrent.atomic.AtomicLong();

        Managed(Sink sink, Export export, RateLimiter limiter) {
            this.sink = sink;
            this.export = export;
            this.limiter = limiter;
        }
    }

    public SinkManager(Path dataDir, LibC libc, ExportRegistry exports, VolumeStore volumes, ObjectMapper json,
                       BufferPool buffers, Clock clock, Duration defaultRetryDeadline, ExecutorService background,
                       Executor writeback) {
        this(dataDir, libc, exports, volumes, json, buffers, clock, defaultRetryDeadline, background, writeback,
                Optional.empty());
    }

    /** {@code tls}: the certificates a sink's connections to its source use (empty = plain NBD). */
    public SinkManager(Path dataDir, LibC libc, ExportRegistry exports, VolumeStore volumes, ObjectMapper json,
                       BufferPool buffers, Clock clock, Duration defaultRetryDeadline, ExecutorService background,
                       Executor writeback, Optional<NodeTls> tls) {
        this.tls = tls;
        this.dir = dataDir.resolve("sinks");
        this.libc = libc;
        this.exports = exports;
        this.volumes = volumes;
        this.json = json;
        this.buffers = buffers;
        this.clock = clock;
        this.defaultRetryDeadline = defaultRetryDeadline;
        this.background = background;
        this.writeback = writeback;
    }

    /**
     * Registers {@code l} to hear {@code (sink, state)} after each activation, HYDRATED, commit
     * and abort. Called outside this manager's lock, on the thread that made the change.
     */
    public void addStateListener(java.util.function.BiConsumer<String, SinkState> l) {
        listeners.add(l);
    }

    /**
     * Tells the listeners (the kernel devices' reconcile). Never called holding this manager's
     * lock: a listener takes its own lock, under which it calls back into this manager.
     */
    private void notifyState(String name, SinkState state) {
        for (var l : listeners) {
            try {
                l.accept(name, state);
            } catch (RuntimeException e) {
                // A listener's failure is its own (it retries); the sink's transition stands.
                log.error("sink {}: listener for {} failed: {}", name, state, e.toString());
            }
        }
    }

    /**
     * Finishes commits a crash interrupted. Must run before the volume store opens, which
     * would otherwise take a moved data file without a record for debris and remove it.
     */
    public synchronized void finishInterruptedCommits() throws IOException {
        Files.createDirectories(dir);
        for (Path recordFile : records()) {
            SinkRecord rec = json.readValue(recordFile.toFile(), SinkRecord.class);
            if (rec.state() != SinkState.COMMITTED) {
                continue;
            }
            Path local = dataFile(rec.name());
            Path target = volumes.dataFileOf(rec.name());
            if (Files.exists(local)) {
                Files.move(local, target, StandardCopyOption.ATOMIC_MOVE);
                AtomicFile.syncDirectory(target.getParent());
            }
            byte[] volumeRecord = json.writeValueAsBytes(new io.dlsm.blockd.volume.VolumeRecord(
                    rec.name(), rec.sizeBytes(), false, clock.instant(), false, null));
            AtomicFile.write(target.resolveSibling(rec.name() + ".json"), volumeRecord);
            new SinkJournal(dir, rec.name(), json).delete();
            log.info("sink {}: finished a commit interrupted by a restart", rec.name());
        }
    }

    /** Resumes every sink recorded on disk, in the phase it was in. */
    public synchronized void open() throws IOException {
        Files.createDirectories(dir);
        for (Path recordFile : records()) {
            SinkRecord rec = json.readValue(recordFile.toFile(), SinkRecord.class);
            if (rec.state() == SinkState.ABORTED) {
                deleteFiles(rec.name());
                continue;
            }
            Managed m = load(rec);
            sinks.put(rec.name(), m);
            if (!rec.kernelCopies()) {
                exports.register(m.export);
            }
            switch (rec.state()) {
                case ACTIVE, DEGRADED -> startCopier(m);
                case ABORTING -> background.execute(() -> finishAbort(m));
                case HYDRATED -> {
                    if (rec.autoCommit()) {
                        background.execute(() -> autoCommit(rec.name()));
                    }
                }
                default -> {
                }
            }
            log.info("sink {} resumed in {} ({} of {} regions local)", rec.name(), rec.state(),
                    m.sink.present().count(), m.sink.present().regions());
        }
    }

    public synchronized SinkStatus create(CreateRequest req) {
        String name = VolumeName.require("name", req.name());
        if (sinks.containsKey(name) || volumes.exists(name) || exports.lookup(name).isPresent()) {
            throw new SinkException(SinkException.Kind.CONFLICT, "a volume or sink named '" + name
                    + "' already exists on this node", Map.of("sink", name));
        }
        SinkRecord.SourceAddress source = requireSource(req.source());
        int regionSize = req.regionSize() == null ? DEFAULT_REGION_SIZE : req.regionSize();
        if (Integer.bitCount(regionSize) != 1 || regionSize < MIN_REGION_SIZE || regionSize > MAX_REGION_SIZE) {
            throw invalid("regionSize", "regionSize must be a power of two from " + MIN_REGION_SIZE + " to "
                    + MAX_REGION_SIZE + ", got " + regionSize);
        }
        long bandwidth = req.bandwidthBytesPerSecond() == null ? 0 : req.bandwidthBytesPerSecond();
        if (bandwidth < 0) {
            throw invalid("bandwidthBytesPerSecond", "bandwidthBytesPerSecond must be >= 0 (0 = unlimited)");
        }
        int deadline = req.retryDeadlineSeconds() == null ? (int) defaultRetryDeadline.toSeconds()
                : req.retryDeadlineSeconds();
        if (deadline < 1 || deadline > 86400) {
            throw invalid("retryDeadlineSeconds", "retryDeadlineSeconds must be between 1 and 86400");
        }
        long sourceSize = probeSource(source);
        long size = req.sizeBytes() == null ? sourceSize : req.sizeBytes();
        if (size != sourceSize) {
            throw invalid("sizeBytes", "sizeBytes " + size + " differs from the source export's " + sourceSize
                    + " bytes at " + source);
        }
        SinkRecord rec = new SinkRecord(name, size, source, regionSize, SinkState.PROXY,
                req.autoCommit() == null || req.autoCommit(), bandwidth, deadline, clock.instant(), null, null, false);
        Path img = dataFile(name);
        try {
            try (RandomAccessFile raf = new RandomAccessFile(img.toFile(), "rw")) {
                raf.setLength(size);
                raf.getFD().sync();
            }
            new SinkJournal(dir, name, json).saveRecord(rec);
            Managed m = load(rec);
            exports.register(m.export);
            sinks.put(name, m);
        } catch (IOException e) {
            deleteFilesQuietly(name);
            throw new SinkException(SinkException.Kind.STORAGE, "could not create sink '" + name + "': "
                    + e.getMessage(), Map.of("sink", name), e);
        }
        log.info("sink {} created in PROXY from {} ({} bytes, {} byte regions)", name, source, size, regionSize);
        return status(sinks.get(name));
    }

    public synchronized List<SinkStatus> list() {
        List<SinkStatus> out = new ArrayList<>();
        for (Managed m : sinks.values()) {
            out.add(status(m));
        }
        return out;
    }

    /** The persisted facts of a sink (source, size, phase), empty when there is none. */
    public synchronized java.util.Optional<SinkRecord> find(String name) {
        Managed m = sinks.get(name);
        return m == null ? java.util.Optional.empty() : java.util.Optional.of(m.sink.record());
    }

    public synchronized SinkStatus get(String name) {
        return status(managed(name));
    }

    /**
     * t1. Refused unless the source reports itself fenced (its volume export is offered
     * read-only), or the caller forces it for a source it fenced by other means.
     */
    public SinkStatus activate(String name, boolean force) {
        Managed m;
        synchronized (this) {
            m = managed(name);
        }
        SinkState s = m.sink.state();
        if (s != SinkState.PROXY) {
            if (s == SinkState.ACTIVE || s == SinkState.DEGRADED || s == SinkState.HYDRATED
                    || s == SinkState.COMMITTED) {
                return get(name);
            }
            throw conflict(name, "sink " + name + " is " + s + " and cannot be activated");
        }
        SinkRecord.SourceAddress src = m.sink.record().source();
        if (!force) {
            boolean fenced;
            try {
                fenced = m.sink.link().sourceFenced();
            } catch (IOException e) {
                throw new SinkException(SinkException.Kind.SOURCE_UNAVAILABLE, "cannot ask the source " + src
                        + " whether it is fenced: " + e.getMessage(), Map.of("sink", name), e);
            }
            if (!fenced) {
                throw conflict(name, "source volume '" + src.volumeExport() + "' at " + src.host() + ":" + src.port()
                        + " is not fenced: fence it first (POST /v1/volumes/" + src.volumeExport()
                        + "/fence on the source node), or activate with force if it is read-only by other means");
            }
        }
        try {
            m.sink.activate();
        } catch (IOException e) {
            throw storage(name, "activate", e);
        }
        synchronized (this) {
            startCopier(m);
        }
        notifyState(name, m.sink.state());
        return get(name);
    }

    public SinkStatus setBandwidth(String name, Long bytesPerSecond) {
        Managed m;
        synchronized (this) {
            m = managed(name);
            if (bytesPerSecond == null || bytesPerSecond < 0) {
                throw invalid("bytesPerSecond", "bytesPerSecond is required and must be >= 0 (0 = unlimited)");
            }
            try {
                m.sink.updateRecord(r -> r.withBandwidth(bytesPerSecond));
            } catch (IOException e) {
                throw storage(name, "change the bandwidth of", e);
            }
            m.limiter.setRate(bytesPerSecond);
        }
        // Same phase, new limit: a dm-clone device copying this sink follows it. Outside this
        // lock, as every notification: the kernel devices' poll holds their lock and then asks
        // this manager (progress, phase), so holding ours while waiting for theirs deadlocks.
        notifyState(name, m.sink.state());
        return status(m);
    }

    /**
     * The source export moved (its node restarted on other ports, or another address): the
     * sink's connections go there from now on, and the move is persisted. Refused once the
     * sink reads its source no more (COMMITTED, ABORTED), for a sink dm-clone copies (the
     * kernel's nbd device holds its own connection), and for an export that is not there or
     * is of another size (not the same volume): the old address stays in use then.
     */
    public SinkStatus repoint(String name, Repoint req) {
        Managed m;
        synchronized (this) {
            m = managed(name);
        }
        if (req == null) {
            throw invalid("body", "a JSON body {host, port[, export]} is required");
        }
        SinkRecord.SourceAddress old = m.sink.record().source();
        SinkRecord.SourceAddress moved = requireSource(new SinkRecord.SourceAddress(req.host(),
                req.port() == null ? 0 : req.port(), req.export() == null ? old.export() : req.export()));
        SinkState s = m.sink.state();
        if (s.terminal()) {
            throw conflict(name, "sink " + name + " is " + s + " and reads no source any more: there is nothing to"
                    + " repoint");
        }
        if (m.sink.record().kernelCopies()) {
            throw conflict(name, "sink " + name + " is copied by dm-clone, whose nbd device holds its own connection"
                    + " to " + old + ": repoint the kernel path instead");
        }
        long size;
        try {
            // NBD_OPT_INFO, not GO: this probe must not count as a writer of the source.
            size = NbdClient.info(moved.host(), moved.port(), moved.export(), tls).size();
        } catch (IOException e) {
            throw new SinkException(SinkException.Kind.SOURCE_UNAVAILABLE, "cannot open the source export " + moved
                    + " to repoint sink " + name + " there: " + e.getMessage() + "; the sink keeps using " + old,
                    Map.of("sink", name, "field", "source"), e);
        }
        if (size != m.sink.size()) {
            throw conflict(name, "the export " + moved + " has " + size + " bytes, sink " + name + "'s source has "
                    + m.sink.size() + ": not the same volume; the sink keeps using " + old);
        }
        synchronized (this) {
            try {
                m.sink.updateRecord(r -> r.withSource(moved));
            } catch (IOException e) {
                throw storage(name, "repoint", e);
            }
            m.sink.link().repoint(moved);
            if (m.copier != null) {
                m.copier.repoint(moved);
            }
        }
        log.info("sink {} ({}): source moved from {} to {}", name, s, old, moved);
        return status(m);
    }

    /**
     * A dm-clone device is about to copy this sink's data file itself (the kernel path in
     * DM_CLONE mode, while PROXY): from now on the copier stays off and the sink's export is
     * withdrawn, since two writers of one file that do not know of each other would lose the
     * VM's writes. Returns the data file, dm-clone's destination. Idempotent.
     */
    public synchronized Path handOverToKernel(String name) {
        Managed m = managed(name);
        if (m.sink.record().kernelCopies()) {
            return dataFile(name);
        }
        if (m.sink.state() != SinkState.PROXY) {
            throw conflict(name, "sink " + name + " is " + m.sink.state() + ": only a PROXY sink can be handed to "
                    + "dm-clone (its copier has started)");
        }
        int clients = m.export.connectionCount();
        if (clients > 0) {
            throw conflict(name, "sink " + name + " has " + clients + " NBD connection(s): a dm-clone device writes "
                    + "its data file directly; disconnect them or use the linear_over_nbd kernel path");
        }
        try {
            m.sink.updateRecord(SinkRecord::withKernelCopy);
        } catch (IOException e) {
            throw storage(name, "hand over to dm-clone", e);
        }
        exports.withdraw(name);
        log.info("sink {}: dm-clone copies {} from now on; its export is withdrawn", name, dataFile(name));
        return dataFile(name);
    }

    /** dm-clone's progress on a sink it copies: the sink's bitmap learns of it only at the end. */
    public void kernelProgress(String name, long hydratedRegions) {
        Managed m;
        synchronized (this) {
            m = managed(name);
        }
        m.kernelHydrated.accumulateAndGet(hydratedRegions, Math::max);
    }

    /**
     * dm-clone reports every region of a sink it copies hydrated (and the device no longer
     * reads the source): the data file is complete, so the sink is HYDRATED and, with
     * auto-commit, becomes a volume. Idempotent.
     */
    public SinkStatus kernelHydrated(String name) {
        Managed m;
        synchronized (this) {
            m = managed(name);
        }
        if (!m.sink.record().kernelCopies()) {
            throw conflict(name, "sink " + name + " is copied by blockd, not by the kernel");
        }
        try {
            m.sink.kernelHydrated();
        } catch (IOException e) {
            throw storage(name, "mark hydrated by dm-clone", e);
        }
        return status(m);
    }

    /**
     * In PROXY the sink is simply dropped: the source never stopped being authoritative.
     * Later, the regions written here are copied back to the source first.
     */
    public SinkStatus abort(String name) {
        Managed m;
        synchronized (this) {
            m = managed(name);
        }
        SinkState s = m.sink.state();
        try {
            switch (s) {
                case PROXY -> {
                    m.sink.transition(SinkState.ABORTED);
                    exports.withdraw(name);
                    m.sink.close();
                    deleteFiles(name);
                    notifyState(name, SinkState.ABORTED);
                }
                case ACTIVE, DEGRADED, HYDRATED -> {
                    if (m.sink.record().kernelCopies()) {
                        // The VM wrote through dm-clone, past this sink: nobody knows which
                        // regions it changed, so there is no migrating back only those.
                        throw conflict(name, "sink " + name + " is " + s + " and the kernel (dm-clone) copies it: "
                                + "the regions the VM wrote here are not known, so it cannot be migrated back; let "
                                + "it commit, then migrate the volume back with a new migration");
                    }
                    m.sink.transition(SinkState.ABORTING);
                    finishAbort(m);
                }
                case ABORTING -> finishAbort(m);
                case ABORTED -> {
                    return status(m);
                }
                case COMMITTED -> throw conflict(name, "sink " + name + " is already committed: the volume "
                        + "now lives on this node; migrate it back with a new migration instead");
                default -> throw conflict(name, "sink " + name + " is " + s);
            }
        } catch (IOException e) {
            throw storage(name, "abort", e);
        }
        return status(m);
    }

    private void finishAbort(Managed m) {
        String name = m.sink.name();
        try {
            if (m.copier != null) {
                m.copier.stop();
            }
            exports.withdraw(name);
            long bytes = m.sink.migrateBack();
            m.sink.transition(SinkState.ABORTED);
            m.sink.close();
            deleteFiles(name);
            log.info("sink {} aborted: {} bytes written here were copied back to the source", name, bytes);
            notifyState(name, SinkState.ABORTED);
        } catch (IOException | RuntimeException e) {
            log.error("sink {}: abort could not copy the destination's writes back; retry the abort", name, e);
            throw e instanceof SinkException se ? se : new SinkException(SinkException.Kind.SOURCE_UNAVAILABLE,
                    "abort of sink " + name + " could not write back to the source: " + e.getMessage()
                            + "; retry the abort when the source is reachable", Map.of("sink", name), e);
        }
    }

    /** t2: the hydrated local copy becomes an ordinary volume of this node. */
    public SinkStatus commit(String name) {
        Managed m;
        synchronized (this) {
            m = managed(name);
        }
        SinkState s = m.sink.state();
        if (s == SinkState.COMMITTED) {
            return status(m);
        }
        if (s != SinkState.HYDRATED) {
            throw conflict(name, "sink " + name + " is " + s + " with " + (m.sink.present().regions()
                    - m.sink.present().count()) + " regions still on the source; it can be committed once HYDRATED");
        }
        if (!m.committing.compareAndSet(false, true)) {
            return status(m);
        }
        try {
            if (m.copier != null) {
                m.copier.stop();
            }
            m.sink.link().close();
            m.sink.commitBitmap();
            m.sink.transition(SinkState.COMMITTED);
            Path target = volumes.dataFileOf(name);
            Files.move(dataFile(name), target, StandardCopyOption.ATOMIC_MOVE);
            AtomicFile.syncDirectory(target.getParent());
            AtomicFile.syncDirectory(dir);
            // The sink's export was withdrawn while dm-clone owned the file, and a withdrawn
            // export stays withdrawn (its clients are dropped after the handshake): the volume
            // gets a new one over the same device and gate.
            Export export = m.sink.record().kernelCopies() ? m.export.reopened() : m.export;
            volumes.adopt(name, m.sink.size(), m.sink.local(), export);
            if (m.sink.record().kernelCopies()) {
                exports.register(export);
            }
            new SinkJournal(dir, name, json).delete();
        } catch (IOException e) {
            throw storage(name, "commit", e);
        } finally {
            m.committing.set(false);
        }
        log.info("sink {} committed: the volume is now local to this node", name);
        notifyState(name, SinkState.COMMITTED);
        return status(m);
    }

    private void autoCommit(String name) {
        log.info("sink {}: committing automatically", name);
        try {
            commit(name);
        } catch (RuntimeException e) {
            log.error("automatic commit of sink {} failed; commit it by hand", name, e);
        }
    }

    // ---------------------------------------------------------------- internals

    private Managed load(SinkRecord rec) throws IOException {
        FileBlockDevice local = FileBlockDevice.open(libc, dataFile(rec.name()), writeback);
        try {
            long regions = (rec.sizeBytes() + rec.regionSize() - 1) / rec.regionSize();
            RegionBitmap present = new RegionBitmap(regions);
            RegionBitmap written = new RegionBitmap(regions);
            SinkJournal journal = new SinkJournal(dir, rec.name(), json);
            journal.loadBitmaps(present, written, rec.regionSize());
            Duration deadline = Duration.ofSeconds(rec.retryDeadlineSeconds());
            SourceLink link = new SourceLink(rec.source(), SourceLink.Sharing.PER_CALLER, deadline,
                    "requests of sink " + rec.name(), tls);
            Sink sink = new Sink(rec, local, present, written, journal, link, buffers, clock);
            sink.onHydrated(s -> {
                background.execute(() -> notifyState(s.name(), SinkState.HYDRATED));
                if (s.record().autoCommit()) {
                    background.execute(() -> autoCommit(s.name()));
                }
            });
            Export export = Export.of(rec.name(), sink, false);
            return new Managed(sink, export, new RateLimiter(rec.bandwidthBytesPerSecond()));
        } catch (IOException | RuntimeException e) {
            local.close();
            throw e;
        }
    }

    private void startCopier(Managed m) {
        if (m.sink.record().kernelCopies()) {
            // dm-clone copies; the kernel path reports the end (kernelHydrated).
            return;
        }
        if (m.copier != null || m.sink.present().full()) {
            if (m.sink.present().full()) {
                try {
                    m.sink.checkHydrated();
                } catch (IOException e) {
                    log.warn("sink {}: {}", m.sink.name(), e.toString());
                }
            }
            return;
        }
        SinkRecord rec = m.sink.record();
        SourceLink link = new SourceLink(rec.source(), SourceLink.Sharing.PIPELINED,
                Duration.ofSeconds(rec.retryDeadlineSeconds()), "background copy for " + rec.name(), tls);
        m.copier = new BackgroundCopier(m.sink, link, buffers, m.limiter, Duration.ofSeconds(rec.retryDeadlineSeconds()));
        m.copier.start();
    }

    /** Periodic bitmap commit, every second (docs/design.md, "FLUSH and FUA"). */
    public void commitBitmaps() {
        List<Managed> all;
        synchronized (this) {
            all = new ArrayList<>(sinks.values());
        }
        for (Managed m : all) {
            // Level-triggered as well as edge-triggered: a hydrated sink whose hook did not lead
            // to a commit (a restart at the wrong moment, a failed attempt) is committed here.
            if (m.sink.state() == SinkState.HYDRATED && m.sink.record().autoCommit() && !m.committing.get()) {
                background.execute(() -> autoCommit(m.sink.name()));
            }
            if (m.sink.state().hydrating()) {
                try {
                    m.sink.commitBitmap();
                } catch (IOException e) {
                    log.warn("sink {}: periodic bitmap commit failed: {}", m.sink.name(), e.toString());
                }
            }
        }
    }

    private SinkStatus status(Managed m) {
        Sink s = m.sink;
        SinkRecord r = s.record();
        SinkCounters c = s.counters;
        long total = s.present().regions();
        long have = Math.min(total, Math.max(s.present().count(), m.kernelHydrated.get()));
        double rate = m.copier == null ? 0 : m.copier.rate();
        long missingBytes = (total - have) * (long) s.regionSize();
        Double eta = have == total ? Double.valueOf(0) : rate > 0 ? Double.valueOf(missingBytes / rate) : null;
        long atRisk = r.state() == SinkState.DEGRADED ? total - have : 0;
        // COMMITTED is recorded before the file moves (a crash then finishes the move), but is
        // shown only once the volume exists: a caller that sees it may use the volume at once.
        SinkState shown = r.state() == SinkState.COMMITTED && m.committing.get() ? SinkState.HYDRATED : r.state();
        return new SinkStatus(r.name(), shown, r.sizeBytes(), r.regionSize(), r.source().toString(), total, have,
                s.written().count(), atRisk, total == 0 ? 1.0 : (double) have / total,
                c.fetchedOnDemand.sum(), c.copiedInBackground.sum(), c.skippedHoles.sum(),
                c.overwrittenNeverFetched.sum(), c.proxiedReads.sum(), c.proxiedWrites.sum(), c.migratedBack.sum(),
                c.wireBytesReceived(), m.limiter.rate(), rate, eta, s.link().failures(), r.t0(), r.t1(), r.t2(),
                s.problem(), s.condition());
    }

    private Managed managed(String name) {
        VolumeName.require("name", name);
        Managed m = sinks.get(name);
        if (m == null) {
            throw new SinkException(SinkException.Kind.NOT_FOUND, "no sink named '" + name + "' on this node",
                    Map.of("sink", name));
        }
        return m;
    }

    private static SinkRecord.SourceAddress requireSource(SinkRecord.SourceAddress s) {
        if (s == null) {
            throw invalid("source", "source {host, port, export} is required");
        }
        if (s.host() == null || s.host().isBlank()) {
            throw invalid("source.host", "source.host is required");
        }
        if (s.port() < 1 || s.port() > 65535) {
            throw invalid("source.port", "source.port must be 1..65535");
        }
        if (s.export() == null || s.export().isEmpty() || s.export().length() > 4096) {
            throw invalid("source.export", "source.export is required (at most 4096 bytes)");
        }
        return s;
    }

    private long probeSource(SinkRecord.SourceAddress source) {
        java.net.InetSocketAddress address = new java.net.InetSocketAddress(source.host(), source.port());
        try (NbdClient c = NbdClient.connect(address, source.export(), NbdClient.DEFAULT_CONNECT_TIMEOUT,
                NbdClient.DEFAULT_HANDSHAKE_TIMEOUT, tls)) {
            return c.size();
        } catch (IOException e) {
            throw new SinkException(SinkException.Kind.SOURCE_UNAVAILABLE, "cannot open the source export "
                    + source + ": " + e.getMessage(), Map.of("field", "source"), e);
        }
    }

    private List<Path> records() throws IOException {
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.json")) {
            ds.forEach(out::add);
        }
        out.sort(null);
        return out;
    }

    private Path dataFile(String name) {
        return dir.resolve(name + ".img");
    }

    private void deleteFiles(String name) throws IOException {
        new SinkJournal(dir, name, json).delete();
        AtomicFile.delete(dataFile(name));
        synchronized (this) {
            sinks.remove(name);
        }
    }

    private void deleteFilesQuietly(String name) {
        try {
            deleteFiles(name);
        } catch (IOException e) {
            log.warn("could not clean up sink {}: {}", name, e.toString());
        }
    }

    private static SinkException invalid(String field, String message) {
        return new SinkException(SinkException.Kind.INVALID, message, Map.of("field", field));
    }

    private static SinkException conflict(String name, String message) {
        return new SinkException(SinkException.Kind.CONFLICT, message, Map.of("sink", name));
    }

    private static SinkException storage(String name, String what, IOException e) {
        return new SinkException(SinkException.Kind.STORAGE, "could not " + what + " sink '" + name + "': "
                + e.getMessage(), Map.of("sink", name), e);
    }

    @Override
    public synchronized void close() {
        for (Managed m : sinks.values()) {
            if (m.copier != null) {
                m.copier.stop();
            }
            try {
                if (m.sink.state().hydrating()) {
                    m.sink.commitBitmap();
                }
                if (m.sink.state() != SinkState.COMMITTED) {
                    m.sink.close();
                }
            } catch (IOException e) {
                log.warn("sink {}: close failed: {}", m.sink.name(), e.toString());
            }
        }
    }
}
