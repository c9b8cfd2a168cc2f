#!/usr/bin/python3
"""Serves one WSGI application on 127.0.0.1:PORT, a thread per request: for
placement, whose Debian package ships the application but no server.

    wsgi_serve.py MODULE:FACTORY PORT   # FACTORY() returns the application
"""

import importlib
import socketserver
import sys
from wsgiref import simple_server


class ThreadingServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True


class QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write('%s\n' % (fmt % args))


def main(argv):
    module, factory = argv[0].split(':')
    app = getattr(importlib.import_module(module), factory)()
    server = simple_server.make_server('127.0.0.1', int(argv[1]), app,
                                       server_class=ThreadingServer,
                                       handler_class=QuietHandler)
    server.serve_forever()


if __name__ == '__main__':
    main(sys.argv[1:])
