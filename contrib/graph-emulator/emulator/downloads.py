"""The download origin: a second listening port for file bytes.

GET /v1.0/shares/{id}/driveItem/content answers 302 to a URL on this origin,
shaped like SharePoint's:

    http://HOST:PORT/_layouts/15/download.aspx?UniqueId=<item guid>&Translate=false
        &tempauth=<signed token>&ApiVersion=2.0

The URL is pre-authenticated: `tempauth` is an HMAC-signed (item, expiry)
pair, valid for the configured download_url_ttl (600 s by default). The
origin needs no Authorization header; it only records whether one came, in
GET /_emulator/downloads. GET and HEAD; `Range: bytes=a-b`, `a-` and `-n`
give 206 with Content-Range (416 past the end; other forms get the whole
file). Bodies are streamed from blobs.FileBlob, 64 KiB at a time.

Faults (faults.py) apply here as well, matched against this origin's raw
path and query, so a download can be cut short, dropped or reset.
"""

import base64
import binascii
import email.utils
import hashlib
import hmac
import re
import secrets
import sys
import time
import traceback
import urllib.parse

from . import faults
from . import timeutil
from .errors import GraphError
from .httpbase import BaseHandler, QuietServer

DOWNLOAD_PATH = "/_layouts/15/download.aspx"
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class Signer:
    """Opaque, expiring tokens for download URLs (a key per process)."""

    def __init__(self):
        self._key = secrets.token_bytes(32)

    def _mac(self, payload):
        digest = hmac.new(self._key, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=")

    def make(self, uid, ttl):
        expiry = int((time.time() + ttl) * 1000)
        payload = base64.urlsafe_b64encode(("%s|%d" % (uid, expiry)).encode()).rstrip(b"=")
        return (payload + b"." + self._mac(payload)).decode("ascii")

    def check(self, token, uid):
        try:
            payload, mac = token.encode("ascii").split(b".", 1)
            if not hmac.compare_digest(mac, self._mac(payload)):
                return False
            text = base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)).decode()
            who, expiry = text.rsplit("|", 1)
            return who.upper() == uid.upper() and time.time() * 1000 < int(expiry)
        except (ValueError, UnicodeError, binascii.Error):
            return False


def download_url(state, entry):
    """A fresh pre-authenticated URL for a file, or None without an origin."""
    if not state.download_base:
        return None
    token = state.signer.make(entry.uid, state.config.download_url_ttl)
    return "%s%s?UniqueId=%s&Translate=false&tempauth=%s&ApiVersion=2.0" % (
        state.download_base, DOWNLOAD_PATH, entry.uid, token)


def parse_range(header, size):
    """Range header -> (start, end exclusive); None to send the whole file;
    'unsatisfiable' for a range that starts past the end."""
    if header is None:
        return None
    m = _RANGE.match(header)
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None
    first, last = m.group(1), m.group(2)
    if first == "":
        n = int(last)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - n), size
    start = int(first)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    end = size if last == "" else min(size, int(last) + 1)
    return start, end


def _disposition(name):
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace('"', "'")
    return "attachment; filename=\"%s\"; filename*=UTF-8''%s" % (
        ascii_name, urllib.parse.quote(name, safe=""))


class DownloadHandler(BaseHandler):
    server_version = "Microsoft-IIS/10.0"

    def log_target(self):
        return self.server.state.downloads

    def log_entry(self):
        return {
            "method": self.command,
            "path": self.path,
            "authorization": self.headers.get("Authorization") is not None,
            "range": self.headers.get("Range"),
            "status": self._status,
            "time": self._started,
        }

    def extra_headers(self):
        return {"request-id": self.request_id, "SPRequestGuid": self.request_id}

    def dispatch(self):
        state = self.server.state
        raw = self.path
        try:
            self.read_body()
            fault = state.faults.take(raw)
            if fault is not None and faults.apply(self, fault):
                return
            self.download(raw)
        except GraphError as err:
            self.send_graph_error(err)
        except Exception:  # a bug: answer 500, keep serving
            traceback.print_exc(file=sys.stderr)
            if not self._sent:
                try:
                    self.send_graph_error(GraphError(500, "InternalServerError",
                                                     "The download failed."))
                except OSError:
                    self.close_connection = True
            else:
                self.close_connection = True
        finally:
            self.record()

    def download(self, raw):
        split = urllib.parse.urlsplit(raw)
        if split.path.lower() != DOWNLOAD_PATH.lower():
            raise GraphError(404, "itemNotFound", "The resource could not be found.")
        if self.command not in ("GET", "HEAD"):
            raise GraphError(405, "MethodNotAllowed", "Only GET and HEAD are supported.")
        params = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        uid = params.get("UniqueId", "")
        token = params.get("tempauth", "")
        state = self.server.state
        if not state.signer.check(token, uid):
            raise GraphError(401, "unauthenticated",
                             "The download URL has expired or its token is invalid.")
        entry = state.tenant.media.file_by_uid(uid)
        if entry is None or entry.status != 200:
            raise GraphError(404, "itemNotFound", "The resource could not be found.")
        self.send_file(entry)

    def send_file(self, entry):
        size = entry.size
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": '"{%s},1"' % entry.uid,
            "Last-Modified": email.utils.formatdate(
                entry.modified / timeutil.TICKS_PER_SECOND, usegmt=True),
            "Content-Disposition": _disposition(entry.name),
        }
        span = parse_range(self.headers.get("Range"), size)
        if span == "unsatisfiable":
            headers["Content-Range"] = "bytes */%d" % size
            return self.send_bytes(416, b"", None, headers)
        status, start, end = 200, 0, size
        if span is not None:
            status, (start, end) = 206, span
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, end - 1, size)
        self.send_head(status, entry.mime, end - start, headers)
        if self.command == "HEAD":
            if self._truncate is not None:
                self.cut()
            return
        self.write_body(entry.blob.chunks(start, end))


class DownloadServer(QuietServer):
    def __init__(self, address, state):
        self.state = state
        super().__init__(address, DownloadHandler)
