#!/usr/bin/python3
"""Helpers for hydration-bench.sh: JSON, polling, and NBD I/O through libnbd.

Run with /usr/bin/python3 (the system interpreter that has python3-libnbd), never pyenv's.
Only the standard library plus the `nbd` module are used.
"""
import datetime
import json
import random
import sys
import time
import urllib.request


def _get(url, header_file=None, timeout=10):
    """GET url; header_file holds the "Authorization: Bearer ..." line blockd's API requires."""
    req = urllib.request.Request(url)
    if header_file:
        with open(header_file) as f:
            name, _, value = f.read().strip().partition(": ")
        req.add_header(name, value)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def _iso(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def cmd_field(args):
    """field KEY [KEY...]: print values of top-level keys of the JSON on stdin, one per line."""
    doc = json.load(sys.stdin)
    for k in args:
        v = doc.get(k)
        print("" if v is None else v)


def cmd_wait(args):
    """wait URL STATES TIMEOUT [HEADER-FILE]: poll URL every 20 ms until .state is one of STATES
    (comma list), with the Authorization header in HEADER-FILE.

    Prints the final JSON document; exits 1 on timeout or when the sink reports FAILED.
    """
    url, states, timeout = args[0], set(args[1].split(",")), float(args[2])
    header_file = args[3] if len(args) > 3 else None
    deadline = time.monotonic() + timeout
    doc = None
    while time.monotonic() < deadline:
        doc = _get(url, header_file)
        if doc.get("state") in states:
            print(json.dumps(doc))
            return 0
        if doc.get("state") in ("FAILED", "ABORTED"):
            break
        time.sleep(0.02)
    sys.stderr.write("wait: gave up on %s, last: %s\n" % (url, json.dumps(doc)))
    print(json.dumps(doc))
    return 1


def cmd_t12(args):
    """t12: seconds from t1 to t2 of the sink JSON on stdin."""
    doc = json.load(sys.stdin)
    print("%.6f" % (_iso(doc["t2"]) - _iso(doc["t1"])).total_seconds())


def cmd_offsets(args):
    """offsets SIZE REGION N SEED FIRST_REGION: N distinct random regions >= FIRST_REGION,
    one 4 KiB-aligned offset inside each, one per line."""
    size, region, n, seed, first = (int(a) for a in args)
    total = size // region
    rnd = random.Random(seed)
    picks = rnd.sample(range(first, total), n)
    for r in picks:
        print(r * region + rnd.randrange(region // 4096) * 4096)


def cmd_reads(args):
    """reads URI OFFSETS_FILE [DUMP]: one synchronous 4 KiB pread per offset; prints
    'n p50_us p99_us max_us p99_us_without_first_10%'; DUMP receives every latency in issue order (ns)."""
    import nbd
    uri, path = args[0], args[1]
    dump = args[2] if len(args) > 2 else None
    with open(path) as f:
        offs = [int(x) for x in f if x.strip()]
    h = nbd.NBD()
    h.connect_uri(uri)
    lat = []
    for off in offs:
        t = time.perf_counter_ns()
        h.pread(4096, off)
        lat.append(time.perf_counter_ns() - t)
    h.shutdown()
    if dump:
        with open(dump, "w") as f:
            f.write("".join("%d\n" % x for x in lat))
    warm = sorted(lat[len(lat) // 10:])  # without the first 10 % (JIT warm-up of the path)
    lat.sort()

    def pct(v, p):
        return v[min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1)] / 1000.0

    print("%d %.1f %.1f %.1f %.1f" % (len(lat), pct(lat, 50), pct(lat, 99), lat[-1] / 1000.0, pct(warm, 99)))


def _payload(seed, region, idx):
    base = bytearray(random.Random(seed).randbytes(region))
    base[0:8] = idx.to_bytes(8, "little")
    return base


def _rewritten(size, region, fraction, seed):
    total = size // region
    return random.Random(seed).sample(range(total), int(total * fraction))


def cmd_writer(args):
    """writer URI SIZE REGION FRACTION SEED: overwrite FRACTION of the regions (seeded random
    indices) with whole-region writes, 16 in flight; prints 'regions seconds'."""
    import nbd
    uri, size, region, fraction, seed = args[0], int(args[1]), int(args[2]), float(args[3]), int(args[4])
    picks = _rewritten(size, region, fraction, seed)
    base = _payload(seed, region, 0)
    h = nbd.NBD()
    h.connect_uri(uri)
    errors = []

    def done(err):
        if err.value:
            errors.append(err.value)
        return 1  # retire the command here

    t = time.monotonic()
    bufs = []
    for idx in picks:
        deadline = time.monotonic() + 60
        while h.aio_in_flight() >= 16 and time.monotonic() < deadline:
            h.poll(1000)
        base[0:8] = idx.to_bytes(8, "little")
        buf = nbd.Buffer.from_bytearray(base)
        bufs.append(buf)  # libnbd reads it asynchronously: keep it alive while in flight
        h.aio_pwrite(buf, idx * region, completion=done)
        if len(bufs) > 64:
            bufs = bufs[-32:]
    deadline = time.monotonic() + 120
    while h.aio_in_flight() > 0 and time.monotonic() < deadline:
        h.poll(1000)
    if h.aio_in_flight() > 0 or errors:
        sys.stderr.write("writer: %d still in flight, errors %r\n" % (h.aio_in_flight(), errors[:5]))
        return 1
    h.flush()
    el = time.monotonic() - t
    h.shutdown()
    print("%d %.3f" % (len(picks), el))


def cmd_verify(args):
    """verify SINK_IMG SOURCE_IMG SIZE REGION FRACTION SEED: the committed sink must hold the
    writer's bytes in rewritten regions and the source's bytes elsewhere; prints mismatches."""
    sink, src, size, region, fraction, seed = (args[0], args[1], int(args[2]), int(args[3]),
                                               float(args[4]), int(args[5]))
    picks = set(_rewritten(size, region, fraction, seed))
    base = _payload(seed, region, 0)
    bad = 0
    with open(sink, "rb") as a, open(src, "rb") as b:
        for idx in range(size // region):
            got = a.read(region)
            exp = b.read(region)
            if idx in picks:
                base[0:8] = idx.to_bytes(8, "little")
                exp = bytes(base)
            if got != exp:
                bad += 1
    print(bad)
    return 0 if bad == 0 else 1


def cmd_freeport(args):
    """freeport: a TCP port on 127.0.0.1 that was free a moment ago."""
    import socket
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        print(so.getsockname()[1])


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    rc = globals()["cmd_" + cmd.replace("-", "_")](args)
    sys.exit(rc or 0)


if __name__ == "__main__":
    main()
