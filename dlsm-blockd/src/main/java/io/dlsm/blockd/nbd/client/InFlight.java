package io.dlsm.blockd.nbd.client;

import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.nbd.Channels;
import io.dlsm.blockd.nbd.Nbd;
import io.dlsm.blockd.nbd.NbdErrors;
import io.dlsm.blockd.nbd.ProtocolException;
import io.dlsm.blockd.nbd.ReplyHeader;
import io.dlsm.blockd.nbd.Request;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;

/**
 * One sent request waiting for its reply. The reader thread feeds it the reply from the wire;
 * it consumes exactly the bytes that belong to it, so framing survives a failed request.
 * A {@link ProtocolException} thrown from here means the peer broke framing: the connection dies.
 */
abstract class InFlight<T> {
    /** Error chunk payload bound: error u32, length u16, message (u16-bounded), offset u64. */
    private static final int MAX_ERROR_CHUNK = 4 + 2 + 0xffff + 8;

    final Request request;
    final CompletableFuture<T> future = new CompletableFuture<>();
    /** First error chunk seen; a structured reply only ends at the DONE chunk. */
    private BlockIoException error;

    InFlight(Request request) {
        this.request = request;
    }

    /** A successful reply's result, called once the reply is complete and error-free. */
    abstract T result() throws IOException;

    /** Payload of a successful simple reply; only READ has one. */
    void readSimplePayload(ReadableByteChannel ch) throws IOException {
    }

    /** A non-error, non-NONE chunk; subclasses accept the types their command may get. */
    void onDataChunk(ReplyHeader.Structured h, ReadableByteChannel ch, ByteBuffer scratch) throws IOException {
        throw new ProtocolException("unexpected reply chunk type " + h.type() + " for " + request);
    }

    /** Consumes a simple reply; the caller then calls {@link #finish()}. */
    final void onSimpleReply(int wireError, ReadableByteChannel ch) throws IOException {
        if (wireError != 0) {
            error = failure(NbdErrors.fromWire(wireError), null, -1);
            return;
        }
        readSimplePayload(ch);
    }

    /** Consumes one structured chunk; returns whether it was the last one (DONE). */
    final boolean onChunk(ReplyHeader.Structured h, ReadableByteChannel ch, ByteBuffer scratch) throws IOException {
        if (h.type() == Nbd.NBD_REPLY_TYPE_NONE) {
            if (h.length() != 0 || !h.done()) {
                throw new ProtocolException("NBD_REPLY_TYPE_NONE must be empty and final, for " + request);
            }
        } else if (h.isError()) {
            onErrorChunk(h, ch);
        } else {
            onDataChunk(h, ch, scratch);
        }
        return h.done();
    }

    /** Completes the future from what the reply carried. */
    final void finish() {
        if (error != null) {
            future.completeExceptionally(error);
            return;
        }
        try {
            future.complete(result());
        } catch (IOException | RuntimeException e) {
            future.completeExceptionally(e);
        }
    }

    final void fail(Throwable cause) {
        future.completeExceptionally(cause);
    }

    private void onErrorChunk(ReplyHeader.Structured h, ReadableByteChannel ch) throws IOException {
        if (h.length() < 6 || h.length() > MAX_ERROR_CHUNK) {
            throw new ProtocolException("error chunk of " + h.length() + " bytes for " + request);
        }
        ByteBuffer payload = ByteBuffer.allocate((int) h.length());
        Channels.readFully(ch, payload);
        payload.flip();
        int wireError = payload.getInt();
        int messageLength = Short.toUnsignedInt(payload.getShort());
        // Unknown error types still start with error and message (spec), so they are read alike.
        int trailer = h.type() == Nbd.NBD_REPLY_TYPE_ERROR_OFFSET ? 8 : 0;
        if (h.type() == Nbd.NBD_REPLY_TYPE_ERROR || h.type() == Nbd.NBD_REPLY_TYPE_ERROR_OFFSET
                ? messageLength != payload.remaining() - trailer
                : messageLength > payload.remaining()) {
            throw new ProtocolException("error chunk message length " + messageLength + " does not match chunk length "
                    + h.length() + " for " + request);
        }
        byte[] message = new byte[messageLength];
        payload.get(message);
        long errorOffset = -1;
        if (trailer > 0) {
            errorOffset = payload.getLong();
            if (errorOffset < request.offset() || errorOffset >= request.offset() + request.length()) {
                throw new ProtocolException("error offset " + errorOffset + " outside " + request);
            }
        }
        // Error value 0 in an error chunk is a server bug; the request still failed.
        Errno errno = wireError == 0 ? Errno.EIO : NbdErrors.fromWire(wireError);
        if (error == null) {
            error = failure(errno, new String(message, StandardCharsets.UTF_8), errorOffset);
        }
    }

    private BlockIoException failure(Errno errno, String serverMessage, long errorOffset) {
        StringBuilder sb = new StringBuilder()
                .append(Nbd.commandName(request.type()))
                .append(" offset=").append(request.offset())
                .append(" length=").append(request.length())
                .append(" failed: ").append(errno);
        if (errorOffset >= 0) {
            sb.append(" at offset ").append(errorOffset);
        }
        if (serverMessage != null && !serverMessage.isEmpty()) {
            sb.append(" (server: ").append(serverMessage).append(')');
        }
        return new BlockIoException(errno, sb.toString());
    }

    /** Reads {@code n} (small) bytes into {@code scratch}, ready to get from. */
    static ByteBuffer readSmall(ReadableByteChannel ch, ByteBuffer scratch, int n) throws IOException {
        scratch.clear().limit(n);
        Channels.readFully(ch, scratch);
        return scratch.flip();
    }
}
