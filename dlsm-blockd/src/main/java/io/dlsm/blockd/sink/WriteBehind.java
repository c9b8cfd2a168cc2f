package io.dlsm.blockd.sink;

import io.dlsm.blockd.volume.FileBlockDevice;
import java.io.IOException;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps a bulk copy from filling the page cache: every stored range starts its writeback at
 * once, and once more than {@link #WINDOW_BYTES} are pending the oldest ranges are waited for
 * and dropped from the cache. A hydrating volume is mostly data the guest has not asked for;
 * caching all of it would push the compute node's useful pages out, and allocating a fresh
 * page for every copied byte is itself the slowest part of storing it (on hosts that hand
 * free memory back to a hypervisor, each new page is a fault there). Recycling a small window
 * of pages is what nbdcopy does for the same reason.
 *
 * <p>Write-behind says nothing about durability: the sink's fdatasync before each bitmap
 * commit is still what makes fetched data durable. Eviction never discards dirty data, so a
 * guest write to a range being evicted stays cached. Used from one thread only.
 */
final class WriteBehind {
    private static final Logger log = LoggerFactory.getLogger(WriteBehind.class);
    static final long WINDOW_BYTES = 8L << 20;

    private final String sinkName;
    private final FileBlockDevice local;
    private final ArrayDeque<long[]> pending = new ArrayDeque<>();
    private long pendingBytes;
    private boolean disabled;

    WriteBehind(String sinkName, FileBlockDevice local) {
        this.sinkName = sinkName;
        this.local = local;
    }

    /** [offset, offset + length) was just written. */
    void stored(long offset, long length) {
        if (disabled) {
            return;
        }
        try {
            local.startWriteback(offset, length);
            pending.addLast(new long[] {offset, length});
            pendingBytes += length;
            while (pendingBytes > WINDOW_BYTES) {
                evictOldest();
            }
        } catch (IOException e) {
            disable(e);
        }
    }

    /** Writes back and drops everything still pending. */
    void finish() {
        try {
            while (!pending.isEmpty() && !disabled) {
                evictOldest();
            }
        } catch (IOException e) {
            disable(e);
        }
    }

    private void evictOldest() throws IOException {
        long[] r = pending.removeFirst();
        pendingBytes -= r[1];
        local.writeBackAndEvict(r[0], r[1]);
    }

    /** The data is in the page cache either way; only the cache footprint is lost. */
    private void disable(IOException e) {
        disabled = true;
        pending.clear();
        pendingBytes = 0;
        log.warn("sink {}: write-behind off, copied data stays in the page cache: {}", sinkName, e.toString());
    }
}
