"""Query options and paging for getAllMessages (and the plain /users, /teams lists).

A scope (one user's chats, or one team's channels) is served from a fixed
"stream": the list of messages in serving order. A request's $filter selects a
sub-list; pages are consecutive slices of it. Where a page starts is carried in
an opaque $skiptoken (offset into the filtered list plus the page number); how
big a page is follows from a hash of (scope, page number), which gives the
deterministic quirks the spec asks for:

  * page 0 is never empty; page 3, and some others chosen by the hash, are
    empty but still carry a next link (when messages remain);
  * some pages are short (45-84 % of $top);
  * sometimes the stream ends exactly on a page boundary and that page still
    carries a next link, to one more page that is empty and final;
  * the final page has no "@odata.nextLink" at all when its page number is
    even, and "@odata.nextLink": null when it is odd.
"""

import base64
import binascii
import hashlib
import re
import urllib.parse

from . import timeutil
from .errors import GraphError

DEFAULT_MESSAGES_TOP = 20
MAX_MESSAGES_TOP = 50
DEFAULT_LIST_TOP = 100
MAX_LIST_TOP = 999

_CLAUSE_RE = re.compile(
    r"^\s*\(?\s*lastModifiedDateTime\s+(gt|ge|lt|le)\s+([^\s()']+)\s*\)?\s*$",
    re.IGNORECASE)
_AND_RE = re.compile(r"\s+and\s+", re.IGNORECASE)
_OPS = {
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}

# Characters left as they are when writing a query value into a next link;
# everything else is percent-encoded with lower-case hex, spaces become '+'.
_UNRESERVED = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def encode_query_value(value):
    """Form-encode like .NET does for Graph's next links: ' ' -> '+',
    other reserved bytes -> %xx in lower case (so ':' -> %3a, '=' -> %3d)."""
    out = []
    for b in value.encode("utf-8"):
        c = chr(b)
        if c in _UNRESERVED:
            out.append(c)
        elif c == " ":
            out.append("+")
        else:
            out.append("%%%02x" % b)
    return "".join(out)


def parse_query(raw_query):
    """Query string -> dict of name -> value (last one wins). Names and values
    are percent-decoded and '+' means space, as in any form-encoded query."""
    params = {}
    for name, value in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
        params[name] = value
    return params


def parse_top(params, default, maximum, cap):
    """$top -> int. `cap`: values above maximum are silently capped (messages)
    rather than refused (user and team lists refuse them, as Graph does)."""
    raw = params.get("$top")
    if raw is None:
        return None, default
    try:
        value = int(raw.strip())
    except ValueError:
        raise GraphError(400, "BadRequest",
                         "Invalid value '%s' for query option $top." % raw)
    if value < 1:
        raise GraphError(400, "BadRequest",
                         "Invalid page size specified: '%s'. Must be between 1 and %d "
                         "inclusive." % (raw, maximum))
    if value > maximum:
        if not cap:
            raise GraphError(400, "BadRequest",
                             "Invalid page size specified: '%s'. Must be between 1 and %d "
                             "inclusive." % (raw, maximum))
        return value, maximum
    return value, value


def parse_filter(text):
    """$filter -> tuple of (op, ticks). Only lastModifiedDateTime comparisons
    joined by 'and' are understood; anything else is a 400, as Graph refuses
    filters it does not support on this API."""
    if text is None:
        return ()
    if not text.strip():
        raise GraphError(400, "BadRequest", "The $filter query option is empty.")
    clauses = []
    for part in _AND_RE.split(text.strip()):
        m = _CLAUSE_RE.match(part)
        if not m:
            raise GraphError(400, "BadRequest",
                             "Invalid filter clause: '%s'. Only lastModifiedDateTime "
                             "with gt, ge, lt or le and an unquoted ISO-8601 timestamp "
                             "is supported." % part.strip())
        t = timeutil.parse(m.group(2))
        if t is None:
            raise GraphError(400, "BadRequest",
                             "The DateTimeOffset text '%s' should be in format "
                             "'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?'." % m.group(2))
        clauses.append((m.group(1).lower(), t))
    return tuple(clauses)


def matches(clauses, t):
    if not clauses:
        return True
    if t is None:
        return False
    return all(_OPS[op](t, value) for op, value in clauses)


# -- skip tokens ---------------------------------------------------------------

_TOKEN_MAGIC = "emu1"
EXPIRED_MESSAGE = "The skip token has expired or is invalid."


def make_skiptoken(kind, scope_id, offset, page):
    """Opaque token. Its base64 always ends in padding, and the token is
    returned already URL-encoded: '+' -> %2b, '/' -> %2f, '=' -> %3d."""
    text = "%s#SkipValue=%d#Page=%d#Scope=%s:%s#MailboxFolder=MailFolders/TeamsMessagesData" % (
        _TOKEN_MAGIC, offset, page, kind, scope_id)
    raw = text.encode("utf-8")
    while len(raw) % 3 == 0:      # make sure base64 needs '=' padding
        raw += b"#"
    b64 = base64.b64encode(raw).decode("ascii")
    return b64.replace("+", "%2b").replace("/", "%2f").replace("=", "%3d")


def read_skiptoken(token, kind, scope_id):
    """(offset, page) from a decoded $skiptoken value, or GraphError 400."""
    bad = GraphError(400, "BadRequest", EXPIRED_MESSAGE)
    try:
        # parse_qsl turned a raw '+' into a space; put it back.
        raw = base64.b64decode(token.replace(" ", "+"), validate=True)
        text = raw.decode("utf-8").rstrip("#")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad
    fields = {}
    parts = text.split("#")
    if not parts or parts[0] != _TOKEN_MAGIC:
        raise bad
    for part in parts[1:]:
        name, _, value = part.partition("=")
        fields[name] = value
    try:
        offset = int(fields["SkipValue"])
        page = int(fields["Page"])
    except (KeyError, ValueError):
        raise bad
    if fields.get("Scope") != "%s:%s" % (kind, scope_id) or offset < 0 or page < 1:
        raise bad
    return offset, page


def make_list_skiptoken(what, offset):
    return make_skiptoken(what, "list", offset, 1)


def read_list_skiptoken(token, what):
    offset, _ = read_skiptoken(token, what, "list")
    return offset


# -- page planning -------------------------------------------------------------

def _hash(scope_key, page):
    digest = hashlib.blake2b(("%s|%d" % (scope_key, page)).encode("utf-8"),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big")


class Page:
    __slots__ = ("start", "end", "next_state", "null_link")

    def __init__(self, start, end, next_state, null_link):
        self.start = start            # slice of the filtered list
        self.end = end
        self.next_state = next_state  # (offset, page) or None on the last page
        self.null_link = null_link    # last page: write "@odata.nextLink": null


def plan_page(scope_key, total, top, offset, page):
    """Decide the slice served for page number `page` starting at `offset`
    of a filtered list of `total` entries."""
    if offset >= total:
        return Page(total, total, None, page % 2 == 1)
    h = _hash(scope_key, page)
    if page >= 1 and (page == 3 or h % 7 == 3):
        return Page(offset, offset, (offset, page + 1), False)
    size = top
    if top > 1 and (h >> 8) % 5 == 1:
        size = max(1, top * (45 + (h >> 16) % 40) // 100)
    end = min(total, offset + size)
    if end < total:
        return Page(offset, end, (end, page + 1), False)
    if page >= 1 and (h >> 24) % 4 == 0:
        # Ends exactly here, but still point at one more (empty) page.
        return Page(offset, end, (end, page + 1), False)
    return Page(offset, end, None, page % 2 == 1)


def plan_list_page(total, top, offset):
    end = min(total, offset + top)
    return Page(offset, end, (end, 1) if end < total else None, False)


def odata_key(value):
    """A key as written inside users('...') in a next link."""
    quoted = value.replace("'", "''")
    return urllib.parse.quote(quoted, safe="-_.~:@!$&*+,;='")
