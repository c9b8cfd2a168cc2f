package io.dlsm.blockd.nbd.server;

import static io.dlsm.blockd.nbd.Nbd.*;
import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.block.Capabilities;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.nbd.Request;
import io.dlsm.blockd.nbd.server.RequestValidator.ExportView;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class RequestValidatorTest {
    private static final long SIZE = 1 << 20;
    private static final Capabilities ALL = MemoryBlockDevice.ALL;
    private static final Capabilities NO_FUA = new Capabilities(false, true, false, true, true, true, true, true);
    private static final Capabilities NO_FAST_ZERO = new Capabilities(false, true, true, true, true, false, true, true);
    private static final Capabilities NOTHING_OPTIONAL =
            new Capabilities(false, false, false, false, false, false, false, false);

    /** Simple replies only, no meta context. */
    private static final ExportView SIMPLE = new ExportView(SIZE, ALL, false, false);
    /** Structured replies with base:allocation selected. */
    private static final ExportView STRUCTURED = new ExportView(SIZE, ALL, true, true);
    private static final ExportView READ_ONLY = new ExportView(SIZE, ALL.withReadOnly(true), true, true);
    /** Big enough that a maximal payload is in range, so only its length can be wrong. */
    private static final ExportView HUGE_SIMPLE = new ExportView(1L << 40, ALL, false, false);
    private static final ExportView HUGE_STRUCTURED = new ExportView(1L << 40, ALL, true, true);

    /** One row: {@code expected} null means the request is valid. */
    record Case(String name, Request request, ExportView view, Errno expected) {
        @Override
        public String toString() {
            return name + " -> " + (expected == null ? "valid" : expected);
        }
    }

    private static Case row(String name, int type, int flags, long offset, long length, ExportView view,
                            Errno expected) {
        return new Case(name, new Request(flags, type, 7, offset, length), view, expected);
    }

    static Stream<Case> commandsAndFlags() {
        return Stream.of(
                row("unknown command 42", 42, 0, 0, 512, STRUCTURED, Errno.EINVAL),
                row("unknown command 0xffff", 0xffff, 0, 0, 512, STRUCTURED, Errno.EINVAL),
                row("NBD_CMD_CACHE is not offered", NBD_CMD_CACHE, 0, 0, 512, STRUCTURED, Errno.EINVAL),
                row("unknown flag bit on READ", NBD_CMD_READ, 1 << 5, 0, 512, STRUCTURED, Errno.EINVAL),
                row("top flag bit on WRITE", NBD_CMD_WRITE, 0x8000, 0, 512, STRUCTURED, Errno.EINVAL),
                row("NO_HOLE on WRITE", NBD_CMD_WRITE, NBD_CMD_FLAG_NO_HOLE, 0, 512, STRUCTURED, Errno.EINVAL),
                row("REQ_ONE on TRIM", NBD_CMD_TRIM, NBD_CMD_FLAG_REQ_ONE, 0, 512, STRUCTURED, Errno.EINVAL),
                row("DF on BLOCK_STATUS", NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_DF, 0, 512, STRUCTURED, Errno.EINVAL),
                row("FAST_ZERO on WRITE", NBD_CMD_WRITE, NBD_CMD_FLAG_FAST_ZERO, 0, 512, STRUCTURED, Errno.EINVAL),
                row("DF on READ without structured replies", NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 512, SIMPLE,
                        Errno.EINVAL),
                row("DF on READ with structured replies", NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 512, STRUCTURED, null),
                row("DF on WRITE even with structured replies", NBD_CMD_WRITE, NBD_CMD_FLAG_DF, 0, 512, STRUCTURED,
                        Errno.EINVAL),
                row("plain READ", NBD_CMD_READ, 0, 0, 512, SIMPLE, null),
                row("plain WRITE", NBD_CMD_WRITE, 0, 0, 512, SIMPLE, null),
                row("DISC", NBD_CMD_DISC, 0, 0, 0, SIMPLE, null),
                row("FLUSH", NBD_CMD_FLUSH, 0, 0, 0, SIMPLE, null),
                row("FLUSH without flush capability", NBD_CMD_FLUSH, 0, 0, 0,
                        new ExportView(SIZE, NOTHING_OPTIONAL, false, false), Errno.EINVAL),
                row("TRIM without trim capability", NBD_CMD_TRIM, 0, 0, 512,
                        new ExportView(SIZE, NOTHING_OPTIONAL, false, false), Errno.EINVAL),
                row("WRITE_ZEROES without capability", NBD_CMD_WRITE_ZEROES, 0, 0, 512,
                        new ExportView(SIZE, NOTHING_OPTIONAL, false, false), Errno.EINVAL));
    }

    /** The spec: FUA is valid on every command once NBD_FLAG_SEND_FUA was sent (qemu sets it on FLUSH). */
    static Stream<Case> fua() {
        return Stream.of(
                row("FUA on WRITE", NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 512, SIMPLE, null),
                row("FUA on TRIM", NBD_CMD_TRIM, NBD_CMD_FLAG_FUA, 0, 512, SIMPLE, null),
                row("FUA on WRITE_ZEROES", NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FUA, 0, 512, SIMPLE, null),
                row("FUA on READ", NBD_CMD_READ, NBD_CMD_FLAG_FUA, 0, 512, SIMPLE, null),
                row("FUA on FLUSH", NBD_CMD_FLUSH, NBD_CMD_FLAG_FUA, 0, 0, SIMPLE, null),
                row("FUA on BLOCK_STATUS", NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_FUA, 0, 512, STRUCTURED, null),
                row("FUA with DF on READ", NBD_CMD_READ, NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_DF, 0, 512, STRUCTURED,
                        null),
                row("FUA on WRITE without FUA capability", NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 512,
                        new ExportView(SIZE, NO_FUA, false, false), Errno.EINVAL),
                row("FUA on FLUSH without FUA capability", NBD_CMD_FLUSH, NBD_CMD_FLAG_FUA, 0, 0,
                        new ExportView(SIZE, NO_FUA, false, false), Errno.EINVAL));
    }

    static Stream<Case> ranges() {
        return Stream.of(
                row("READ up to the end", NBD_CMD_READ, 0, SIZE - 512, 512, SIMPLE, null),
                row("READ past the end", NBD_CMD_READ, 0, SIZE - 512, 1024, SIMPLE, Errno.EINVAL),
                row("READ starting at the end", NBD_CMD_READ, 0, SIZE, 1, SIMPLE, Errno.EINVAL),
                row("WRITE up to the end", NBD_CMD_WRITE, 0, SIZE - 512, 512, SIMPLE, null),
                row("WRITE past the end", NBD_CMD_WRITE, 0, SIZE - 512, 1024, SIMPLE, Errno.ENOSPC),
                row("TRIM past the end", NBD_CMD_TRIM, 0, SIZE - 512, 1024, SIMPLE, Errno.ENOSPC),
                row("WRITE_ZEROES past the end", NBD_CMD_WRITE_ZEROES, 0, SIZE, 512, SIMPLE, Errno.ENOSPC),
                row("BLOCK_STATUS past the end", NBD_CMD_BLOCK_STATUS, 0, SIZE - 1, 2, STRUCTURED, Errno.EINVAL),
                // Offsets are u64 on the wire: these are 2^64-8 and 2^63, i.e. far past any end.
                row("READ at offset 2^64-8", NBD_CMD_READ, 0, -8, 16, SIMPLE, Errno.EINVAL),
                row("WRITE at offset 2^64-8", NBD_CMD_WRITE, 0, -8, 16, SIMPLE, Errno.ENOSPC),
                row("READ at offset 2^63", NBD_CMD_READ, 0, Long.MIN_VALUE, 1, SIMPLE, Errno.EINVAL),
                row("READ whose end overflows a signed long", NBD_CMD_READ, 0, Long.MAX_VALUE - 100, 4096,
                        SIMPLE, Errno.EINVAL),
                row("TRIM whose end overflows a signed long", NBD_CMD_TRIM, 0, Long.MAX_VALUE, 0xffffffffL,
                        SIMPLE, Errno.ENOSPC));
    }

    static Stream<Case> payloadLimits() {
        return Stream.of(
                row("READ of the maximum payload", NBD_CMD_READ, 0, 0, MAX_PAYLOAD, HUGE_SIMPLE, null),
                row("oversized READ with structured replies", NBD_CMD_READ, 0, 0, MAX_PAYLOAD + 1L,
                        HUGE_STRUCTURED, Errno.EOVERFLOW),
                row("oversized READ with simple replies", NBD_CMD_READ, 0, 0, MAX_PAYLOAD + 1L, HUGE_SIMPLE,
                        Errno.EINVAL),
                row("READ of 2^32-1 bytes with structured replies", NBD_CMD_READ, 0, 0, 0xffffffffL,
                        HUGE_STRUCTURED, Errno.EOVERFLOW),
                row("oversized WRITE with simple replies", NBD_CMD_WRITE, 0, 0, MAX_PAYLOAD + 1L, HUGE_SIMPLE,
                        Errno.EINVAL),
                // TRIM and WRITE_ZEROES carry no payload, so their length is only a range.
                row("TRIM longer than the maximum payload", NBD_CMD_TRIM, 0, 0, 0xffffffffL, HUGE_SIMPLE, null));
    }

    static Stream<Case> readOnly() {
        return Stream.of(
                row("WRITE on a read-only export", NBD_CMD_WRITE, 0, 0, 512, READ_ONLY, Errno.EPERM),
                row("TRIM on a read-only export", NBD_CMD_TRIM, 0, 0, 512, READ_ONLY, Errno.EPERM),
                row("WRITE_ZEROES on a read-only export", NBD_CMD_WRITE_ZEROES, 0, 0, 512, READ_ONLY, Errno.EPERM),
                row("READ on a read-only export", NBD_CMD_READ, 0, 0, 512, READ_ONLY, null),
                row("FLUSH on a read-only export", NBD_CMD_FLUSH, 0, 0, 0, READ_ONLY, null),
                row("BLOCK_STATUS on a read-only export", NBD_CMD_BLOCK_STATUS, 0, 0, 512, READ_ONLY, null));
    }

    static Stream<Case> blockStatusAndZeroes() {
        return Stream.of(
                row("BLOCK_STATUS with base:allocation", NBD_CMD_BLOCK_STATUS, 0, 0, SIZE, STRUCTURED, null),
                row("BLOCK_STATUS with REQ_ONE", NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_REQ_ONE, 0, 512, STRUCTURED,
                        null),
                row("BLOCK_STATUS without a negotiated context", NBD_CMD_BLOCK_STATUS, 0, 0, 512,
                        new ExportView(SIZE, ALL, true, false), Errno.EINVAL),
                row("BLOCK_STATUS of length 0", NBD_CMD_BLOCK_STATUS, 0, 0, 0, STRUCTURED, Errno.EINVAL),
                row("WRITE_ZEROES with NO_HOLE", NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 0, 512, SIMPLE, null),
                row("WRITE_ZEROES with FAST_ZERO", NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0, 512, SIMPLE,
                        null),
                row("FAST_ZERO without the fast-zero capability", NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0,
                        512, new ExportView(SIZE, NO_FAST_ZERO, false, false), Errno.EINVAL));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource({"commandsAndFlags", "fua", "ranges", "payloadLimits", "readOnly", "blockStatusAndZeroes"})
    void decidesValidityAndErrno(Case c) {
        assertThat(RequestValidator.validate(c.request(), c.view()))
                .as(c.request().toString())
                .isEqualTo(Optional.ofNullable(c.expected()));
    }
}
