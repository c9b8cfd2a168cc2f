#!/usr/bin/python3
"""Helpers for the VM migration lab (stdlib only; run with /usr/bin/python3).

  vmlab.py pool PATH                         the 2 MiB seeded pool the guest's records use
  vmlab.py image PATH SIZE_MIB SLOTS POOL    a disk holding records 0..SLOTS-1 (rest: hole)
  vmlab.py verify-image PATH SLOTS LAST POOL check every record + that the rest reads zero
  vmlab.py qmp SOCK CMD [JSON-ARGS]          one QMP command, prints its return as JSON
  vmlab.py migrate SOCK URI TIMEOUT [JOB [DST_SOCK]]  migrate, poll query-migrate; prints
                                             JSON (JOB: cancel that mirror at pre-switchover, ""
                                             for none; DST_SOCK: the destination's QMP, quit the
                                             source once the destination runs)
  vmlab.py mirror SOCK DEVICE TARGET MODE LIMIT   drive-mirror, wait until ready (or LIMIT s)
  vmlab.py cancel SOCK JOB TIMEOUT [force]   block-job-cancel and wait until the job is gone
  vmlab.py send SOCK LINE                    write LINE to a chardev socket (the guest console)
  vmlab.py wait-console FILE REGEX TIMEOUT   wait for a console line; prints it
  vmlab.py last-prog FILE                    the last "PROG" line as JSON {up, id, w, r, err}
  vmlab.py prog-rate FILE T0 T1              records/s between guest uptimes T0..T1 (1/100 s)
  vmlab.py nbdkit-stats FILE                 bytes written/zeroed/read from a stats file
  vmlab.py events SOCK OUT                   append every QMP event of SOCK to OUT (JSON lines)
                                             until QEMU closes the monitor
  vmlab.py pause-storage SRC_TRACE SRC_EVENTS DST_TRACE DST_EVENTS
                                             what storage did while the guest was paused (from
                                             the source's STOP to the destination's RESUME),
                                             from QEMU's own trace log and QMP events; JSON
  vmlab.py switch-timing SINK_JSON SRC_EVENTS DST_EVENTS
                                             how long the VM's I/O on the destination was
                                             proxied: its RESUME .. the sink's t1; JSON

Record format: see guest-workload.sh (header line padded to 512 bytes + a slice of the pool).
"""
import datetime
import hashlib
import json
import os
import re
import socket
import sys
import time

REC = 1 << 20
MULT = 1000003
POOL_SIZE = 2 << 20


def make_pool():
    out = bytearray()
    i = 0
    while len(out) < POOL_SIZE:
        out += hashlib.sha256(b"dlsm-vm-pool %d" % i).digest()
        i += 1
    return bytes(out[:POOL_SIZE])


def record(rid, slot, pool):
    hdr = ("DLSM record %d slot %d offset %d" % (rid, slot, slot * REC)).ljust(511).encode() + b"\n"
    off = (rid * 7919) % 256 * 4096
    return hdr + pool[off:off + REC - 512]


def slot_of(rid, slots):
    return (rid * MULT) % slots


def expected_ids(slots, last):
    """Slot -> the last record ID written there, for records 0..last."""
    ids = {}
    for rid in range(max(0, last - 2 * slots), last + 1):
        ids[slot_of(rid, slots)] = rid
    if len(ids) != slots:
        for rid in range(0, last + 1):
            ids[slot_of(rid, slots)] = rid
    return ids


def cmd_pool(path):
    with open(path + ".tmp", "wb") as f:
        f.write(make_pool())
    os.replace(path + ".tmp", path)


def cmd_image(path, size_mib, slots, pool_path):
    pool = open(pool_path, "rb").read()
    slots = int(slots)
    with open(path, "wb") as f:
        f.truncate(int(size_mib) << 20)
        for rid in range(slots):
            s = slot_of(rid, slots)
            f.seek(s * REC)
            f.write(record(rid, s, pool))


def cmd_verify_image(path, slots, last, pool_path):
    pool = open(pool_path, "rb").read()
    slots, last = int(slots), int(last)
    ids = expected_ids(slots, last)
    bad = []
    with open(path, "rb") as f:
        for s in range(slots):
            f.seek(s * REC)
            got = f.read(REC)
            if got != record(ids[s], s, pool):
                bad.append((s, ids[s], got[:60].decode("ascii", "replace").strip()))
        tail_nonzero = 0
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            if b.count(0) != len(b):
                tail_nonzero += 1
    for s, rid, head in bad[:5]:
        print("  slot %d: want record %d, got %r" % (s, rid, head))
    ok = not bad and tail_nonzero == 0
    print("host verify: %s: %d slots, %d bad, last record %d, %d non-zero MiB past the records" % (
        "OK" if ok else "FAIL", slots, len(bad), last, tail_nonzero))
    return 0 if ok else 1


class Qmp:
    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self._read()  # greeting
        self.call("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, name, args=None):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise RuntimeError("%s: %s" % (name, r["error"]))
            # events are skipped


def cmd_qmp(sock, name, args=None):
    r = Qmp(sock).call(name, json.loads(args) if args else None)
    print(json.dumps(r))


def cancel_job(q, job, timeout, force=False):
    """block-job-cancel; without force a ready mirror first writes what is still dirty."""
    t0 = time.time()
    q.call("block-job-cancel", {"device": job, "force": bool(force)})
    while time.time() < t0 + float(timeout):
        if not [j for j in q.call("query-block-jobs") if j["device"] == job]:
            return time.time() - t0
        time.sleep(0.02)
    raise RuntimeError("block job %s still there after %s s" % (job, timeout))


def cmd_migrate(sock, uri, timeout, mirror_job="", dst_sock=""):
    """Migrates; with MIRROR_JOB, does what libvirt does for --copy-storage-all: the
    pause-before-switchover capability, and at "pre-switchover" (guest paused) the mirror is
    cancelled (it completes its final sync) before migrate-continue. DST_SOCK (the
    destination's QMP socket): once the migration completed and the destination runs, the
    source QEMU is told to quit, as libvirt ends it after the destination's Finish (for DLSM
    its NBD connection closing is what fences the source)."""
    q = Qmp(sock)
    if mirror_job:
        q.call("migrate-set-capabilities", {"capabilities": [
            {"capability": "pause-before-switchover", "state": True}]})
    t0 = time.time()
    q.call("migrate", {"uri": uri})
    deadline = t0 + float(timeout)
    last = {}
    cancel_s = None
    while time.time() < deadline:
        last = q.call("query-migrate")
        st = last.get("status")
        if st == "completed":
            break
        if st in ("failed", "cancelled"):
            print(json.dumps({"status": st, "error": last.get("error-desc", "")}))
            return 1
        if st == "pre-switchover" and cancel_s is None:
            cancel_s = cancel_job(q, mirror_job, 120)
            q.call("migrate-continue", {"state": "pre-switchover"})
        time.sleep(0.02)
    else:
        q.call("migrate_cancel")
        print(json.dumps({"status": "timeout", "last": last}))
        return 1
    wall_s = time.time() - t0
    if dst_sock:
        dst = Qmp(dst_sock)
        until = time.time() + 30
        while dst.call("query-status").get("status") != "running":
            if time.time() > until:
                print(json.dumps({"status": "completed", "error": "the destination is not running 30 s later"}))
                return 1
            time.sleep(0.005)
        try:
            q.call("quit")
        except (EOFError, OSError):
            pass  # gone before its answer: what quit is for
    ram = last.get("ram", {})
    print(json.dumps({"status": "completed", "wall_s": wall_s,
                      "total_ms": last.get("total-time"), "downtime_ms": last.get("downtime"),
                      "setup_ms": last.get("setup-time"), "ram_transferred": ram.get("transferred"),
                      "ram_total": ram.get("total"), "mirror_cancel_s": cancel_s}))
    return 0


def cmd_mirror(sock, device, target, mode, limit):
    q = Qmp(sock)
    t0 = time.time()
    q.call("drive-mirror", {"device": device, "job-id": "mirror0", "target": target,
                            "format": "raw", "mode": "existing", "sync": "full",
                            "copy-mode": mode})
    deadline = t0 + float(limit)
    job = {}
    while time.time() < deadline:
        jobs = [j for j in q.call("query-block-jobs") if j["device"] == "mirror0"]
        if not jobs:
            print(json.dumps({"ready": False, "error": "job vanished"}))
            return 1
        job = jobs[0]
        if job.get("ready"):
            print(json.dumps({"ready": True, "ready_s": time.time() - t0,
                              "offset": job["offset"], "len": job["len"]}))
            return 0
        time.sleep(0.1)
    print(json.dumps({"ready": False, "ready_s": time.time() - t0, "offset": job.get("offset"),
                      "len": job.get("len")}))
    return 2


def cmd_cancel(sock, job, timeout, force=""):
    print(json.dumps({"cancel_s": cancel_job(Qmp(sock), job, timeout, force == "force")}))


def cmd_send(sock, line):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock)
    s.sendall(line.encode() + b"\n")
    time.sleep(0.3)
    s.close()


def cmd_wait_console(path, regex, timeout):
    rx = re.compile(regex)
    deadline = time.time() + float(timeout)
    while time.time() < deadline:
        try:
            with open(path, "r", errors="replace") as f:
                for line in f:
                    if rx.search(line):
                        print(line.strip())
                        return 0
        except FileNotFoundError:
            pass
        time.sleep(0.2)
    print("timeout after %s s waiting for /%s/ in %s" % (timeout, regex, path), file=sys.stderr)
    return 1


PROG = re.compile(r"^PROG up=(\d+) id=(\d+) w=(\d+) r=(\d+) err=(\d+)")


def progs(path):
    out = []
    with open(path, "r", errors="replace") as f:
        for line in f:
            m = PROG.match(line.strip())
            if m:
                out.append(dict(zip(("up", "id", "w", "r", "err"), map(int, m.groups()))))
    return out


def cmd_last_prog(path):
    p = progs(path)
    print(json.dumps(p[-1] if p else {}))


def cmd_prog_rate(t0, t1, *paths):
    """MB/s written from the PROG line at guest uptime T0 (1/100 s) to the first one after T1
    (T1 = the last line seen when the window ended, so the window covers it whole)."""
    p = sorted((x for path in paths for x in progs(path)), key=lambda x: x["up"])
    starts = [x for x in p if x["up"] <= float(t0)] or p[:1]
    ends = [x for x in p if x["up"] > float(t1)]
    if not starts or not ends:
        print("null")
        return
    a, b = starts[-1], ends[0]
    print("%.3f" % ((b["w"] - a["w"]) * REC / 1e6 / ((b["up"] - a["up"]) / 100.0)))


def cmd_nbdkit_stats(path):
    out = {}
    text = open(path).read()
    mult = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
    for op in ("read", "write", "zero", "trim", "flush"):
        m = re.search(r"^%s: (\d+) ops, [^\n]*?([\d.]+) (bytes|KiB|MiB|GiB|TiB)" % op, text, re.M)
        if m:
            out[op + "_ops"] = int(m.group(1))
            out[op + "_bytes"] = int(float(m.group(2)) * mult[m.group(3)])
    print(json.dumps(out))


def cmd_events(sock, out):
    q = Qmp(sock, timeout=None)
    with open(out, "a") as f:
        while True:
            try:
                ev = q._read()
            except (EOFError, OSError):
                return 0
            if "event" in ev:
                f.write(json.dumps(ev) + "\n")
                f.flush()


# QEMU's "log" trace backend with -msg timestamp=on: PID@SECONDS.MICROS:EVENT MESSAGE
TRACE = re.compile(r"^\d+@(\d+)\.(\d{6}):(\w+) (.*)$")
NBD_REPLY_FLAG_DONE = 1


def trace_lines(path):
    with open(path, "r", errors="replace") as f:
        for line in f:
            m = TRACE.match(line)
            if m:
                yield int(m.group(1)) + int(m.group(2)) / 1e6, m.group(3), m.group(4)


def nbd_requests(path):
    """Every NBD request QEMU's client sent: (sent, replied or None, type name, offset, length)."""
    open_reqs, done = {}, []
    marks = {}
    for t, ev, msg in trace_lines(path):
        if ev == "nbd_send_request":
            m = re.search(r"\.from = (\d+), \.len = (\d+), \.(?:handle|cookie) = (\d+), .*\((\w+)\)", msg)
            if m and m.group(4) != "disconnect":
                open_reqs[m.group(3)] = (t, m.group(4), int(m.group(1)), int(m.group(2)))
        elif ev == "nbd_receive_simple_reply":
            m = re.search(r"(?:handle|cookie) = (\d+)", msg)
            if m and m.group(1) in open_reqs:
                sent, kind, off, ln = open_reqs.pop(m.group(1))
                done.append((sent, t, kind, off, ln))
        elif ev in ("nbd_receive_structured_reply_chunk", "nbd_receive_reply_chunk_header"):
            m = re.search(r"flags = 0x([0-9a-f]+), .*(?:handle|cookie) = (\d+)", msg)
            if m and int(m.group(1), 16) & NBD_REPLY_FLAG_DONE and m.group(2) in open_reqs:
                sent, kind, off, ln = open_reqs.pop(m.group(2))
                done.append((sent, t, kind, off, ln))
        else:
            marks.setdefault(ev, []).append(t)
    done += [(sent, None, kind, off, ln) for sent, kind, off, ln in open_reqs.values()]
    return sorted(done, key=lambda r: r[0]), marks


def qmp_event_time(path, name):
    for line in open(path):
        ev = json.loads(line)
        if ev.get("event") == name:
            return ev["timestamp"]["seconds"] + ev["timestamp"]["microseconds"] / 1e6
    return None


def busy_ms(intervals, lo, hi):
    """Milliseconds of [lo, hi] during which at least one interval is open."""
    total, end = 0.0, lo
    for a, b in sorted((max(a, lo), min(b, hi)) for a, b in intervals):
        if b <= max(a, end):
            continue
        total += b - max(a, end)
        end = b
    return total * 1e3


def cmd_pause_storage(src_trace, src_events, dst_trace, dst_events):
    """The guest is paused from the source's STOP event (vCPUs stopped; QEMU then drains and
    flushes its disks: migration_completion_vm_stop) to the destination's RESUME event. Every
    NBD request either QEMU had open in that window is storage's share of the pause."""
    t_stop = qmp_event_time(src_events, "STOP")
    t_resume = qmp_event_time(dst_events, "RESUME")
    if t_stop is None or t_resume is None:
        print(json.dumps({"error": "no STOP on the source or no RESUME on the destination"}))
        return 1
    src, src_marks = nbd_requests(src_trace)
    dst, _ = nbd_requests(dst_trace)
    stopped = [t for t in src_marks.get("migration_completion_vm_stop", []) if t >= t_stop]
    open_at_end = max(t_resume, stopped[0] if stopped else t_resume)

    def in_pause(reqs):
        return [r for r in reqs if r[0] < t_resume and (r[1] or open_at_end) > t_stop]
    src_in, dst_in = in_pause(src), in_pause(dst)
    both = [(r[0], r[1] or open_at_end) for r in src_in + dst_in]
    flushes = [(r[1] - r[0]) * 1e3 for r in src_in if r[2] == "flush" and r[1]]
    print(json.dumps({
        "guest_paused_ms": round((t_resume - t_stop) * 1e3, 3),
        "src_drain_flush_ms": round((stopped[0] - t_stop) * 1e3, 3) if stopped else None,
        "storage_busy_in_pause_ms": round(busy_ms(both, t_stop, t_resume), 3),
        "src_nbd_requests_in_pause": len(src_in),
        "src_flush_ms": round(max(flushes), 3) if flushes else None,
        "dst_nbd_requests_in_pause": len(dst_in),
        "src_requests": ["%s %d+%d %.3f ms" % (k, o, n, ((b or open_at_end) - a) * 1e3)
                         for a, b, k, o, n in src_in],
        "dst_requests": ["%s %d+%d %.3f ms" % (k, o, n, ((b or open_at_end) - a) * 1e3)
                         for a, b, k, o, n in dst_in]}))
    return 0


def iso_seconds(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def cmd_switch_timing(sink_json, src_events, dst_events):
    """How long the VM ran on the destination with its I/O proxied back to the source: from
    its RESUME there to the sink's activation (t1), split at the source QEMU's SHUTDOWN
    (whose NBD disconnect fences the source)."""
    t1 = json.load(open(sink_json)).get("t1")
    resume = qmp_event_time(dst_events, "RESUME")
    gone = qmp_event_time(src_events, "SHUTDOWN")
    if t1 is None or resume is None:
        print(json.dumps({"error": "no t1 in the sink or no RESUME event on the destination"}))
        return 1
    t1 = iso_seconds(t1)
    ms = lambda a, b: None if a is None or b is None else round((b - a) * 1000, 1)
    print(json.dumps({"proxied_after_resume_ms": ms(resume, t1),
                      "source_gone_after_resume_ms": ms(resume, gone),
                      "switch_after_source_gone_ms": ms(gone, t1)}))
    return 0


def main(argv):
    cmds = {"pool": cmd_pool, "image": cmd_image, "verify-image": cmd_verify_image,
            "qmp": cmd_qmp, "migrate": cmd_migrate, "mirror": cmd_mirror, "cancel": cmd_cancel,
            "send": cmd_send, "wait-console": cmd_wait_console, "last-prog": cmd_last_prog,
            "prog-rate": cmd_prog_rate, "nbdkit-stats": cmd_nbdkit_stats,
            "events": cmd_events, "pause-storage": cmd_pause_storage,
            "switch-timing": cmd_switch_timing}
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[argv[1]](*argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
