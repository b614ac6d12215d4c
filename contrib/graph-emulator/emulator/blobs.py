"""Deterministic bytes for files and hosted contents.

File contents are never stored. A file is a (key, size) pair and its bytes
are a SHAKE-256 stream cut into 64 KiB blocks: block i is
shake_256(key + "|" + i).digest(64 KiB). Any byte range can be produced
without the bytes before it, so a 200 MiB file costs no memory and a Range
request costs no more than the range.

Hosted contents are small and are built whole: a valid PNG (stored, i.e.
uncompressed, deflate blocks, so the bytes do not depend on the zlib
version) or a text/plain code snippet.
"""

import hashlib
import random
import struct
import threading
import zlib

BLOCK = 64 * 1024

MIME_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "pdf": "application/pdf",
    "zip": "application/zip",
    "mp4": "video/mp4",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "txt": "text/plain",
    "csv": "text/csv",
}


def mime_type(name):
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return MIME_TYPES.get(ext, "application/octet-stream")


class FileBlob:
    """The bytes of one file: `size` bytes of the stream named `key`."""

    def __init__(self, key, size):
        self.key = key.encode("utf-8") if isinstance(key, str) else bytes(key)
        self.size = int(size)
        self._sha256 = None
        self._lock = threading.Lock()

    def _block(self, index):
        return hashlib.shake_256(self.key + b"|%d" % index).digest(BLOCK)

    def chunks(self, start=0, end=None):
        """Yield the bytes [start, end) (end exclusive, default: the size)
        in pieces of at most 64 KiB."""
        end = self.size if end is None else min(end, self.size)
        pos = max(0, start)
        while pos < end:
            index, skip = divmod(pos, BLOCK)
            block = self._block(index)
            piece = block[skip:skip + (end - pos)]
            yield piece
            pos += len(piece)

    def read(self, start=0, end=None):
        """The bytes [start, end) as one bytes object (for small ranges)."""
        return b"".join(self.chunks(start, end))

    def sha256(self):
        """Hex SHA-256 of the whole file (computed once, by streaming)."""
        with self._lock:
            if self._sha256 is None:
                h = hashlib.sha256()
                for piece in self.chunks():
                    h.update(piece)
                self._sha256 = h.hexdigest()
            return self._sha256


# -- hosted contents -----------------------------------------------------------

def _png_chunk(kind, data):
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _stored_zlib(raw):
    """A zlib stream of stored (uncompressed) deflate blocks."""
    out = bytearray(b"\x78\x01")
    pos = 0
    while True:
        piece = raw[pos:pos + 65535]
        pos += len(piece)
        final = 1 if pos >= len(raw) else 0
        out += struct.pack("<BHH", final, len(piece), len(piece) ^ 0xFFFF) + piece
        if final:
            break
    out += struct.pack(">I", zlib.adler32(raw) & 0xFFFFFFFF)
    return bytes(out)


def tiny_png(seed, width=16, height=16):
    """A valid RGB PNG of width x height pixels: a seeded two-colour pattern."""
    rng = random.Random("png|%s" % seed)
    a = bytes(rng.randrange(256) for _ in range(3))
    b = bytes(rng.randrange(256) for _ in range(3))
    cell = rng.choice((2, 4, 8))
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter type: none
        for x in range(width):
            raw += a if ((x // cell) + (y // cell)) % 2 == 0 else b
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", _stored_zlib(bytes(raw))) + _png_chunk(b"IEND", b""))


SNIPPETS = [
    ("python",
     "def quarter_totals(rows):\n"
     "    totals = {}\n"
     "    for row in rows:\n"
     "        totals[row.quarter] = totals.get(row.quarter, 0) + row.amount\n"
     "    return totals\n"),
    ("javascript",
     "export function retryAfter(headers) {\n"
     "  const value = headers.get('Retry-After');\n"
     "  return value ? Number(value) * 1000 : 1000;\n"
     "}\n"),
    ("bash",
     "#!/bin/sh\n"
     "# nightly export of the sales numbers\n"
     "set -eu\n"
     "exec ./export --from \"$(date -d yesterday +%F)\" --to today\n"),
]


def snippet(seed):
    """(language, UTF-8 bytes) of a short code snippet chosen by seed."""
    rng = random.Random("snippet|%s" % seed)
    language, text = SNIPPETS[rng.randrange(len(SNIPPETS))]
    return language, text.encode("utf-8")
