package io.dlsm.tests;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.tests.support.OneBlockdPerClass;
import io.dlsm.tests.support.PeerCommand;
import org.junit.jupiter.api.Test;

/**
 * libnbd's Python bindings (nbdsh) reach the protocol's corners request by request. Scripts
 * assert in Python: a failed assert exits non-zero and PeerCommand shows the traceback.
 * libnbd checks bounds and capabilities on the client side by default, so scripts that want
 * the server to see a bad request clear the strict-mode bits first.
 */
class NbdshAgainstBlockdTest extends OneBlockdPerClass {
    private static final long SIZE = 8L << 20;
    /** Runs the script with handle {@code h} connected (base:allocation requested) to a new volume. */
    private static void nbdsh(String volume, boolean readOnly, String script) {
        blockd.createVolume(volume, SIZE, readOnly);
        PeerCommand.Result r = PeerCommand.ok("/usr/bin/python3", "-m", "nbd", "--base-allocation",
                "-u", blockd.nbdUri(volume), "-c", script + "\nprint('SCRIPT-DONE')\n");
        assertThat(r.stdout()).as(r.describe()).contains("SCRIPT-DONE");
    }

    @Test
    void fuaWriteThenRead() {
        nbdsh("fua", false, """
                assert h.can_fua()
                data = bytes(range(256)) * 17
                h.pwrite(data, 4093, nbd.CMD_FLAG_FUA)
                assert h.pread(len(data), 4093) == data
                assert h.pread(1, 4092) == b"\\0"
                """);
    }

    @Test
    void zeroWithNoHoleAndFastZeroAndTrimReadBackAsZeroes() {
        nbdsh("zero", false, """
                h.pwrite(b"\\xab" * (1 << 20), 0)
                h.zero(65536, 4096, nbd.CMD_FLAG_NO_HOLE)
                assert h.pread(65536, 4096) == bytes(65536)
                assert h.can_fast_zero()
                h.zero(65536, 131072, nbd.CMD_FLAG_FAST_ZERO)
                assert h.pread(65536, 131072) == bytes(65536)
                h.trim(65536, 262144)
                assert h.pread(65536, 262144) == bytes(65536)
                assert h.pread(4096, 0) == b"\\xab" * 4096
                assert h.pread(4096, 69632) == b"\\xab" * 4096
                assert h.pread(4096, 327680) == b"\\xab" * 4096
                """);
    }

    @Test
    void blockStatusWithReqOneReturnsExactlyOneExtent() {
        nbdsh("reqone", false, """
                h.pwrite(b"\\x01" * 65536, 0)
                seen = []
                def cb(metacontext, offset, entries, err):
                    seen.append((metacontext, offset, list(entries)))
                    return 0
                h.block_status(1 << 20, 0, cb, nbd.CMD_FLAG_REQ_ONE)
                assert len(seen) == 1, seen
                ctx, offset, entries = seen[0]
                assert ctx == "base:allocation" and offset == 0, seen
                assert len(entries) == 2, seen          # one (length, flags) pair
                assert 0 < entries[0] <= 65536 and entries[1] == 0, seen
                seen.clear()
                h.block_status(1 << 20, 1 << 20, cb, nbd.CMD_FLAG_REQ_ONE)
                assert len(seen[0][2]) == 2 and seen[0][2][1] == 3, seen   # hole,zero
                """);
    }

    @Test
    void manyConcurrentAioRequestsCompleteWithTheRightContent() {
        // Mixed sizes make out-of-order completion likely; correctness is checked by content.
        nbdsh("aio", false, """
                import os
                sizes = [512, 1 << 17, 4096, 65536, 1, 3 << 15]
                reqs = []
                offset = 0
                for i in range(96):
                    n = sizes[i % len(sizes)]
                    reqs.append((offset, os.urandom(n)))
                    offset += n + 4096
                assert offset < h.get_size()
                order = []
                def done(i):
                    return lambda err: order.append(i) or 1
                for i, (off, data) in enumerate(reqs):
                    h.aio_pwrite(data, off, completion=done(i))
                def drain():
                    while h.aio_in_flight() > 0:
                        if h.poll(10000) == 0:
                            raise RuntimeError("no progress for 10 s with %d in flight" % h.aio_in_flight())
                drain()
                assert sorted(order) == list(range(len(reqs)))
                writes_out_of_order = order != sorted(order)
                order.clear()
                bufs = [nbd.Buffer(len(data)) for _, data in reqs]
                for i, (off, data) in enumerate(reqs):
                    h.aio_pread(bufs[i], off, completion=done(i))
                drain()
                for i, (off, data) in enumerate(reqs):
                    assert bufs[i].to_bytearray() == data, "request %d at %d differs" % (i, off)
                print("out-of-order writes:", writes_out_of_order, "reads:", order != sorted(order))
                """);
    }

    @Test
    void outOfRangeReadIsAnEinvalErrorAndTheHandleKeepsWorking() {
        nbdsh("range", false, """
                h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_BOUNDS)
                h.pwrite(b"ok" * 2048, 0)
                for off, n in [(h.get_size() - 4, 8), (h.get_size(), 1), ((1 << 63) - 1, 512)]:
                    try:
                        h.pread(n, off)
                        raise AssertionError("read of %d at %d succeeded" % (n, off))
                    except nbd.Error as e:
                        assert e.errno in ("EINVAL", errno.EINVAL), (off, e.errno, e.string)
                assert h.pread(4096, 0) == b"ok" * 2048
                """.replace("h.set_strict", "import errno\nh.set_strict"));
    }

    @Test
    void readOnlyExportRefusesEveryMutationWithEperm() {
        nbdsh("ro", true, """
                import errno
                assert h.is_read_only()
                h.set_strict_mode(0)
                for name, op in [("write", lambda: h.pwrite(b"x", 0)),
                                 ("write+fua", lambda: h.pwrite(b"x", 0, nbd.CMD_FLAG_FUA)),
                                 ("zero", lambda: h.zero(512, 0)),
                                 ("trim", lambda: h.trim(512, 0))]:
                    try:
                        op()
                        raise AssertionError(name + " succeeded on a read-only export")
                    except nbd.Error as e:
                        assert e.errno in ("EPERM", errno.EPERM), (name, e.errno, e.string)
                assert h.pread(512, 0) == bytes(512)
                """);
    }

    /*
     * NBD_CMD_FLAG_NO_HOLE promises a provisioned range; the spec's HOLE means "future writes
     * may fragment or fail with ENOSPC", so block status must not report such a range as a hole
     * (ext4's unwritten extents from fallocate ZERO_RANGE would be).
     */
    @Test
    void zeroWithNoHoleIsNotReportedAsAHole() {
        nbdsh("nohole", false, """
                h.pwrite(b"\\x11" * 65536, 0)
                h.zero(65536, 0, nbd.CMD_FLAG_NO_HOLE)
                seen = []
                h.block_status(65536, 0, lambda c, o, e, err: seen.append(list(e)) or 0)
                assert seen[0][1] & 1 == 0, "range zeroed with NO_HOLE reported as hole: %s" % seen
                """);
    }
}
