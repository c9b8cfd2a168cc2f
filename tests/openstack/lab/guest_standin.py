#!/usr/bin/python3
"""A stand-in for the guest of a live-migrated instance: real NBD I/O on the
export Cinder's connection info names, as QEMU would do it.

The lab's Nova runs a fake virt driver (no QEMU), so something must do what
the instance's disk I/O would: this process. It writes numbered 4 KiB records
with FUA, one after the other at increasing offsets, and appends each record
to a journal only once the server acknowledged it; the journal is therefore
exactly what the guest was promised is durable. A `verify` run reads every
journalled record back from an export and compares it byte for byte.

    guest_standin.py serve SOCKET JOURNAL   # the guest; commands on SOCKET
    guest_standin.py ctl SOCKET COMMAND...  # one command, prints the answer
    guest_standin.py verify JOURNAL HOST PORT EXPORT

Commands: `attach HOST PORT EXPORT` (open a connection there, then close the
previous one: a hypervisor's switch-over), `detach` (close it: the source
QEMU quits, or a paused guest drops its connection), `write N` (N records on
the current connection), `status`, `stop`. A write the server refuses is
reported with its error and the guest stops writing (an I/O error in a real
guest), so the test sees it.
"""

import hashlib
import json
import os
import socket
import sys

import nbd

RECORD = 4096


def payload(seq):
    """Record `seq`: its number and a hash chain, so any mix-up shows."""
    head = ('dlsm-guest-record %012d\n' % seq).encode()
    body = hashlib.sha256(head).digest() * (RECORD // 32)
    return (head + body)[:RECORD]


def connect(host, port, export):
    h = nbd.NBD()
    h.set_export_name(export)
    h.connect_tcp(host, str(port))
    return h


class Guest(object):

    def __init__(self, journal):
        self.journal_path = journal
        self.seq = 0
        if os.path.exists(journal):
            with open(journal) as f:
                self.seq = sum(1 for _ in f)
        self.journal = open(journal, 'a')
        self.conn = None
        self.where = None
        self.error = None

    def attach(self, host, port, export):
        new = connect(host, port, export)
        old, self.conn = self.conn, new
        self.where = '%s:%s/%s' % (host, port, export)
        if old is not None:
            old.shutdown()
            old.close()
        ro = bool(new.is_read_only())
        return {'attached': self.where, 'readOnly': ro,
                'canFua': bool(new.can_fua())}

    def detach(self):
        if self.conn is not None:
            self.conn.shutdown()
            self.conn.close()
        self.conn, self.where = None, None
        return {'attached': None}

    def write(self, count):
        if self.conn is None:
            raise RuntimeError('the guest has no connection')
        if self.error:
            raise RuntimeError('the guest stopped writing after: %s'
                               % self.error)
        for _ in range(count):
            offset = self.seq * RECORD
            try:
                self.conn.pwrite(payload(self.seq), offset,
                                 nbd.CMD_FLAG_FUA)
            except nbd.Error as e:
                self.error = 'write of record %d at %d on %s: %s' % (
                    self.seq, offset, self.where, e)
                raise RuntimeError(self.error)
            # Acknowledged with FUA: durable, so journalled.
            self.journal.write('%d %d\n' % (self.seq, offset))
            self.journal.flush()
            os.fsync(self.journal.fileno())
            self.seq += 1
        return {'records': self.seq, 'on': self.where}

    def status(self):
        return {'records': self.seq, 'on': self.where, 'error': self.error}


def serve(sock_path, journal):
    guest = Guest(journal)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    srv.bind(sock_path)
    srv.listen(4)
    print('READY', flush=True)
    while True:
        c, _ = srv.accept()
        with c:
            words = c.makefile().readline().split()
            try:
                cmd = words[0] if words else ''
                if cmd == 'attach':
                    answer = guest.attach(words[1], int(words[2]), words[3])
                elif cmd == 'detach':
                    answer = guest.detach()
                elif cmd == 'write':
                    answer = guest.write(int(words[1]))
                elif cmd == 'status':
                    answer = guest.status()
                elif cmd == 'stop':
                    c.sendall(b'{"ok": true}\n')
                    return 0
                else:
                    raise ValueError('unknown command %r' % words)
                answer['ok'] = True
            except Exception as e:  # every failure goes back to the test
                answer = {'ok': False, 'error': str(e)}
            c.sendall((json.dumps(answer) + '\n').encode())


def ctl(sock_path, words):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(sock_path)
    c.sendall((' '.join(words) + '\n').encode())
    answer = c.makefile().readline()
    print(answer.strip())
    return 0 if json.loads(answer).get('ok') else 1


def verify(journal, host, port, export):
    h = connect(host, port, export)
    n = bad = 0
    with open(journal) as f:
        for line in f:
            seq, offset = (int(x) for x in line.split())
            got = h.pread(RECORD, offset)
            if got != payload(seq):
                bad += 1
                if bad <= 5:
                    print('record %d at %d differs' % (seq, offset))
            n += 1
    h.shutdown()
    print(json.dumps({'records': n, 'mismatches': bad,
                      'on': '%s:%s/%s' % (host, port, export)}))
    return 1 if bad or n == 0 else 0


def main(argv):
    if len(argv) >= 3 and argv[0] == 'serve':
        return serve(argv[1], argv[2])
    if len(argv) >= 3 and argv[0] == 'ctl':
        return ctl(argv[1], argv[2:])
    if len(argv) == 5 and argv[0] == 'verify':
        return verify(argv[1], argv[2], int(argv[3]), argv[4])
    sys.stderr.write(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
