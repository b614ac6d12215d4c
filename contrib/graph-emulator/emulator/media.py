"""The tenant's files (reference attachments) and hosted contents.

Files are keyed by the attachment's contentUrl, exactly as written in the
message. GET /v1.0/shares/{u!...}/driveItem finds one by decoding the shares
id back to that URL. A file has a status: 200 (served), 403 (accessDenied) or
404 (itemNotFound). Its bytes come from blobs.FileBlob, keyed by the media
seed and the URL, so they are never stored.

Hosted contents are keyed by the message they belong to (see
routing.message_key) and their id. Their bytes are small and kept.

Besides what the generator registers explicitly, scan() registers every
reference attachment and every hostedContents URL found in message bodies
and attachment contents that is not known yet (small files, tiny PNGs), so
--samples and --tenant-dir tenants are served too.
"""

import base64
import binascii
import hashlib
import re
import threading
import urllib.parse
import uuid

from . import blobs
from . import timeutil
from .routing import message_key, split_segments

GRAPH_HOST = "https://graph.microsoft.com"
_HOSTED_URL = re.compile(
    r"https://graph\.microsoft\.com(/v1\.0/(?:chats|teams)/[^\"'\s<>]*?"
    r"/hostedContents/[^/\"'\s<>]+/\$value)", re.IGNORECASE)
_FALLBACK_TIME = timeutil.ticks(2024, 1, 1)


def shares_id(url):
    """The shares API key of a URL: u! + unpadded base64url of its bytes."""
    b64 = base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii")
    return "u!" + b64.rstrip("=")


def decode_shares_id(ident):
    """The URL inside a u!... shares id, or None if it is not one."""
    if not ident[:2].lower() == "u!":
        return None
    text = ident[2:]
    text += "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(text.encode("ascii")).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        return None


def _hash(*parts):
    return hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).digest()


class FileEntry:
    def __init__(self, seed, url, name, size, status, created, modified):
        self.url = url
        self.name = name
        self.status = status
        self.size = int(size) if status == 200 else None
        self.created = created
        self.modified = modified
        digest = _hash("item", seed, url)
        self.uid = str(uuid.UUID(bytes=digest[:16], version=4)).upper()
        self.item_id = "01" + base64.b32encode(digest[16:]).decode("ascii").rstrip("=")[:32]
        self.mime = blobs.mime_type(name)
        self.blob = blobs.FileBlob("%s|%s" % (seed, url), self.size) if status == 200 else None

    def drive_item(self):
        stamp = "%s,1" % self.uid
        return {
            "createdDateTime": timeutil.format_ticks(self.created, 0),
            "eTag": '"{%s}"' % stamp,
            "id": self.item_id,
            "lastModifiedDateTime": timeutil.format_ticks(self.modified, 0),
            "name": self.name,
            "webUrl": self.url,
            "cTag": '"c:{%s}"' % stamp,
            "size": self.size,
            "file": {"mimeType": self.mime},
        }

    def public(self):
        ok = self.status == 200
        return {
            "name": self.name,
            "size": self.size,
            "sha256": self.blob.sha256() if ok else None,
            "lastModifiedDateTime": timeutil.format_ticks(self.modified, 0) if ok else None,
            "status": self.status,
        }

    def spec(self):
        return {
            "name": self.name,
            "size": self.size,
            "status": self.status,
            "createdDateTime": timeutil.format_ticks(self.created, 0),
            "lastModifiedDateTime": timeutil.format_ticks(self.modified, 0),
        }


class HostedEntry:
    def __init__(self, path, key, ident, content_type, data):
        self.path = path            # as written in the body, from /v1.0 on
        self.key = key              # routing.message_key of its message
        self.id = ident
        self.content_type = content_type
        self.data = data
        self.sha256 = hashlib.sha256(data).hexdigest()

    def entity(self):
        return {"id": self.id, "contentBytes": None, "contentType": self.content_type}

    def public(self):
        return {"contentType": self.content_type, "size": len(self.data), "sha256": self.sha256}


def hosted_path_key(path):
    """'/v1.0/chats/C/messages/M/hostedContents/H/$value' -> (message key, H)."""
    if not path.lower().startswith("/v1.0/"):
        return None
    found = message_key(split_segments(path[len("/v1.0"):]))
    if found is None:
        return None
    key, rest = found
    if len(rest) != 3 or rest[0].lower() != "hostedcontents" or rest[2].lower() != "$value":
        return None
    return key, rest[1]


class Media:
    def __init__(self, seed):
        self.seed = seed
        self.files = {}         # contentUrl -> FileEntry, in registration order
        self._by_uid = {}
        self.hosted = {}        # path -> HostedEntry
        self._by_message = {}   # message key -> {hosted id: HostedEntry}
        self._lock = threading.RLock()   # registering vs. listing

    # -- registering ---------------------------------------------------------

    def add_file(self, url, name, size, status=200, created=None, modified=None):
        with self._lock:
            if url in self.files:
                return self.files[url]
            modified = _FALLBACK_TIME if modified is None else modified
            created = modified if created is None else created
            entry = FileEntry(self.seed, url, name, size, status, created, modified)
            self.files[url] = entry
            self._by_uid[entry.uid] = entry
            return entry

    def add_hosted(self, path, content_type, data):
        """Register a hosted content by its $value path; False if the path
        does not name one (or it is known already)."""
        parsed = hosted_path_key(path)
        if parsed is None:
            return False
        key, ident = parsed
        with self._lock:
            if path in self.hosted:
                return False
            entry = HostedEntry(path, key, ident, content_type, data)
            self.hosted[path] = entry
            self._by_message.setdefault(key, {})[ident] = entry
            return True

    def scan(self, messages):
        """Register the reference attachments and hostedContents URLs found
        in `messages` that are not registered yet."""
        for m in messages:
            if not isinstance(m, dict):
                continue
            when = timeutil.parse(m.get("createdDateTime")) or _FALLBACK_TIME
            texts = []
            body = m.get("body")
            if isinstance(body, dict) and isinstance(body.get("content"), str):
                texts.append(body["content"])
            for att in m.get("attachments") or []:
                if not isinstance(att, dict):
                    continue
                if isinstance(att.get("content"), str):
                    texts.append(att["content"])
                url = att.get("contentUrl")
                if att.get("contentType") == "reference" and isinstance(url, str) and url:
                    self.register_reference(url, when)
            for text in texts:
                for path in _HOSTED_URL.findall(text):
                    if path not in self.hosted:
                        self.add_hosted(path, "image/png", blobs.tiny_png("%s|%s" % (self.seed,
                                                                                     path)))

    def register_reference(self, url, when):
        """A file for a reference URL nobody described: a few KiB, status 200,
        uploaded a little before the message that links it."""
        if url in self.files:
            return self.files[url]
        h = int.from_bytes(_hash("size", self.seed, url)[:8], "big")
        name = urllib.parse.unquote(url.rstrip("/").rsplit("/", 1)[-1]) or "file"
        modified = when - (h >> 20) % 86400 * timeutil.TICKS_PER_SECOND
        created = modified - (h >> 40) % (30 * 86400) * timeutil.TICKS_PER_SECOND
        return self.add_file(url, name, 1024 + h % 7168, 200, created, modified)

    # -- lookups ---------------------------------------------------------------

    def file_by_shares_id(self, ident):
        url = decode_shares_id(ident)
        return None if url is None else self.files.get(url)

    def file_by_uid(self, uid):
        return self._by_uid.get(uid.upper())

    def hosted_of(self, key):
        """{hosted id: HostedEntry} of one message (empty if none)."""
        return self._by_message.get(key, {})

    # -- control API and on-disk form -------------------------------------------

    def _entries(self):
        with self._lock:
            return list(self.files.items()), list(self.hosted.items())

    def snapshot(self):
        """The "files" and "hostedContents" maps of GET /_emulator/tenant. The
        first call hashes every file (about a second for 200 MiB)."""
        files, hosted = self._entries()
        return {
            "files": {url: f.public() for url, f in files},
            "hostedContents": {p: h.public() for p, h in hosted},
        }

    def to_json(self):
        files, hosted = self._entries()
        return {
            "seed": self.seed,
            "files": {url: f.spec() for url, f in files},
            "hostedContents": {p: {"contentType": h.content_type,
                                   "contentBytes": base64.b64encode(h.data).decode("ascii")}
                               for p, h in hosted},
        }

    @classmethod
    def from_json(cls, obj, default_seed):
        media = cls(obj.get("seed", default_seed))
        for url, spec in (obj.get("files") or {}).items():
            media.add_file(url, spec.get("name") or "file", spec.get("size") or 0,
                           spec.get("status", 200),
                           timeutil.parse(spec.get("createdDateTime")),
                           timeutil.parse(spec.get("lastModifiedDateTime")))
        for path, spec in (obj.get("hostedContents") or {}).items():
            media.add_hosted(path, spec.get("contentType") or "application/octet-stream",
                             base64.b64decode(spec.get("contentBytes") or ""))
        return media
