"""stubkit.py - what the stand-in servers in tests/stubs/ share: the HTTP
plumbing of a handler (JSON and raw answers that survive a client hanging
up) and serving until SIGTERM/SIGINT after printing "PORT <n>".
Python standard library only."""

import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, chunked streaming
    server_version = "stub/1"       # each stand-in names itself

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.state.args.verbose:
            sys.stderr.write("%s: %s\n" % (self.server_version, fmt % args))

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send_json(self, status, obj, headers=None):
        self.send_raw(status, json.dumps(obj).encode(), "application/json", headers)

    def send_raw(self, status, data, ctype, headers=None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that hung up (a timed-out test) is not an error here.
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def serve(args, handler, state):
    """Serves on args.host:args.port (0: a free port), prints "PORT <n>"
    first, and stops cleanly (exit status 0) on SIGTERM or SIGINT."""
    srv = Server((args.host, args.port), handler)
    srv.state = state
    print("PORT %d" % srv.server_address[1], flush=True)

    def stop(signum, frame):
        # shutdown() waits for serve_forever, so it cannot run on this thread.
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        srv.server_close()
    return 0
