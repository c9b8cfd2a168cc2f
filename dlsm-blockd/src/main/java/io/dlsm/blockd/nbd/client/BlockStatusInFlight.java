package io.dlsm.blockd.nbd.client;

import io.dlsm.blockd.block.Extent;
import io.dlsm.blockd.nbd.Nbd;
import io.dlsm.blockd.nbd.ProtocolException;
import io.dlsm.blockd.nbd.ReplyHeader;
import io.dlsm.blockd.nbd.Request;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.ArrayList;
import java.util.List;

/**
 * A BLOCK_STATUS for base:allocation. Descriptors are streamed through the scratch buffer, and
 * only those inside the requested range are kept, so a long reply costs no large allocation.
 */
final class BlockStatusInFlight extends InFlight<List<Extent>> {
    private final int contextId;
    private final List<Extent> extents = new ArrayList<>();
    private boolean seen;

    BlockStatusInFlight(Request request, int contextId) {
        super(request);
        this.contextId = contextId;
    }

    @Override
    void readSimplePayload(ReadableByteChannel ch) throws ProtocolException {
        throw new ProtocolException("successful simple reply to " + request + "; block status needs a structured reply");
    }

    @Override
    void onDataChunk(ReplyHeader.Structured h, ReadableByteChannel ch, ByteBuffer scratch) throws IOException {
        if (h.type() != Nbd.NBD_REPLY_TYPE_BLOCK_STATUS) {
            super.onDataChunk(h, ch, scratch);
            return;
        }
        long descriptorBytes = h.length() - 4;
        // Every descriptor covers at least one byte, so more descriptors than requested bytes is garbage.
        if (descriptorBytes < Nbd.BLOCK_STATUS_DESCRIPTOR_SIZE || descriptorBytes % Nbd.BLOCK_STATUS_DESCRIPTOR_SIZE != 0
                || descriptorBytes / Nbd.BLOCK_STATUS_DESCRIPTOR_SIZE > request.length()) {
            throw new ProtocolException("BLOCK_STATUS chunk of " + h.length() + " bytes for " + request);
        }
        int id = readSmall(ch, scratch, 4).getInt();
        if (id != contextId || seen) {
            // We negotiated one context: anything else is not ours to interpret.
            throw new ProtocolException("BLOCK_STATUS chunk for context " + id + " (expected one for "
                    + contextId + ") for " + request);
        }
        seen = true;
        long cursor = request.offset();
        long end = request.offset() + request.length();
        long left = descriptorBytes / Nbd.BLOCK_STATUS_DESCRIPTOR_SIZE;
        int perBatch = scratch.capacity() / Nbd.BLOCK_STATUS_DESCRIPTOR_SIZE;
        while (left > 0) {
            int batch = (int) Math.min(left, perBatch);
            ByteBuffer b = readSmall(ch, scratch, batch * Nbd.BLOCK_STATUS_DESCRIPTOR_SIZE);
            for (int i = 0; i < batch; i++) {
                long length = Integer.toUnsignedLong(b.getInt());
                int flags = b.getInt();
                if (length == 0) {
                    throw new ProtocolException("zero-length block status descriptor for " + request);
                }
                // The last extent may run past the request; the caller asked only up to end.
                if (cursor < end) {
                    long clipped = Math.min(length, end - cursor);
                    extents.add(new Extent(cursor, clipped, (flags & Nbd.NBD_STATE_HOLE) != 0,
                            (flags & Nbd.NBD_STATE_ZERO) != 0));
                }
                cursor += length;
            }
            left -= batch;
        }
    }

    @Override
    List<Extent> result() throws ProtocolException {
        if (extents.isEmpty()) {
            throw new ProtocolException("no base:allocation descriptors in the reply to " + request);
        }
        return List.copyOf(extents);
    }
}
