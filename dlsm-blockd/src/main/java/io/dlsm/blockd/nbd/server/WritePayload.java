package io.dlsm.blockd.nbd.server;

import io.dlsm.blockd.block.BlockDevice;
import io.dlsm.blockd.nbd.BufferPool;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * A WRITE's data, received in chunks as it arrives: memory follows the bytes that came, not
 * the length the header claimed, so a client announcing 32 MiB and sending a trickle holds
 * one chunk. Each chunk's memory is reserved from the server's budget before it is read.
 */
final class WritePayload {
    /** Bytes received into one buffer; also what a slow sender holds beyond what it sent. */
    static final int CHUNK = 256 * 1024;

    private final BufferPool buffers;
    private final MemoryBudget.Claim claim;
    private final List<ByteBuffer> chunks = new ArrayList<>();

    private WritePayload(BufferPool buffers, MemoryBudget.Claim claim) {
        this.buffers = buffers;
        this.claim = claim;
    }

    /** Reads {@code length} bytes; on failure nothing stays claimed. */
    static WritePayload receive(InboundFrames in, long length, BufferPool buffers, MemoryBudget.Claim claim,
                                Reservations waiting) throws IOException, InterruptedException {
        WritePayload p = new WritePayload(buffers, claim);
        boolean done = false;
        try {
            long left = length;
            while (left > 0) {
                int n = (int) Math.min(left, CHUNK);
                int capacity = BufferPool.capacityFor(n);
                waiting.reserve(claim, capacity);
                ByteBuffer b = buffers.acquire(n);
                p.chunks.add(b);
                in.readFully(b);
                b.flip();
                left -= n;
            }
            done = true;
            return p;
        } finally {
            if (!done) {
                p.release();
            }
        }
    }

    /**
     * Writes the chunks in order. Only the last carries FUA: a FUA write makes the device's
     * completed writes durable (an fdatasync of the file, a sink's bitmap commit), which covers
     * the chunks before it.
     */
    void writeTo(BlockDevice dev, long offset, boolean fua) throws IOException {
        long pos = offset;
        for (int i = 0; i < chunks.size(); i++) {
            ByteBuffer c = chunks.get(i);
            int n = c.remaining();
            dev.write(pos, c, fua && i == chunks.size() - 1);
            pos += n;
        }
    }

    void release() {
        for (ByteBuffer c : chunks) {
            buffers.release(c);
        }
        chunks.clear();
        claim.release();
    }

    /** How a reader waits for the server's budget (it marks the connection as waiting meanwhile). */
    interface Reservations {
        void reserve(MemoryBudget.Claim claim, long bytes) throws IOException, InterruptedException;
    }
}
