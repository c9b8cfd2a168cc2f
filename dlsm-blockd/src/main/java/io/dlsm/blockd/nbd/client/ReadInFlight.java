package io.dlsm.blockd.nbd.client;

import io.dlsm.blockd.nbd.Channels;
import io.dlsm.blockd.nbd.Nbd;
import io.dlsm.blockd.nbd.ProtocolException;
import io.dlsm.blockd.nbd.ReplyHeader;
import io.dlsm.blockd.nbd.Request;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.Arrays;

/**
 * A READ: data and hole chunks may arrive in any order and are placed by their offset, straight
 * from the socket into the caller's buffer.
 */
final class ReadInFlight extends InFlight<Void> {
    /** Exactly the request's length, position 0 = request offset. */
    private final ByteBuffer target;
    private long covered;

    ReadInFlight(Request request, ByteBuffer target) {
        super(request);
        this.target = target;
    }

    @Override
    void readSimplePayload(ReadableByteChannel ch) throws IOException {
        Channels.readFully(ch, target.duplicate().clear());
        covered = request.length();
    }

    @Override
    void onDataChunk(ReplyHeader.Structured h, ReadableByteChannel ch, ByteBuffer scratch) throws IOException {
        if (h.type() == Nbd.NBD_REPLY_TYPE_OFFSET_DATA) {
            // Checked before reading: the payload must fit in what was asked for.
            if (h.length() <= 8 || h.length() - 8 > request.length()) {
                throw new ProtocolException("OFFSET_DATA chunk of " + h.length() + " bytes for " + request);
            }
            int dataLength = (int) (h.length() - 8);
            int at = placement(readSmall(ch, scratch, 8).getLong(), dataLength);
            Channels.readFully(ch, target.duplicate().limit(at + dataLength).position(at));
            covered += dataLength;
        } else if (h.type() == Nbd.NBD_REPLY_TYPE_OFFSET_HOLE) {
            if (h.length() != 12) {
                throw new ProtocolException("OFFSET_HOLE chunk of " + h.length() + " bytes for " + request);
            }
            ByteBuffer b = readSmall(ch, scratch, 12);
            long offset = b.getLong();
            long holeLength = Integer.toUnsignedLong(b.getInt());
            if (holeLength == 0 || holeLength > request.length()) {
                throw new ProtocolException("hole of " + holeLength + " bytes for " + request);
            }
            int at = placement(offset, (int) holeLength);
            zeroFill(at, (int) holeLength, scratch);
            covered += holeLength;
        } else {
            super.onDataChunk(h, ch, scratch);
        }
    }

    /** Zeroes the target range in scratch-sized bulk copies rather than byte by byte. */
    private void zeroFill(int at, int length, ByteBuffer scratch) {
        scratch.clear();
        Arrays.fill(scratch.array(), scratch.arrayOffset(), scratch.arrayOffset() + scratch.capacity(), (byte) 0);
        for (int done = 0; done < length; ) {
            int n = Math.min(scratch.capacity(), length - done);
            target.put(at + done, scratch, 0, n);
            done += n;
        }
    }

    /** Where a chunk for {@code offset..+length} goes in the target; outside the request is fatal. */
    private int placement(long offset, int length) throws ProtocolException {
        long rel = offset - request.offset();
        if (rel < 0 || rel + length > request.length()) {
            throw new ProtocolException("chunk " + offset + "+" + length + " outside " + request);
        }
        return (int) rel;
    }

    @Override
    Void result() throws ProtocolException {
        // Chunks must cover the request exactly once; anything else leaves stale bytes behind.
        if (covered != request.length()) {
            throw new ProtocolException("reply covered " + covered + " of " + request.length() + " bytes of " + request);
        }
        return null;
    }
}
