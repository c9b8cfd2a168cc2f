package io.dlsm.blockd.sink;

import io.dlsm.blockd.block.BlockDevice;
import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Capabilities;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.block.Extent;
import io.dlsm.blockd.nbd.BufferPool;
import io.dlsm.blockd.volume.FileBlockDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A volume being migrated in: the block device exported under the volume's name on the
 * destination node (docs/design.md, "Region states").
 *
 * <p>In {@code PROXY} every request is forwarded to the source and nothing is kept. From
 * {@code ACTIVE} on, the source is fenced and reads of absent regions fetch the whole region
 * once; writes are local. Region-level coordination uses claims: whoever changes a region's
 * present bit (an on-demand fetch, the background copier, a write covering the region) first
 * claims it in {@link #busy}; others wait for the claim, then look again. Claims are taken in
 * ascending region order and nobody waits while holding a claim on a higher region, so there
 * is no deadlock. A fetch therefore never lands on top of newer guest data.
 */
public final class Sink implements BlockDevice {
    private static final Logger log = LoggerFactory.getLogger(Sink.class);
    /** Largest single read from the source; larger ranges are fetched in pieces. */
    static final int MAX_FETCH = 8 << 20;

    private final String name;
    private final long size;
    private final int regionSize;
    private final int regionShift;
    private final FileBlockDevice local;
    private final RegionBitmap present;
    private final RegionBitmap written;
    private final SinkJournal journal;
    private final SourceLink link;
    private final BufferPool buffers;
    private final Clock clock;
    final SinkCounters counters = new SinkCounters();
    private final ConcurrentHashMap<Long, CompletableFuture<Void>> busy = new ConcurrentHashMap<>();
    /** Held shared by proxied requests, exclusively by activation: the switch drains them. */
    private final ReentrantReadWriteLock phaseSwitch = new ReentrantReadWriteLock(true);
    private final AtomicInteger onDemandInFlight = new AtomicInteger();
    private volatile long lastOnDemandFetchNanos = System.nanoTime() - (1L << 40);
    private final Object stateLock = new Object();
    private volatile SinkRecord record;
    private volatile String lastError;
    /** Set while the local file system refuses the sink's writes: the operator's message. */
    private volatile String noSpace;
    private volatile Consumer<Sink> onHydrated = s -> { };

    Sink(SinkRecord record, FileBlockDevice local, RegionBitmap present, RegionBitmap written,
         SinkJournal journal, SourceLink link, BufferPool buffers, Clock clock) {
        this.record = record;
        this.name = record.name();
        this.size = record.sizeBytes();
        this.regionSize = record.regionSize();
        this.regionShift = Integer.numberOfTrailingZeros(regionSize);
        this.local = local;
        this.present = present;
        this.written = written;
        this.journal = journal;
        this.link = link;
        this.buffers = buffers;
        this.clock = clock;
    }

    public String name() {
        return name;
    }

    public SinkState state() {
        return record.state();
    }

    SinkRecord record() {
        return record;
    }

    FileBlockDevice local() {
        return local;
    }

    RegionBitmap present() {
        return present;
    }

    RegionBitmap written() {
        return written;
    }

    SourceLink link() {
        return link;
    }

    int regionSize() {
        return regionSize;
    }

    void onHydrated(Consumer<Sink> action) {
        this.onHydrated = action;
    }

    String lastError() {
        return lastError;
    }

    int onDemandInFlight() {
        return onDemandInFlight.get();
    }

    long lastOnDemandFetchNanos() {
        return lastOnDemandFetchNanos;
    }

    // ---------------------------------------------------------------- phases

    /** Moves to {@code target} and persists the record before anyone is told. */
    SinkRecord transition(SinkState target) throws IOException {
        synchronized (stateLock) {
            SinkState from = record.state();
            if (from == target) {
                return record;
            }
            if (!from.canMoveTo(target)) {
                throw new SinkException(SinkException.Kind.CONFLICT, "sink " + name + " is " + from
                        + " and cannot become " + target, java.util.Map.of("sink", name, "state", from.name()));
            }
            SinkRecord next = record.withState(target);
            if (target == SinkState.ACTIVE && next.t1() == null) {
                next = next.withT1(clock.instant());
            }
            if (target == SinkState.HYDRATED && next.t2() == null) {
                next = next.withT2(clock.instant());
            }
            journal.saveRecord(next);
            record = next;
            log.info("sink {}: {} -> {}", name, from, target);
            return next;
        }
    }

    /**
     * Changes the record other than its state, applied to the current record under the state
     * lock: a change computed from a copy read earlier would undo a transition made meanwhile
     * (a bandwidth change as hydration completed put a HYDRATED sink back to ACTIVE for good).
     */
    void updateRecord(UnaryOperator<SinkRecord> change) throws IOException {
        synchronized (stateLock) {
            SinkRecord next = change.apply(record);
            journal.saveRecord(next);
            record = next;
        }
    }

    /**
     * t1: holds new requests, lets the proxied ones in flight finish, switches to ACTIVE and
     * lets the held requests go on in ACTIVE. No request fails and none is reordered.
     */
    void activate() throws IOException {
        phaseSwitch.writeLock().lock();
        try {
            transition(SinkState.ACTIVE);
        } finally {
            phaseSwitch.writeLock().unlock();
        }
        checkHydrated();
    }

    void degrade(String why) {
        lastError = why;
        if (record.state() == SinkState.ACTIVE) {
            try {
                transition(SinkState.DEGRADED);
                log.warn("sink {} DEGRADED: {} regions exist only on the unreachable source: {}", name,
                        present.regions() - present.count(), why);
            } catch (IOException | SinkException e) {
                log.warn("sink {}: could not record DEGRADED: {}", name, e.toString());
            }
        }
    }

    /**
     * The local file system refused a write of this sink ({@code cause}'s errno is ENOSPC or
     * EDQUOT); returns whether that is news (the first refusal since space was last there).
     */
    boolean noSpace(IOException cause) {
        boolean news = noSpace == null;
        noSpace = "no space left for sink " + name + " on this node: " + cause.getMessage()
                + ". Hydration is paused and resumes by itself once space is freed; until then guest"
                + " writes and first reads of regions not yet here fail with ENOSPC (QEMU with"
                + " werror=enospc pauses the VM; resume it after freeing space)";
        return news;
    }

    /** A local write of the sink succeeded: whatever filled the file system is over. */
    void spaceAvailable() {
        if (noSpace != null) {
            noSpace = null;
            log.info("sink {}: the local file system takes writes again", name);
        }
    }

    SinkCondition condition() {
        if (noSpace != null) {
            return SinkCondition.NO_SPACE;
        }
        return record.state() == SinkState.DEGRADED ? SinkCondition.SOURCE_UNREACHABLE : SinkCondition.OK;
    }

    /** What stands in the way now, or the last error seen. */
    String problem() {
        String full = noSpace;
        return full != null ? full : lastError;
    }

    void recovered() {
        if (record.state() == SinkState.DEGRADED) {
            try {
                transition(SinkState.ACTIVE);
                lastError = null;
            } catch (IOException | SinkException e) {
                log.warn("sink {}: could not leave DEGRADED: {}", name, e.toString());
            }
        }
    }

    /** When the last region arrived: commit the bitmap and move to HYDRATED (t2). */
    void checkHydrated() throws IOException {
        if (!present.full() || !record.state().hydrating()) {
            return;
        }
        synchronized (stateLock) {
            if (!record.state().hydrating()) {
                return;
            }
            commitBitmap();
            transition(SinkState.HYDRATED);
        }
        onHydrated.accept(this);
    }

    /**
     * The kernel (dm-clone) hydrated the data file itself: every region holds the source's data
     * or the VM's. Its writes went through a loop device into this file's page cache; they are
     * made durable before any bit says so.
     */
    void kernelHydrated() throws IOException {
        synchronized (stateLock) {
            if (!record.state().hydrating()) {
                return;
            }
            local.flush();
            for (long r = present.nextClear(0); r >= 0; r = present.nextClear(r + 1)) {
                present.set(r);
            }
        }
        checkHydrated();
    }

    void commitBitmap() throws IOException {
        if (record.state() == SinkState.COMMITTED) {
            // The journal is gone with the commit; the guest's flushes only owe it the data.
            local.flush();
            return;
        }
        journal.commit(local, present, written, regionSize);
    }

    long journalCommits() {
        return journal.commits();
    }

    // ---------------------------------------------------------------- BlockDevice

    @Override
    public long size() {
        return size;
    }

    /** Fixed from creation on: a client connected in PROXY keeps what it negotiated. */
    @Override
    public Capabilities capabilities() {
        return new Capabilities(false, true, true, true, true, false, true, true);
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        if (proxied(() -> {
            int n = dst.remaining();
            link.call(c -> SourceLink.await(c.readAsync(offset, dst.duplicate())));
            dst.position(dst.limit());
            counters.proxiedReads.add(n);
        })) {
            return;
        }
        try {
            ensureLocal(offset, dst.remaining());
        } catch (BlockIoException e) {
            if (e.errno() != Errno.ENOSPC && e.errno() != Errno.EDQUOT) {
                throw e;
            }
            readAroundFullDisk(offset, dst);
            return;
        }
        local.read(offset, dst);
    }

    /**
     * This node's disk is full, so absent regions cannot be stored: they are read from the
     * source without keeping them (it is fenced, and nothing was written here to a region that
     * is absent, so its bytes are the source's), the present ones locally. The guest's reads go
     * on; only its writes wait for space (QEMU's werror=enospc pauses the VM for those).
     */
    private void readAroundFullDisk(long offset, ByteBuffer dst) throws IOException {
        long end = offset + dst.remaining();
        int base = dst.position();
        long pos = offset;
        while (pos < end) {
            long r = regionOf(pos);
            long stop = Math.min(end, regionEnd(r));
            ByteBuffer piece = dst.duplicate().limit(base + (int) (stop - offset)).position(base + (int) (pos - offset));
            if (present.get(r)) {
                local.read(pos, piece);
            } else {
                long at = pos;
                link.call(c -> SourceLink.await(c.readAsync(at, piece.duplicate())));
                counters.proxiedReads.add(stop - pos);
            }
            pos = stop;
        }
        dst.position(dst.limit());
    }

    /**
     * Once ACTIVE, a range whose regions are all here reads like any local file: from the page
     * cache without waiting, or not at all (then {@link #read} runs on a worker). In PROXY, or
     * with a region absent, the answer may have to cross the network: declined.
     */
    @Override
    public boolean readIfCached(long offset, ByteBuffer dst) throws IOException {
        SinkState s = record.state();
        if (s == SinkState.PROXY || s == SinkState.ABORTING || s == SinkState.ABORTED || !dst.hasRemaining()) {
            return false;
        }
        return allPresent(regionOf(offset), regionOf(offset + dst.remaining() - 1)) && local.readIfCached(offset, dst);
    }

    @Override
    public void write(long offset, ByteBuffer src, boolean fua) throws IOException {
        if (proxied(() -> {
            int n = src.remaining();
            link.call(c -> SourceLink.await(c.writeAsync(offset, src.duplicate(), fua)));
            src.position(src.limit());
            counters.proxiedWrites.add(n);
        })) {
            return;
        }
        long length = src.remaining();
        mutate(offset, length, false, () -> local.write(offset, src, false));
        if (fua) {
            commitBitmap();
        }
    }

    @Override
    public void flush() throws IOException {
        if (proxied(() -> link.call(c -> SourceLink.await(c.flushAsync())))) {
            return;
        }
        commitBitmap();
    }

    @Override
    public void trim(long offset, long length, boolean fua) throws IOException {
        if (proxied(() -> link.call(c -> {
            if (c.canTrim()) {
                c.trim(offset, length);
            }
            return null;
        }))) {
            return;
        }
        // Trim leaves content unspecified, so an absent region it only partly covers is left
        // alone rather than fetched just to be discarded.
        mutate(offset, length, true, () -> local.trim(offset, length, false));
        if (fua) {
            commitBitmap();
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayPunch, boolean fastOnly, boolean fua)
            throws IOException {
        if (proxied(() -> link.call(c -> {
            c.writeZeroes(offset, length, !mayPunch, false);
            return null;
        }))) {
            return;
        }
        mutate(offset, length, false, () -> local.writeZeroes(offset, length, mayPunch, false, false));
        if (fua) {
            commitBitmap();
        }
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) throws IOException {
        java.util.concurrent.atomic.AtomicReference<List<Extent>> proxiedAnswer = new java.util.concurrent.atomic.AtomicReference<>();
        if (proxied(() -> proxiedAnswer.set(link.call(c -> c.blockStatus(offset, length))))) {
            return proxiedAnswer.get();
        }
        long end = Math.min(size, offset + length);
        long r = regionOf(offset);
        boolean here = present.get(r);
        long run = r;
        while (run <= regionOf(end - 1) && present.get(run) == here) {
            run++;
        }
        long runEnd = Math.min(end, run << regionShift);
        if (here) {
            return local.blockStatus(offset, runEnd - offset);
        }
        // The source is fenced, so what it reports for regions not yet fetched is still true.
        try {
            List<Extent> remote = link.call(c -> c.canBlockStatus()
                    ? c.blockStatus(offset, runEnd - offset)
                    : List.of(Extent.data(offset, runEnd - offset)));
            return clip(remote, runEnd);
        } catch (IOException e) {
            return List.of(Extent.data(offset, runEnd - offset));
        }
    }

    private static List<Extent> clip(List<Extent> extents, long end) {
        List<Extent> out = new ArrayList<>();
        for (Extent e : extents) {
            if (e.offset() >= end) {
                break;
            }
            out.add(e.end() <= end ? e : new Extent(e.offset(), end - e.offset(), e.hole(), e.zero()));
        }
        return out;
    }

    @Override
    public void close() throws IOException {
        link.close();
        local.close();
    }

    // ---------------------------------------------------------------- routing

    private interface IoAction {
        void run() throws IOException;
    }

    /** Runs {@code action} if the sink is still a proxy; returns whether it did. */
    private boolean proxied(IoAction action) throws IOException {
        SinkState s = record.state();
        if (s == SinkState.ABORTING || s == SinkState.ABORTED) {
            throw new BlockIoException(Errno.ESHUTDOWN, "sink " + name + " is " + s
                    + ": the migration was aborted; use the source volume");
        }
        if (s != SinkState.PROXY) {
            return false;
        }
        phaseSwitch.readLock().lock();
        try {
            if (record.state() != SinkState.PROXY) {
                return false;
            }
            action.run();
            return true;
        } finally {
            phaseSwitch.readLock().unlock();
        }
    }

    // ---------------------------------------------------------------- regions

    long regionOf(long offset) {
        return offset >>> regionShift;
    }

    long regionStart(long region) {
        return region << regionShift;
    }

    long regionEnd(long region) {
        return Math.min(size, (region + 1) << regionShift);
    }

    private boolean allPresent(long first, long last) {
        for (long r = first; r <= last; r++) {
            if (!present.get(r)) {
                return false;
            }
        }
        return true;
    }

    /** Makes every region overlapping [offset, offset+length) local, fetching each at most once. */
    void ensureLocal(long offset, long length) throws IOException {
        if (length == 0) {
            return;
        }
        long first = regionOf(offset);
        long last = regionOf(offset + length - 1);
        while (!allPresent(first, last)) {
            List<CompletableFuture<Void>> others = new ArrayList<>();
            long r = first;
            while (r <= last) {
                if (present.get(r)) {
                    r++;
                    continue;
                }
                CompletableFuture<Void> claim = new CompletableFuture<>();
                long runEnd = r;
                while (runEnd <= last && !present.get(runEnd) && busy.putIfAbsent(runEnd, claim) == null) {
                    runEnd++;
                }
                if (runEnd == r) {
                    CompletableFuture<Void> other = busy.get(r);
                    if (other != null) {
                        others.add(other);
                    }
                    r++;
                    continue;
                }
                fetchClaimed(r, runEnd, claim);
                r = runEnd;
            }
            for (CompletableFuture<Void> f : others) {
                await(f);
            }
        }
    }

    /**
     * Fetches the claimed regions [from, to) that are still absent, stores them and marks them
     * present, then releases the claims. Runs on the requester's thread: it is what the guest
     * is waiting for.
     */
    private void fetchClaimed(long from, long to, CompletableFuture<Void> claim) throws IOException {
        onDemandInFlight.incrementAndGet();
        lastOnDemandFetchNanos = System.nanoTime();
        try {
            long r = from;
            while (r < to) {
                if (present.get(r)) {
                    r++;
                    continue;
                }
                long runEnd = r;
                while (runEnd < to && !present.get(runEnd)
                        && regionEnd(runEnd) - regionStart(r) <= MAX_FETCH) {
                    runEnd++;
                }
                long off = regionStart(r);
                int len = (int) (regionEnd(runEnd - 1) - off);
                long dataBytes;
                ByteBuffer buf = buffers.acquire(len);
                try {
                    dataBytes = fetchData(off, len, buf);
                    spaceAvailable();
                } catch (BlockIoException e) {
                    if (e.errno() == Errno.EIO) {
                        degrade(e.getMessage());
                    }
                    noteFull(e);
                    throw e;
                } finally {
                    buffers.release(buf);
                }
                for (long k = r; k < runEnd; k++) {
                    markPresent(k);
                }
                counters.fetchedOnDemand.add(dataBytes);
                counters.skippedHoles.add(len - dataBytes);
                counters.onDemandFetches.increment();
                r = runEnd;
            }
        } finally {
            for (long k = from; k < to; k++) {
                busy.remove(k, claim);
            }
            claim.complete(null);
            onDemandInFlight.decrementAndGet();
        }
        if (record.state() == SinkState.DEGRADED) {
            recovered();
        }
        checkHydrated();
    }

    /**
     * Copies [off, off+len) from the source into the local file, asking the source first where
     * its data is (the source is fenced, so the answer stays true): only data crosses the
     * network, and the zero parts are punched locally rather than written as zeroes, so the
     * destination stays as sparse as the source. One round trip more per fetch, on the same
     * connection; a source without BLOCK_STATUS is read whole. Returns the bytes read.
     */
    private long fetchData(long off, int len, ByteBuffer buf) throws IOException {
        long end = off + len;
        // The local writes stay outside the call: a failure of this node's disk is no reason
        // to retry the source.
        List<long[]> data = link.call(c -> {
            List<Extent> zeroes = new ArrayList<>();
            if (c.canBlockStatus()) {
                for (Extent e : c.blockStatus(off, len)) {
                    if (e.zero()) {
                        zeroes.add(e);
                    }
                }
            }
            List<long[]> ranges = BackgroundCopier.dataRanges(off, end, zeroes);
            List<CompletableFuture<Void>> reads = new ArrayList<>(ranges.size());
            for (long[] d : ranges) {
                // readAsync fills the slice's [position, limit) without moving it.
                reads.add(c.readAsync(d[0], buf.clear().slice((int) (d[0] - off), (int) (d[1] - d[0]))));
            }
            for (CompletableFuture<Void> f : reads) {
                SourceLink.await(f);
            }
            return ranges;
        });
        long pos = off;
        long bytes = 0;
        for (long[] d : data) {
            if (d[0] > pos) {
                local.writeZeroes(pos, d[0] - pos, true, false, false);
            }
            local.write(d[0], buf.clear().slice((int) (d[0] - off), (int) (d[1] - d[0])), false);
            bytes += d[1] - d[0];
            pos = d[1];
        }
        if (pos < end) {
            local.writeZeroes(pos, end - pos, true, false, false);
        }
        return bytes;
    }

    void markPresent(long region) {
        if (present.set(region)) {
            journal.changed();
        }
    }

    private void markWritten(long first, long last) {
        for (long r = first; r <= last; r++) {
            if (written.set(r)) {
                journal.changed();
            }
        }
    }

    /**
     * A local change of [offset, offset+length): regions it covers whole need no fetch (they
     * are claimed, changed, and become present: their source bytes never cross the network);
     * regions it covers in part are fetched first, unless {@code skipPartialAbsent} (trim).
     */
    private void mutate(long offset, long length, boolean skipPartialAbsent, IoAction change) throws IOException {
        if (length == 0) {
            return;
        }
        long end = offset + length;
        long first = regionOf(offset);
        long last = regionOf(end - 1);
        markWritten(first, last);
        if (allPresent(first, last)) {
            runLocal(change);
            return;
        }
        boolean headPartial = offset > regionStart(first) || end < regionEnd(first);
        boolean tailPartial = last != first && end < regionEnd(last);
        if (headPartial && !skipPartialAbsent) {
            ensureLocal(regionStart(first), 1);
        }
        CompletableFuture<Void> claim = new CompletableFuture<>();
        List<Long> claimed = new ArrayList<>();
        try {
            long wholeFrom = headPartial ? first + 1 : first;
            long wholeTo = tailPartial ? last - 1 : last;
            for (long r = wholeFrom; r <= wholeTo; r++) {
                claimWhole(r, claim, claimed);
            }
            if (tailPartial && !skipPartialAbsent) {
                ensureLocal(regionStart(last), 1);
            }
            runLocal(change);
            for (long r : claimed) {
                markPresent(r);
                counters.overwrittenNeverFetched.add(regionEnd(r) - regionStart(r));
            }
        } finally {
            for (long r : claimed) {
                busy.remove(r, claim);
            }
            claim.complete(null);
        }
        checkHydrated();
    }

    /** A change of the local file, telling the sink's condition whether it found room. */
    private void runLocal(IoAction change) throws IOException {
        try {
            change.run();
        } catch (BlockIoException e) {
            noteFull(e);
            throw e;
        }
        spaceAvailable();
    }

    private void noteFull(BlockIoException e) {
        if (e.errno() == Errno.ENOSPC || e.errno() == Errno.EDQUOT) {
            if (noSpace(e)) {
                log.warn("sink {}: {}", name, noSpace);
            }
        }
    }

    /** Claims region r if absent (waiting out anyone else's claim first); records it in claimed. */
    private void claimWhole(long r, CompletableFuture<Void> claim, List<Long> claimed) throws IOException {
        while (!present.get(r)) {
            CompletableFuture<Void> other = busy.putIfAbsent(r, claim);
            if (other == null) {
                if (present.get(r)) {
                    busy.remove(r, claim);
                } else {
                    claimed.add(r);
                }
                return;
            }
            await(other);
        }
    }

    /** For the background copier: claims r if it is absent and nobody works on it. */
    boolean tryClaim(long r, CompletableFuture<Void> claim) {
        if (present.get(r) || busy.putIfAbsent(r, claim) != null) {
            return false;
        }
        if (present.get(r)) {
            busy.remove(r, claim);
            return false;
        }
        return true;
    }

    void release(long r, CompletableFuture<Void> claim) {
        busy.remove(r, claim);
    }

    private static void await(CompletableFuture<Void> f) throws IOException {
        try {
            f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BlockIoException(Errno.ESHUTDOWN, "interrupted while waiting for a region");
        } catch (ExecutionException e) {
            // The owner's failure is its own; the waiter looks at the region again.
        }
    }

    // ---------------------------------------------------------------- abort

    /**
     * After ACTIVE an abort is a migration back: only regions written here travel to the
     * (fenced, so unchanged) source; the rest is already there.
     */
    long migrateBack() throws IOException {
        long bytes = 0;
        for (long r = written.nextSet(0); r >= 0; r = written.nextSet(r + 1)) {
            if (!present.get(r)) {
                continue;
            }
            long off = regionStart(r);
            int len = (int) (regionEnd(r) - off);
            ByteBuffer buf = buffers.acquire(len);
            try {
                local.read(off, buf);
                buf.flip();
                link.call(c -> SourceLink.await(c.writeAsync(off, buf.duplicate(), false)));
            } finally {
                buffers.release(buf);
            }
            bytes += len;
            counters.migratedBack.add(len);
        }
        link.call(c -> SourceLink.await(c.flushAsync()));
        return bytes;
    }
}
