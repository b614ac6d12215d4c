"""Helpers for teamsfs integration tests: emulator, mounts, expected tree.

Every test runs teamsfs on a real FUSE mount against the Graph emulator
(contrib/graph-emulator/graph-emulator). Python standard library only.

Environment:
  TEAMSFS_BIN       teamsfs binary (default: <repo>/build/teamsfs)
  TEAMSFS_EMULATOR  emulator script (default:
                    <repo>/contrib/graph-emulator/graph-emulator)
  TEAMSFS_KEEP      if set, keep temporary directories and logs

Run from the repository root, as root (FUSE mounts):
  python3 -m unittest discover -s tests/integration -v
"""

import atexit
import base64
import calendar
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TEAMSFS_BIN = os.environ.get('TEAMSFS_BIN') or os.path.join(
    REPO, 'build', 'teamsfs')
EMULATOR = os.environ.get('TEAMSFS_EMULATOR') or os.path.join(
    REPO, 'contrib', 'graph-emulator', 'graph-emulator')
SAMPLES = os.path.join(REPO, 'tests', 'data', 'samples')
KEEP = bool(os.environ.get('TEAMSFS_KEEP'))

DEFAULT_TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
DEFAULT_CLIENT_ID = 'teamsfs-demo'
DEFAULT_SECRET = 'demo-secret'

MOUNT_TIMEOUT = 20.0
EXIT_TIMEOUT = 20.0

# Known phrase placed by the emulator in the first user's first group chat.
PHRASE = 'quarterly compliance review'

_live_procs = []        # Popen objects we started and have not reaped
_live_mounts = []       # mount points we mounted and have not unmounted

# A clean environment for the processes we start: no proxy may divert
# loopback traffic, and no secret may leak in through the environment.
_PROXY_VARS = ('http_proxy', 'https_proxy', 'all_proxy', 'ftp_proxy',
               'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'FTP_PROXY')


def child_env(extra=None):
    env = dict(os.environ)
    for k in _PROXY_VARS + ('TEAMSFS_CLIENT_SECRET',):
        env.pop(k, None)
    env['no_proxy'] = env['NO_PROXY'] = '127.0.0.1,localhost'
    env['LC_ALL'] = 'C'
    if extra:
        env.update(extra)
    return env


def _cleanup_at_exit():
    for mnt in list(_live_mounts):
        subprocess.run(['fusermount3', '-u', '-z', mnt],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for p in list(_live_procs):
        if p.poll() is None:
            p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


atexit.register(_cleanup_at_exit)


def require_binaries():
    """Fail (not skip) when the products under test are missing."""
    missing = [p for p in (TEAMSFS_BIN, EMULATOR)
               if not os.access(p, os.X_OK)]
    if missing:
        raise AssertionError('missing executable(s): ' + ', '.join(missing))


def proc_mounted(mnt):
    """True if mnt appears in /proc/mounts (does not touch the FS)."""
    mnt = os.path.realpath(mnt)
    with open('/proc/mounts') as f:
        for line in f:
            fields = line.split()
            if len(fields) > 1 and fields[1].encode().decode(
                    'unicode_escape') == mnt:
                return True
    return False


def read_text(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    except FileNotFoundError:
        return ''


# ---------------------------------------------------------------------------
# Names, hashes and dates, exactly as the spec gives them

M64 = (1 << 64) - 1


def H(data):
    """FNV-1a 64 followed by murmur3 fmix64, over bytes."""
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & M64
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & M64
    h ^= h >> 33
    h = (h * 0xc4ceb9fe1a85ec53) & M64
    h ^= h >> 33
    return h


def id_bytes(ident):
    return ident.encode('utf-8', 'surrogatepass')


def escape_id(ident):
    """Escaped id as bytes (no suffix, no length rule)."""
    if ident == '.':
        return b'%2E'
    if ident == '..':
        return b'%2E%2E'
    if ident == '':
        return b'%'
    out = bytearray()
    for b in id_bytes(ident):
        if b == 0x25:
            out += b'%25'
        elif b == 0x2F:
            out += b'%2F'
        elif b == 0:
            out += b'%00'
        else:
            out.append(b)
    return bytes(out)


def name_bytes(ident, suffix=b''):
    esc = escape_id(ident)
    if len(esc) + len(suffix) <= 255:
        return esc + suffix
    n = 255 - len(suffix) - 17
    cut = esc[:n]
    # do not split a UTF-8 character: back up over continuation bytes
    # when the next byte continues the character at the cut
    if len(esc) > n and (esc[n] & 0xC0) == 0x80:
        i = n
        while i > 0 and (esc[i] & 0xC0) == 0x80:
            i -= 1
        cut = esc[:i]          # drop the lead byte too
    # do not split a %XX escape
    if cut.endswith(b'%'):
        cut = cut[:-1]
    elif len(cut) >= 2 and cut[-2:-1] == b'%':
        cut = cut[:-2]
    return cut + b'~' + ('%016x' % H(id_bytes(ident))).encode() + suffix


def fs_name(ident, suffix=''):
    """The name teamsfs gives ident, as os.listdir(str) returns it."""
    return os.fsdecode(name_bytes(ident, os.fsencode(suffix)))


def msg_name(ident):
    return fs_name(ident, '.json')


_DATE_RE = re.compile(
    r'^(\d{4})-(\d{2})-(\d{2})[Tt ]?(\d{2}):(\d{2}):(\d{2})'
    r'(?:\.(\d{0,9}))?(Z|[+-]\d{2}:?\d{2})?$')


def parse_time_ns(s):
    """Lenient Graph timestamp -> ns since the epoch, or None."""
    if not isinstance(s, str):
        return None
    m = _DATE_RE.match(s)
    if not m:
        return None
    y, mo, d, hh, mi, ss = (int(x) for x in m.group(1, 2, 3, 4, 5, 6))
    try:
        secs = calendar.timegm((y, mo, d, hh, mi, ss, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    if not (1 <= mo <= 12 and 1 <= d <= 31 and hh < 24 and mi < 60
            and ss < 61):
        return None
    frac = (m.group(7) or '').ljust(9, '0')
    tz = m.group(8)
    if tz and tz != 'Z':
        sign = -1 if tz[0] == '-' else 1
        tz = tz[1:].replace(':', '')
        secs -= sign * (int(tz[:2]) * 3600 + int(tz[2:]) * 60)
    return secs * 1000000000 + int(frac)


def message_mtime_ns(msg):
    for key in ('lastModifiedDateTime', 'createdDateTime'):
        t = parse_time_ns(msg.get(key))
        if t is not None:
            return t
    return 0


# ---------------------------------------------------------------------------
# Attachments: what <message>.attachments/ holds (the rules of src/attach.c)

ATT_REFERENCE = 'reference'
ATT_HOSTED = 'hostedContent'
ATT_INLINE = 'inline'
ATTDIR_SUFFIX = '.attachments'
NOID_ATTDIR_RE = re.compile(r'^%noid-([0-9a-f]{16})\.attachments$')


class Att:
    """One file of an attachments directory."""

    def __init__(self, kind, name, source=None, content_type=None,
                 att_id=None, item=None, graph_prefix=None):
        self.kind = kind              # ATT_REFERENCE, ATT_HOSTED, ATT_INLINE
        self.name = name              # file name, as os.listdir(str) gives it
        self.source = source          # contentUrl, or hosted path after /v1.0/
        self.content_type = content_type
        self.id = att_id
        self.item = item              # the attachments[] item (not hosted)
        self.graph_prefix = graph_prefix   # '/v1.0/' or '/beta/' (hosted)

    def __repr__(self):
        return 'Att(%s, %r)' % (self.kind, self.name)

    @property
    def downloadable(self):
        return self.kind != ATT_INLINE

    def graph_path(self):
        """Path (from /v1.0/ on) teamsfs asks for the bytes."""
        if self.kind == ATT_REFERENCE:
            return '/v1.0/shares/%s/driveItem/content' % shares_id(
                self.source)
        if self.kind == ATT_HOSTED:
            return '/v1.0/' + self.source
        return None

    def media_key(self):
        """Key of this file in /_emulator/tenant "files"/"hostedContents"."""
        if self.kind == ATT_REFERENCE:
            return self.source
        if self.kind == ATT_HOSTED:
            return self.graph_prefix + self.source
        return None


def shares_id(url):
    b = base64.urlsafe_b64encode(url.encode('utf-8', 'surrogatepass'))
    return 'u!' + b.decode().rstrip('=')


def _att_name(taken, base, ext):
    """name_it(): base+ext, or base~2+ext, ... unique among taken."""
    k = 1
    while True:
        raw = base + ext if k == 1 else '%s~%d%s' % (base, k, ext)
        name = fs_name(raw)
        if name not in taken:
            return name
        k += 1


def _split_ext(file):
    """name_file(): the clash suffix goes before an extension of <= 10
    bytes (dot included) that is not the whole name."""
    i = file.rfind('.')
    if i <= 0 or len(file[i:].encode('utf-8', 'surrogatepass')) > 10:
        return file, ''
    return file[:i], file[i:]


def _hosted_in(html):
    """add_hosted(): (graph prefix, source, hosted id, ext) in body order."""
    b = html.encode('utf-8', 'surrogatepass')
    marker = b'/hostedContents/'
    out, seen = [], set()
    p = 0
    while True:
        i = b.find(marker, p)
        if i < 0:
            break
        ids = i + len(marker)
        end = b.find(b'/$value', ids)
        p = ids
        if end < 0 or end - ids > 4096 or b'"' in b[ids:end]:
            continue
        start = i
        while start > 0 and b[start - 1:start] not in (b'"', b"'", b'=',
                                                         b' '):
            start -= 1
        ver = None
        for q in range(start, ids):
            if b.startswith(b'/v1.0/', q) or b.startswith(b'/beta/', q):
                ver = q
                break
        if ver is None:
            continue
        end += 7
        source = b[ver + 6:end]
        if source in seen:
            continue
        seen.add(source)
        hid = b[ids:end - 7]
        tag = start
        while tag > 0 and b[tag:tag + 1] != b'<':
            tag -= 1
        ext = '.png' if b.startswith(b'<img', tag) else '.txt'
        out.append((b[ver:ver + 6].decode(),
                    source.decode('utf-8', 'surrogatepass'),
                    hid.decode('utf-8', 'surrogatepass'), ext))
    return out


def attachments_of(msg):
    """The files of msg's attachments directory, in teamsfs's order."""
    out = []
    taken = []

    def put(att, base, ext):
        att.name = _att_name(taken, base, ext)
        taken.append(att.name)
        out.append(att)

    items = msg.get('attachments')
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        typ = item.get('contentType')
        typ = typ if isinstance(typ, str) else None
        aid = item.get('id') if isinstance(item.get('id'), str) else None
        url = item.get('contentUrl')
        if typ == 'reference' and isinstance(url, str):
            file = item.get('name')
            if not isinstance(file, str) or not file:
                j = url.rfind('/')
                file = url[j + 1:] if j >= 0 and url[j + 1:] else 'file'
            att = Att(ATT_REFERENCE, None, url, typ, aid, item)
            put(att, *_split_ext(file))
        else:
            label = item.get('name')
            if not isinstance(label, str) or not label:
                label = aid
            if not label:
                label = 'attachment'
            put(Att(ATT_INLINE, None, None, typ, aid, item), label, '.json')
    body = msg.get('body')
    html = body.get('content') if isinstance(body, dict) else None
    if isinstance(html, str):
        for prefix, source, hid, ext in _hosted_in(html):
            put(Att(ATT_HOSTED, None, source, None, hid,
                    graph_prefix=prefix), hid, ext)
    return out


def attdir_name(msg):
    """Name of msg's attachments directory (None: no id, name by hash)."""
    mid = msg.get('id')
    return fs_name(mid, ATTDIR_SUFFIX) if isinstance(mid, str) else None


def link_name(att):
    """attachments=links: the .url file of a downloadable attachment
    (None when the name would pass 255 bytes: teamsfs leaves it out)."""
    if len(os.fsencode(att.name)) + 4 > 255:
        return None
    return att.name + '.url'


def inline_expected(att):
    """-> ('json', object) or ('bytes', bytes) the inline file must hold."""
    content = att.item.get('content')
    if not isinstance(content, str):
        return 'json', att.item
    try:
        return 'json', json.loads(content)
    except ValueError:
        return 'bytes', (content + '\n').encode('utf-8', 'surrogatepass')


class AttDir:
    def __init__(self, msg, atts):
        self.msg = msg
        self.atts = atts              # [Att]
        self.mtime_ns = message_mtime_ns(msg)

    def names(self):
        return [a.name for a in self.atts]


# ---------------------------------------------------------------------------
# Expected tree from /_emulator/tenant

NOID_RE = re.compile(r'^%noid-([0-9a-f]{16})\.json$')


class Container:
    def __init__(self, name, raw):
        self.name = name          # directory name
        self.raw = raw            # container id, or None for %nochat etc.
        self.named = {}           # file name -> message
        self.noid = []            # messages with no string id
        self.attdirs = {}         # "<id>.attachments" -> AttDir
        self.noid_attdirs = []    # AttDir of messages with no string id
        self.mtime_ns = 0

    def all_messages(self):
        return list(self.named.values()) + list(self.noid)

    def entry_count(self):
        """Names in the container directory: messages and attachments
        directories."""
        return (len(self.named) + len(self.noid) + len(self.attdirs)
                + len(self.noid_attdirs))

    def att_count(self):
        return sum(len(d.atts) for d in self.all_attdirs())

    def all_attdirs(self):
        return list(self.attdirs.values()) + list(self.noid_attdirs)


class Scope:
    """One crawl unit: /users/U/chats or /teams/T/channels."""

    def __init__(self, kind, owner, messages):
        self.kind = kind                      # 'chats' or 'channels'
        self.owner = owner                    # user or team id
        top = 'users' if kind == 'chats' else 'teams'
        self.relpath = os.path.join(top, fs_name(owner), kind)
        self.served = messages                # as served, with duplicates
        self.containers = {}
        self._build()

    def _container_key(self, msg):
        if self.kind == 'chats':
            cid = msg.get('chatId')
            return cid if isinstance(cid, str) else None
        ident = msg.get('channelIdentity')
        cid = ident.get('channelId') if isinstance(ident, dict) else None
        return cid if isinstance(cid, str) else None

    def _build(self):
        best = {}     # (container, key) -> (mtime, order, msg)
        for order, msg in enumerate(self.served):
            if not isinstance(msg, dict):
                continue
            cid = self._container_key(msg)
            mid = msg.get('id')
            if isinstance(mid, str):
                key = ('id', mid)
            else:
                key = ('noid', json.dumps(msg, ensure_ascii=False))
            t = message_mtime_ns(msg)
            old = best.get((cid, key))
            if old is None or t >= old[0]:
                best[(cid, key)] = (t, order, msg)
        for (cid, key), (t, _, msg) in best.items():
            if cid is None:
                cname = '%nochat' if self.kind == 'chats' else '%nochannel'
            else:
                cname = fs_name(cid)
            c = self.containers.get(cname)
            if c is None:
                c = self.containers[cname] = Container(cname, cid)
            if key[0] == 'id':
                c.named[msg_name(key[1])] = msg
            else:
                c.noid.append(msg)
            c.mtime_ns = max(c.mtime_ns, t)
            atts = attachments_of(msg)
            if atts:
                if key[0] == 'id':
                    c.attdirs[attdir_name(msg)] = AttDir(msg, atts)
                else:
                    c.noid_attdirs.append(AttDir(msg, atts))

    @property
    def mtime_ns(self):
        return max([c.mtime_ns for c in self.containers.values()] or [0])

    def file_count(self):
        """Message files (attachments not counted)."""
        return sum(len(c.named) + len(c.noid)
                   for c in self.containers.values())

    def att_count(self):
        """Files in the scope's attachments directories."""
        return sum(c.att_count() for c in self.containers.values())

    def all_file_count(self):
        """Every regular file under the scope: messages and attachments."""
        return self.file_count() + self.att_count()

    def att_files(self):
        """relpath -> (Att, message) for every attachment of a message
        with an id (those of id-less messages have hashed directories)."""
        out = {}
        for c in self.containers.values():
            for dname, d in c.attdirs.items():
                for a in d.atts:
                    out[os.path.join(self.relpath, c.name, dname,
                                     a.name)] = (a, d.msg)
        return out

    def transcript_files(self):
        """relpaths of the scope's transcripts: an HTML page and a text
        file for each chat or channel."""
        top = 'users' if self.kind == 'chats' else 'teams'
        base = os.path.join('transcripts', top, fs_name(self.owner))
        return [os.path.join(base, c.name + ext)
                for c in self.containers.values()
                for ext in ('.html', '.txt')]

    def files(self):
        """relpath -> message for every file with a predictable name."""
        out = {}
        for c in self.containers.values():
            for n, m in c.named.items():
                out[os.path.join(self.relpath, c.name, n)] = m
        return out


class Expected:
    def __init__(self, tenant):
        self.tenant = tenant
        self.users = [u['id'] for u in tenant['users']]
        self.teams = [t['id'] for t in tenant['teams']]
        self.scopes = {}
        for uid in self.users:
            msgs = tenant.get('chatMessages', {}).get(uid, [])
            self.scopes[('chats', uid)] = Scope('chats', uid, msgs)
        for tid in self.teams:
            msgs = tenant.get('channelMessages', {}).get(tid, [])
            self.scopes[('channels', tid)] = Scope('channels', tid, msgs)

    def user_scope(self, uid):
        return self.scopes[('chats', uid)]

    def team_scope(self, tid):
        return self.scopes[('channels', tid)]

    def all_scopes(self):
        return list(self.scopes.values())

    def biggest_user(self):
        return max((self.user_scope(u) for u in self.users),
                   key=lambda s: s.file_count())

    def empty_users(self):
        return [u for u in self.users if not self.user_scope(u).served]

    def user_scopes_by_size(self):
        return sorted((self.user_scope(u) for u in self.users),
                      key=lambda s: s.file_count())

    # attachments
    def files_media(self):
        """contentUrl -> {"name", "size", "sha256", ..., "status"}."""
        return self.tenant.get('files') or {}

    def hosted_media(self):
        """'/v1.0/...$value' -> {"contentType", "size", "sha256"}."""
        return self.tenant.get('hostedContents') or {}

    def media(self, att):
        return media_of(self.tenant, att)

    def broken_atts(self, scopes=None):
        """[(relpath, Att, message, errno)] of every attachment Graph
        refuses (403: EACCES, 404: EIO), in scopes (default: all)."""
        out = []
        for scope in scopes or self.all_scopes():
            for rel, (a, msg) in sorted(scope.att_files().items()):
                e = att_errno(self.media(a))
                if e:
                    out.append((rel, a, msg, e))
        return out


def media_of(tenant, att):
    """What the emulator serves for att: {"status", "size", "sha256",
    "lastModifiedDateTime" (references), "contentType" (hosted)}."""
    if att.kind == ATT_REFERENCE:
        f = (tenant.get('files') or {}).get(att.source)
        return dict(f) if f else {'status': 404}
    if att.kind == ATT_HOSTED:
        f = (tenant.get('hostedContents') or {}).get(att.media_key())
        if f is None:
            return {'status': 404}
        f = dict(f)
        f.setdefault('status', 200)
        return f
    return None


def att_errno(media):
    """The errno a read of the attachment gives (None: it works)."""
    if not media or media.get('status') == 200:
        return None
    return errno.EACCES if media.get('status') == 403 else errno.EIO


def att_log_re(att, msg_file):
    """The one log line teamsfs writes when Graph refuses att."""
    return (r'^teamsfs: error: attachment %s of %s in '
            r'(users/[^/]+/chats|teams/[^/]+/channels)/.+: '
            r'Graph answered HTTP (403|404)'
            % (re.escape(att.name), re.escape(msg_file)))


def fusermount_u(mnt, tries):
    """fusermount3 -u @mnt, retried while busy; None, or its last stderr."""
    err = ''
    for _ in range(tries):
        r = subprocess.run(['fusermount3', '-u', mnt],
                           capture_output=True, text=True)
        if r.returncode == 0:
            return None
        err = r.stderr
        time.sleep(0.1)
    return err


def broken_log_res(broken):
    """Log regexes for the (relpath, Att, msg, errno) of broken_atts()."""
    return sorted({att_log_re(a, msg_name(msg['id']))
                   for _, a, msg, _ in broken})


# ---------------------------------------------------------------------------
# The emulator and its control API

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method, url, body=None, headers=None, form=None, timeout=30):
    """-> (status, headers, body bytes). Never follows other hosts."""
    assert url.startswith('http://127.0.0.1:') or \
        url.startswith('http://127.0.0.2:'), url
    data = None
    hdrs = dict(headers or {})
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        hdrs['Content-Type'] = 'application/x-www-form-urlencoded'
    elif body is not None:
        data = json.dumps(body).encode()
        hdrs['Content-Type'] = 'application/json'
    req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    try:
        with _opener.open(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class Emulator:
    def __init__(self, *args, tenant=DEFAULT_TENANT,
                 client_id=DEFAULT_CLIENT_ID, secret=DEFAULT_SECRET):
        require_binaries()
        self.args = list(args)
        self.tenant_id = tenant
        self.client_id = client_id
        self.secret = secret
        self.dir = tempfile.mkdtemp(prefix='teamsfs-emu-')
        self.port_file = os.path.join(self.dir, 'port')
        self.log = os.path.join(self.dir, 'emulator.log')
        self.proc = None
        self.port = None
        self._tenant = None

    def start(self):
        cmd = [EMULATOR, '--host', '127.0.0.1', '--port', '0',
               '--port-file', self.port_file] + self.args
        with open(self.log, 'wb') as logf:
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=logf,
                                         stdin=subprocess.DEVNULL,
                                         env=child_env())
        _live_procs.append(self.proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = read_text(self.log)
                self.stop()
                raise AssertionError('emulator exited with %s:\n%s'
                                     % (self.proc.returncode, log))
            txt = read_text(self.port_file).strip()
            if txt.isdigit():
                self.port = int(txt)
                return self
            time.sleep(0.05)
        log = read_text(self.log)
        self.stop()
        raise AssertionError('emulator wrote no port file:\n' + log)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                http('POST', self.url + '/_emulator/shutdown', timeout=5)
            except Exception:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc in _live_procs:
            _live_procs.remove(self.proc)
        if not KEEP:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.port

    @property
    def graph_url(self):
        return self.url + '/v1.0'

    @property
    def token_url(self):
        return '%s/%s/oauth2/v2.0/token' % (self.url, self.tenant_id)

    # control API
    def _json(self, method, path, body=None):
        status, _, data = http(method, self.url + path, body=body)
        if status >= 300:
            raise AssertionError('%s %s -> %d %r'
                                 % (method, path, status, data[:500]))
        return json.loads(data) if data.strip() else None

    def tenant(self):
        if self._tenant is None:
            self._tenant = self._json('GET', '/_emulator/tenant')
        return self._tenant

    def expected(self):
        return Expected(self.tenant())

    def requests(self):
        return self._json('GET', '/_emulator/requests')

    def clear_requests(self):
        self._json('POST', '/_emulator/requests/clear')

    def downloads(self):
        """Requests the download origin received (never in requests())."""
        return self._json('GET', '/_emulator/downloads')

    def clear_downloads(self):
        self._json('POST', '/_emulator/downloads/clear')

    def clear_logs(self):
        self.clear_requests()
        self.clear_downloads()

    def health(self):
        return self._json('GET', '/_emulator/health')

    def fault(self, match, status, code, message='injected fault',
              count=-1, retry_after=None):
        body = {'match': match, 'status': status, 'code': code,
                'message': message, 'count': count}
        if retry_after is not None:
            body['retry_after'] = retry_after
        self._json('POST', '/_emulator/faults', body)

    def clear_faults(self):
        self._json('DELETE', '/_emulator/faults')

    # acting as a Graph client ourselves (to know what one pass looks like)
    def token(self):
        status, _, data = http('POST', self.token_url, form={
            'client_id': self.client_id, 'client_secret': self.secret,
            'grant_type': 'client_credentials',
            'scope': 'https://graph.microsoft.com/.default'})
        assert status == 200, (status, data)
        return json.loads(data)['access_token']

    def crawl_pages(self, first_path):
        """Follow nextLinks from a raw path; -> list of (path, page)."""
        tok = self.token()
        url = self.url + first_path
        pages = []
        while url:
            status, _, data = http('GET', url, headers={
                'Authorization': 'Bearer ' + tok,
                'Prefer': 'include-unknown-enum-members'})
            assert status == 200, (url, status, data[:300])
            page = json.loads(data)
            parsed = urllib.parse.urlsplit(url)
            path = parsed.path + ('?' + parsed.query if parsed.query else '')
            pages.append((path, page))
            url = page.get('@odata.nextLink')
            assert len(pages) < 5000, 'paging does not end'
        return pages


def scope_request_re(kind, owner):
    """Regex matching a raw request path of one scope's getAllMessages."""
    top = 'users' if kind == 'chats' else 'teams'
    o = re.escape(urllib.parse.quote(owner, safe="@:!$&'()*+,;=-._~"))
    return re.compile(r"(?i)^/v1\.0/%s(?:/%s|\('%s'\))/%s/getallmessages"
                      % (top, o, o, kind))


def is_getall(req):
    return re.search(r'(?i)/getallmessages', req['path']) is not None


def has_skiptoken(path):
    return re.search(r'(?i)(\$|%24)skiptoken=', path) is not None


def scope_requests(reqs, scope):
    rx = scope_request_re(scope.kind, scope.owner)
    return [r for r in reqs if rx.search(r['path'])]


def fault_match_for(scope, later_pages_only=False):
    """A fault regex hitting one scope's getAllMessages requests."""
    rx = scope_request_re(scope.kind, scope.owner).pattern.replace(
        '^', '', 1)
    if later_pages_only:
        rx += r'.*(\$|%24)skiptoken='
    return rx


# ---------------------------------------------------------------------------
# Mounts

LOG_LINE_RE = re.compile(r'^teamsfs: (error|warning|notice|info|debug): ')


# What the mount's root holds.
ROOT_NAMES = ['by-name', 'teams', 'transcripts', 'users']


class Mount:
    """Context manager running `teamsfs -f` on a fresh mount point.

    expect: regexes for error/warning lines the test allows
    require: regexes that must each match at least one log line
    On exit: unmount, require exit status 0, and no error/warning line
    that no `expect` regex matches.
    """

    def __init__(self, emu, options=None, secret=None, cache_dir=None,
                 graph_url=None, token_url=None, expect=(), require=(),
                 debug=False, umask=0o022, make_cache=True, keep=False):
        require_binaries()
        self.emu = emu
        self.options = list(options or [])
        self.secret = emu.secret if secret is None else secret
        self.graph_url = graph_url or emu.graph_url
        self.token_url = token_url or emu.token_url
        self.expect = [re.compile(x) for x in expect]
        self.require = [re.compile(x) for x in require]
        self.debug = debug
        self.umask = umask
        self.keep = keep          # leave self.dir for the test to inspect
        self.dir = tempfile.mkdtemp(prefix='teamsfs-mnt-')
        self.mnt = os.path.join(self.dir, 'mnt')
        os.mkdir(self.mnt)
        self.cache_dir = cache_dir or os.path.join(self.dir, 'cache')
        if cache_dir is None and make_cache:
            os.mkdir(self.cache_dir, 0o700)
        self.secret_file = os.path.join(self.dir, 'secret')
        self.log = os.path.join(self.dir, 'teamsfs.log')
        self.proc = None
        self.mounted = False

    def option_string(self):
        opts = ['tenant=' + self.emu.tenant_id,
                'client_id=' + self.emu.client_id,
                'client_secret_file=' + self.secret_file,
                'graph_url=' + self.graph_url,
                'token_url=' + self.token_url,
                'cache_dir=' + self.cache_dir] + self.options
        return ','.join(opts)

    def command(self):
        cmd = [TEAMSFS_BIN, '-f']
        if self.debug:
            cmd.append('-d')
        return cmd + ['-o', self.option_string(), self.mnt]

    def spawn(self):
        fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                     0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(self.secret + '\n')
        with open(self.log, 'wb') as logf:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=logf,
                stderr=logf, env=child_env(), umask=self.umask)
        _live_procs.append(self.proc)
        return self.proc

    def start(self):
        self.spawn()
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    'teamsfs exited with %s before mounting; log:\n%s'
                    % (self.proc.returncode, self.log_text()))
            if proc_mounted(self.mnt) and os.path.ismount(self.mnt):
                self.mounted = True
                _live_mounts.append(self.mnt)
                return self
            time.sleep(0.05)
        self._force_down()
        raise AssertionError('teamsfs did not mount within %ss; log:\n%s'
                             % (MOUNT_TIMEOUT, self.log_text()))

    def run_to_exit(self, timeout):
        """For start-up failures: run, wait for exit -> (rc, seconds)."""
        t0 = time.monotonic()
        self.spawn()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._force_down()
            raise AssertionError('teamsfs still running after %ss; log:\n%s'
                                 % (timeout, self.log_text()))
        self._reap()
        return rc, time.monotonic() - t0

    def _reap(self):
        if self.proc in _live_procs:
            _live_procs.remove(self.proc)

    def _force_down(self):
        if proc_mounted(self.mnt):
            subprocess.run(['fusermount3', '-u', '-z', self.mnt],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if self.mnt in _live_mounts:
            _live_mounts.remove(self.mnt)
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reap()

    def unmount(self):
        """Unmount, wait for teamsfs, check exit status and log."""
        err = fusermount_u(self.mnt, 50)
        if err is not None:
            self._force_down()
            raise AssertionError('fusermount3 -u failed: %s' % err)
        if self.mnt in _live_mounts:
            _live_mounts.remove(self.mnt)
        self.mounted = False
        try:
            rc = self.proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._force_down()
            raise AssertionError('teamsfs did not exit after unmount; log:\n'
                                 + self.log_text())
        self._reap()
        if rc != 0:
            raise AssertionError('teamsfs exited with %d; log:\n%s'
                                 % (rc, self.log_text()))
        self.check_log()

    def check_log(self):
        bad = self.unexpected_lines()
        if bad:
            raise AssertionError('unexpected log lines:\n' + '\n'.join(bad)
                                 + '\n--- full log:\n' + self.log_tail())
        for rx in self.require:
            if not any(rx.search(l) for l in self.log_lines()):
                raise AssertionError('no log line matches %r; log:\n%s'
                                     % (rx.pattern, self.log_tail()))

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, etype, exc, tb):
        try:
            if etype is None:
                self.unmount()
            else:
                # the test failed already: still try a clean unmount
                subprocess.run(['fusermount3', '-u', self.mnt],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
                self._force_down()
                sys.stderr.write('\n--- teamsfs log (%s):\n%s\n'
                                 % (self.mnt, self.log_tail()))
        finally:
            self.cleanup()
        return False

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self._force_down()
        if not (KEEP or self.keep) and not proc_mounted(self.mnt):
            self.remove()

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    # helpers
    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def log_text(self):
        return read_text(self.log)

    def log_tail(self, n=60):
        return '\n'.join(self.log_text().splitlines()[-n:])

    def log_lines(self):
        return self.log_text().splitlines()

    def level_lines(self, level):
        p = 'teamsfs: %s: ' % level
        return [l for l in self.log_lines() if l.startswith(p)]

    def allow(self, *regexes):
        """Allow more error/warning lines (a test that touches a broken
        attachment on purpose)."""
        for rx in regexes:
            if not any(x.pattern == rx for x in self.expect):
                self.expect.append(re.compile(rx))

    def unexpected_lines(self):
        out = []
        for l in self.log_lines():
            if re.match(r'^teamsfs: (error|warning): ', l) and \
                    not any(rx.search(l) for rx in self.expect):
                out.append(l)
        return out


# ---------------------------------------------------------------------------
# Comparing a mounted scope with the expected one

def read_file(path):
    with open(path, 'rb') as f:
        return f.read()


class TreeCase(unittest.TestCase):
    """Base class with checks shared by the test modules."""

    maxDiff = 4000

    def assert_file(self, path, msg, expect_mtime=True):
        st = os.stat(path)          # before reading: size must be exact
        data = read_file(path)
        self.assertTrue(stat.S_ISREG(st.st_mode), path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o444, path)
        self.assertEqual((st.st_uid, st.st_gid),
                         (os.getuid(), os.getgid()), path)
        self.assertEqual(st.st_size, len(data), 'st_size of ' + path)
        self.assertTrue(data.endswith(b'\n'), path)
        self.assertEqual(json.loads(data.decode('utf-8')), msg, path)
        if expect_mtime:
            self.assertEqual(st.st_mtime_ns, message_mtime_ns(msg),
                             'mtime of %s (%r)' % (
                                 path, msg.get('lastModifiedDateTime')))
        return st, data

    def assert_dir_mode(self, path):
        st = os.stat(path)
        self.assertTrue(stat.S_ISDIR(st.st_mode), path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o555, path)
        self.assertEqual((st.st_uid, st.st_gid),
                         (os.getuid(), os.getgid()), path)
        return st

    def assert_container_names(self, mnt, scope):
        got = sorted(os.listdir(os.path.join(mnt.mnt, scope.relpath)))
        self.assertEqual(got, sorted(scope.containers), scope.relpath)

    def assert_scope(self, mnt, scope, contents=True):
        """Whole scope: names, modes, sizes, contents, mtimes.

        -> {relpath: (stat_result, bytes)} of what was read.
        """
        seen = {}
        base = os.path.join(mnt.mnt, scope.relpath)
        self.assert_container_names(mnt, scope)
        st = self.assert_dir_mode(base)
        self.assertEqual(st.st_mtime_ns, scope.mtime_ns,
                         'mtime of ' + scope.relpath)
        for cname, c in sorted(scope.containers.items()):
            cdir = os.path.join(base, cname)
            st = self.assert_dir_mode(cdir)
            self.assertEqual(st.st_mtime_ns, c.mtime_ns, 'mtime of ' + cdir)
            names = os.listdir(cdir)
            self.assertEqual(len(names), len(set(names)), cdir)
            for n in names:
                self.assertLessEqual(len(os.fsencode(n)), 255, n)
            attdirs = sorted(n for n in names if n.endswith(ATTDIR_SUFFIX))
            self.assertEqual(
                sorted(n for n in attdirs if not NOID_ATTDIR_RE.match(n)),
                sorted(c.attdirs), cdir)
            names = [n for n in names if not n.endswith(ATTDIR_SUFFIX)]
            named = sorted(n for n in names if n in c.named)
            self.assertEqual(named, sorted(c.named), cdir)
            noid = sorted(n for n in names if n not in c.named)
            for n in noid:
                self.assertRegex(n, NOID_RE, cdir)
            self.assertEqual(len(noid), len(c.noid), cdir)
            noid_attdirs = [n for n in attdirs if NOID_ATTDIR_RE.match(n)]
            self.assertEqual(len(noid_attdirs), len(c.noid_attdirs), cdir)
            for n in noid_attdirs:
                # named like the message file: hash of its bytes
                self.assertIn(n[:-len(ATTDIR_SUFFIX)] + '.json', noid, cdir)
            for dname, d in sorted(c.attdirs.items()):
                seen.update(self.assert_attdir(
                    mnt, os.path.join(cdir, dname), d, contents))
            for n in noid_attdirs:
                data = read_file(os.path.join(cdir, n[:-len(ATTDIR_SUFFIX)]
                                              + '.json'))
                obj = json.loads(data.decode('utf-8'))
                d = [x for x in c.noid_attdirs if x.msg == obj]
                self.assertEqual(len(d), 1, os.path.join(cdir, n))
                seen.update(self.assert_attdir(
                    mnt, os.path.join(cdir, n), d[0], contents))
            if not contents:
                continue
            for n in named:
                p = os.path.join(cdir, n)
                seen[os.path.relpath(p, mnt.mnt)] = self.assert_file(
                    p, c.named[n])
            got_noid = []
            for n in noid:
                p = os.path.join(cdir, n)
                st = os.stat(p)
                data = read_file(p)
                self.assertEqual(st.st_size, len(data), p)
                self.assertTrue(data.endswith(b'\n'), p)
                obj = json.loads(data.decode('utf-8'))
                self.assertEqual(st.st_mtime_ns, message_mtime_ns(obj), p)
                self.assertEqual(stat.S_IMODE(st.st_mode), 0o444, p)
                got_noid.append(json.dumps(obj, sort_keys=True))
                seen[os.path.relpath(p, mnt.mnt)] = (st, data)
            self.assertEqual(
                sorted(got_noid),
                sorted(json.dumps(m, sort_keys=True) for m in c.noid), cdir)
        return seen

    def assert_attdir(self, mnt, path, attdir, contents=True,
                      links=False):
        """An attachments directory: mode, mtime, names and (contents)
        every file.  -> {relpath: (stat_result, bytes)} of what was read."""
        seen = {}
        st = self.assert_dir_mode(path)
        self.assertEqual(st.st_mtime_ns, attdir.mtime_ns, 'mtime of ' + path)
        names = os.listdir(path)
        if links:
            want = [a.name if not a.downloadable else link_name(a)
                    for a in attdir.atts]
            want = [n for n in want if n]
        else:
            want = attdir.names()
        self.assertEqual(sorted(names), sorted(want), path)
        if not contents:
            return seen
        tenant = mnt.emu.tenant()
        msg_file = os.path.basename(path)[:-len(ATTDIR_SUFFIX)] + '.json'
        for a in attdir.atts:
            if links and a.downloadable:
                n = link_name(a)
                if n:
                    p = os.path.join(path, n)
                    seen[os.path.relpath(p, mnt.mnt)] = self.assert_link(
                        mnt, p, a, attdir.msg)
                continue
            p = os.path.join(path, a.name)
            got = self.assert_attachment(mnt, p, a, attdir.msg,
                                         media_of(tenant, a), msg_file)
            if got:
                seen[os.path.relpath(p, mnt.mnt)] = got
        return seen

    def assert_attachment(self, mnt, path, att, msg, media, msg_file):
        """One attachment file: stat before read gives the size that read
        gives, bytes (sha256) as the emulator serves, mode and mtime; or
        the error Graph's refusal maps to (the mount then allows its log
        line).  -> (stat_result, bytes) or None for a refused one."""
        err = att_errno(media)
        if err:
            mnt.allow(att_log_re(att, msg_file))
            with self.assertRaises(OSError, msg=path) as cm:
                os.stat(path)
            self.assertEqual(cm.exception.errno, err, path)
            with self.assertRaises(OSError, msg=path) as cm:
                read_file(path)
            self.assertEqual(cm.exception.errno, err, path)
            return None
        st = os.stat(path)          # before reading: size must be exact
        data = read_file(path)
        self.assertTrue(stat.S_ISREG(st.st_mode), path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o444, path)
        self.assertEqual((st.st_uid, st.st_gid),
                         (os.getuid(), os.getgid()), path)
        self.assertEqual(st.st_size, len(data), 'st_size of ' + path)
        mtime = message_mtime_ns(msg)
        if att.kind == ATT_INLINE:
            how, want = inline_expected(att)
            if how == 'json':
                self.assertTrue(data.endswith(b'\n'), path)
                self.assertEqual(json.loads(data.decode('utf-8')), want,
                                 path)
            else:
                self.assertEqual(data, want, path)
        else:
            self.assertEqual(len(data), media['size'], 'size of ' + path)
            self.assertEqual(hashlib.sha256(data).hexdigest(),
                             media['sha256'], 'sha256 of ' + path)
            if att.kind == ATT_REFERENCE:
                t = parse_time_ns(media.get('lastModifiedDateTime'))
                if t is not None:
                    mtime = t
        self.assertEqual(st.st_mtime_ns, mtime, 'mtime of ' + path)
        return st, data

    def assert_link(self, mnt, path, att, msg):
        """attachments=links: an internet shortcut holding the URL."""
        st = os.stat(path)
        data = read_file(path)
        self.assertEqual(st.st_size, len(data), path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o444, path)
        self.assertEqual(data, link_text(mnt, att), path)
        return st, data

    def assert_one_pass(self, emu, reqs, scope, top=None):
        """teamsfs fetched every page of one pass of scope exactly once.

        reqs: the requests log, taken before this call (the call crawls
        the scope itself, as a client, to learn what one pass is).
        -> (pages, Scope built from exactly what those pages served)
        """
        mine = scope_requests(reqs, scope)
        self.assertTrue(mine, 'no getAllMessages request for '
                        + scope.relpath)
        for r in mine:
            self.assertTrue(r['authorization'], r)
            self.assertIn('include-unknown-enum-members',
                          r.get('prefer') or '', r)
        ok = [r['path'] for r in mine if r['status'] == 200]
        firsts = [r['path'] for r in mine if not has_skiptoken(r['path'])]
        self.assertEqual(len(firsts), 1,
                         'first-page requests for %s: %r'
                         % (scope.relpath, firsts))
        self.assertEqual(len(ok), len(set(ok)), 'a page was fetched twice')
        if top is not None:
            self.assertRegex(firsts[0], r'(\$|%%24)top=%d(&|$)' % top)
        pages = emu.crawl_pages(firsts[0])
        self.assertEqual(sorted(ok), sorted(p for p, _ in pages),
                         'pages fetched by teamsfs != one pass')
        values = [m for _, pg in pages for m in (pg.get('value') or [])]
        return pages, Scope(scope.kind, scope.owner, values)

    def assert_scope_files_count(self, mnt, scope):
        n = natt = 0
        for d, _, files in os.walk(os.path.join(mnt.mnt, scope.relpath)):
            n += len(files)
            if d.endswith(ATTDIR_SUFFIX):
                natt += len(files)
        self.assertEqual(n - natt, scope.file_count(), scope.relpath)
        self.assertEqual(natt, scope.att_count(), scope.relpath)


def link_text(mnt, att):
    """The bytes of att's .url file in attachments=links mode."""
    if att.kind == ATT_HOSTED:
        url = mnt.graph_url + '/' + att.source
    else:
        url = att.source
    return ('[InternetShortcut]\r\nURL=%s\r\n' % url).encode(
        'utf-8', 'surrogatepass')


def snapshot(root):
    """relpath -> (kind, ino, size, mtime_ns, mode, bytes or None);
    ('error', errno) for what cannot be stat'ed or read (a refused
    attachment)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            try:
                st = os.lstat(p)
                data = read_file(p) if stat.S_ISREG(st.st_mode) else None
            except OSError as e:
                out[os.path.relpath(p, root)] = ('error', e.errno)
                continue
            out[os.path.relpath(p, root)] = (
                stat.S_IFMT(st.st_mode), st.st_ino, st.st_size,
                st.st_mtime_ns, st.st_mode, data)
    return out


def free_port():
    """A loopback port nobody listens on right now."""
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def timed(fn, *args):
    t0 = time.monotonic()
    try:
        res = fn(*args)
        err = None
    except OSError as e:
        res, err = None, e
    return res, err, time.monotonic() - t0


_shared = {}


def shared_emulator(*args):
    """One emulator per argument list for the whole test run."""
    emu = _shared.get(args)
    if emu is None or emu.proc.poll() is not None:
        emu = _shared[args] = Emulator(*args).start()
    return emu


def sample_emulator():
    return shared_emulator('--samples', SAMPLES)


def _stop_shared():
    for emu in _shared.values():
        emu.stop()


atexit.register(_stop_shared)


class FakeServer:
    """A tiny HTTP server on loopback for what the emulator cannot do.

    handler(method, path, body) -> (status, json-able object or None).
    Usable as the `emu` of a Mount (same attributes as Emulator).
    """

    def __init__(self, handler, host='127.0.0.1',
                 tenant=DEFAULT_TENANT, client_id=DEFAULT_CLIENT_ID,
                 secret=DEFAULT_SECRET):
        import http.server
        self.tenant_id = tenant
        self.client_id = client_id
        self.secret = secret
        self.host = host
        self.log = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _serve(self):
                n = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(n) if n else b''
                outer.log.append((self.command, self.path))
                status, obj = handler(self.command, self.path, body)
                data = b'' if obj is None else json.dumps(obj).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    @property
    def url(self):
        return 'http://%s:%d' % (self.host, self.port)

    @property
    def graph_url(self):
        return self.url + '/v1.0'

    @property
    def token_url(self):
        return '%s/%s/oauth2/v2.0/token' % (self.url, self.tenant_id)
