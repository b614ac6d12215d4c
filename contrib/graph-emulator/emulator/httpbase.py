"""HTTP plumbing shared by the Graph server and the download origin.

A handler subclass implements dispatch() and log_entry(); this class gives
it request ids, body reading, sending (whole or streamed), Graph-shaped
errors, and the means to misbehave on purpose for faults: cut a body short,
drop or reset the connection.
"""

import json
import socket
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .errors import GraphError, graph_error_body

GRAPH_JSON = ("application/json;odata.metadata=minimal;odata.streaming=true;"
              "IEEE754Compatible=false;charset=utf-8")
PLAIN_JSON = "application/json; charset=utf-8"


class EventLog:
    """A thread-safe list of what happened (requests, downloads) for the
    control API to show and clear."""

    def __init__(self):
        self._items = []
        self._lock = threading.Lock()

    def add(self, entry):
        with self._lock:
            self._items.append(entry)

    def list(self):
        with self._lock:
            return list(self._items)

    def clear(self):
        with self._lock:
            n = len(self._items)
            self._items = []
            return n


class QuietServer(ThreadingHTTPServer):
    """A threading server that does not print tracebacks for clients that
    went away mid-answer."""
    daemon_threads = True
    request_queue_size = 128

    def get_request(self):
        # Answers go out as head and body: without TCP_NODELAY each would
        # wait for the client's delayed ACK (~40 ms a request).
        sock, addr = super().get_request()
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        return sock, addr

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError)):
            return
        super().handle_error(request, client_address)


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "graph-emulator/1.0"
    sys_version = ""

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.state.log_requests:
            sys.stderr.write("graph-emulator: %s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.begin()
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def begin(self):
        self.request_id = str(uuid.uuid4())
        self.client_request_id = self.headers.get("client-request-id") or self.request_id
        self._status = 0
        self._sent = False
        self._recorded = False
        self._started = time.time()
        self._truncate = None       # a "truncate" fault: bytes of body to send
        self._control = False

    # -- to implement ------------------------------------------------------------

    def dispatch(self):
        raise NotImplementedError

    def log_entry(self):
        """The request-log entry for this request, or None for no logging."""
        return None

    def log_target(self):
        return None

    def extra_headers(self):
        return {}

    # -- request -----------------------------------------------------------------

    def read_body(self):
        try:
            return self._read_body()
        except ValueError:
            self.close_connection = True
            raise GraphError(400, "BadRequest", "Malformed request body framing.")

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length > 0 else b""

    def record(self):
        """Add this request to its log once (before the client sees the answer)."""
        if self._recorded:
            return
        self._recorded = True
        target = self.log_target()
        entry = self.log_entry()
        if target is not None and entry is not None:
            target.add(entry)

    # -- answers -------------------------------------------------------------------

    def send_head(self, status, content_type, length, headers=None):
        self._status = status
        self.record()
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in self.extra_headers().items():
            self.send_header(name, value)
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.end_headers()
        self._sent = True

    def write_body(self, chunks):
        """Write the body pieces; under a truncate fault only the first N bytes,
        then the connection is cut."""
        left = self._truncate
        for piece in chunks:
            if left is not None:
                if left <= 0:
                    break
                piece = piece[:left]
                left -= len(piece)
            self.wfile.write(piece)
        if self._truncate is not None:
            self.cut()

    def send_bytes(self, status, body, content_type=GRAPH_JSON, headers=None):
        self.send_head(status, content_type, len(body), headers)
        if self.command != "HEAD":
            self.write_body([body])
        elif self._truncate is not None:
            self.cut()

    def send_json(self, status, obj, content_type=GRAPH_JSON, headers=None):
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_bytes(status, body, content_type, headers)

    def send_graph_error(self, err):
        body = graph_error_body(err.code, err.message, self.request_id, self.client_request_id)
        self.send_json(err.status, body, headers=err.headers)

    # -- misbehaving ---------------------------------------------------------------

    def cut(self):
        """End the connection after what was written (a short body)."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def abort(self, reset):
        """Close without any answer: an orderly close (drop) or a TCP reset."""
        self._status = 0
        self.close_connection = True
        try:
            if reset:
                # Linger 0: closing sends RST instead of FIN. The socket really
                # closes when the request's reader is closed, right after this.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
