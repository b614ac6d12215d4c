"""Helpers for the tests of issue 5 (tools, names, sync, service).

Used by test_usertools*.py beside harness.py (which they also use):
running commands, reading getfattr output, reading directories with
getdents64 and telldir/seekdir, the /by-name names teamsfs should show
(the rules of src/byname.c), long-lived mounts for a test class, and
running `teamsfs sync` / `teamsfs status`. Python standard library only.
"""

import base64
import ctypes
import ctypes.util
import errno
import os
import platform
import re
import shlex
import stat
import subprocess
import time

import harness as h

PROBES = ('.hidden', '.directory', 'autorun.inf', 'desktop.ini',
          '.Trash-1000', '.Trash', 'Thumbs.db', '.DS_Store')

MSG_XATTRS = ('user.teamsfs.id', 'user.teamsfs.sender',
              'user.teamsfs.created', 'user.teamsfs.modified',
              'user.teamsfs.type', 'user.teamsfs.deleted',
              'user.teamsfs.web_url')


# ---------------------------------------------------------------------------
# Commands

def sh(cmd, timeout=120, env=None, cwd=None):
    """bash -o pipefail -c cmd -> CompletedProcess (bytes)."""
    return subprocess.run(['bash', '-o', 'pipefail', '-c', cmd],
                          capture_output=True, env=env or h.child_env(),
                          timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)


def q(s):
    return shlex.quote(s)


def describe(r):
    """A CompletedProcess, for assertion messages."""
    out = r.stdout if isinstance(r.stdout, str) else os.fsdecode(
        r.stdout or b'')
    err = r.stderr if isinstance(r.stderr, str) else os.fsdecode(
        r.stderr or b'')
    args = r.args if isinstance(r.args, str) else ' '.join(
        map(str, r.args))
    return 'command: %s\nexit: %s\nstdout (tail):\n%s\nstderr (tail):\n%s' % (
        args, r.returncode, out[-3000:], err[-3000:])


def graph_requests(emu, pattern=None):
    """Requests the emulator's Graph origin got (token requests left out)."""
    out = [r for r in emu.requests() if r['path'].startswith('/v1.0')]
    if pattern:
        out = [r for r in out if re.search(pattern, r['path'])]
    return out


def getall_requests(emu):
    return [r for r in emu.requests() if h.is_getall(r)]


def set_config(emu, **settings):
    status, _, data = h.http('POST', emu.url + '/_emulator/config',
                             body=settings)
    assert status == 200, (status, data)


# ---------------------------------------------------------------------------
# getfattr -d output

def _unquote_getfattr(v):
    if v.startswith('0s'):
        return base64.b64decode(v[2:])
    if v.startswith('0x'):
        return bytes.fromhex(v[2:])
    assert v.startswith('"') and v.endswith('"'), v
    raw = os.fsencode(v[1:-1])
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x5C and i + 1 < len(raw):          # backslash
            if raw[i + 1:i + 4].isdigit() and len(raw[i + 1:i + 4]) == 3:
                out.append(int(raw[i + 1:i + 4], 8))
                i += 4
                continue
            out.append(raw[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


def parse_getfattr(text):
    """`getfattr -d --absolute-names` output -> {path: {name: bytes}}."""
    out = {}
    cur = None
    for line in text.split('\n'):
        if line.startswith('# file: '):
            cur = out.setdefault(line[len('# file: '):], {})
        elif line and cur is not None and '=' in line:
            name, _, value = line.partition('=')
            cur[name] = _unquote_getfattr(value)
    return out


def xattrs(path, follow=True):
    """{name: bytes} of every extended attribute (listxattr + getxattr);
    a name listxattr gives but getxattr refuses maps to a string
    'getxattr failed: <errno name>' (so a comparison shows it)."""
    out = {}
    for n in os.listxattr(path, follow_symlinks=follow):
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=follow)
        except OSError as e:
            out[n] = 'listed, but getxattr failed: %s' % errno.errorcode.get(
                e.errno, e.errno)
    return out


def message_xattrs(msg):
    """The user.teamsfs.* attributes of a message file (README): those
    whose source field is there, as src/tree.c words them."""
    def get(*keys):
        o = msg
        for k in keys:
            if not isinstance(o, dict):
                return None
            o = o.get(k)
        return o if isinstance(o, str) else None

    sender = get('from', 'user', 'displayName') or \
        get('from', 'application', 'displayName')
    out = {
        'user.teamsfs.id': get('id'),
        'user.teamsfs.sender': sender,
        'user.teamsfs.created': get('createdDateTime'),
        'user.teamsfs.modified': get('lastModifiedDateTime'),
        'user.teamsfs.type': get('messageType'),
        'user.teamsfs.deleted': 'yes' if msg.get('deletedDateTime')
        is not None else 'no',
        'user.teamsfs.web_url': get('webUrl'),
    }
    return {k: v.encode('utf-8', 'surrogatepass')
            for k, v in out.items() if v is not None}


# ---------------------------------------------------------------------------
# Directories: getdents64 with small buffers, telldir/seekdir

_libc = ctypes.CDLL(ctypes.util.find_library('c') or None, use_errno=True)
_SYS_GETDENTS64 = {'x86_64': 217, 'aarch64': 61, 'i686': 220,
                   'i386': 220, 'armv7l': 217, 'riscv64': 61,
                   'ppc64le': 202, 's390x': 220}.get(platform.machine())
_libc.syscall.restype = ctypes.c_long


def getdents(fd, bufsize):
    """One getdents64 call -> [(ino, d_off, d_type, name bytes)]."""
    assert _SYS_GETDENTS64, 'unknown getdents64 number for this machine'
    buf = ctypes.create_string_buffer(bufsize)
    n = _libc.syscall(ctypes.c_long(_SYS_GETDENTS64), ctypes.c_int(fd),
                      buf, ctypes.c_uint(bufsize))
    if n < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    raw = buf.raw[:n]
    out = []
    p = 0
    while p < n:
        ino, off, reclen, typ = (int.from_bytes(raw[p:p + 8], 'little'),
                                 int.from_bytes(raw[p + 8:p + 16], 'little',
                                                signed=True),
                                 int.from_bytes(raw[p + 16:p + 18],
                                                'little'),
                                 raw[p + 18])
        name = raw[p + 19:p + reclen].split(b'\0', 1)[0]
        out.append((ino, off, typ, name))
        p += reclen
    return out


def read_all_getdents(fd, bufsize):
    """Every entry from the current position to the end, small calls."""
    out = []
    while True:
        batch = getdents(fd, bufsize)
        if not batch:
            return out
        out += batch


class _Dirent64(ctypes.Structure):
    _fields_ = [('d_ino', ctypes.c_uint64), ('d_off', ctypes.c_int64),
                ('d_reclen', ctypes.c_ushort), ('d_type', ctypes.c_ubyte),
                ('d_name', ctypes.c_char * 256)]


_libc.opendir.restype = ctypes.c_void_p
_libc.opendir.argtypes = [ctypes.c_char_p]
_libc.readdir64.restype = ctypes.POINTER(_Dirent64)
_libc.readdir64.argtypes = [ctypes.c_void_p]
_libc.telldir.restype = ctypes.c_long
_libc.telldir.argtypes = [ctypes.c_void_p]
_libc.seekdir.restype = None
_libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
_libc.closedir.argtypes = [ctypes.c_void_p]


class LibcDir:
    """opendir/readdir/telldir/seekdir of the C library."""

    def __init__(self, path):
        self.d = _libc.opendir(os.fsencode(path))
        if not self.d:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e), path)

    def read(self):
        """-> name bytes, or None at the end."""
        ctypes.set_errno(0)
        p = _libc.readdir64(self.d)
        if not p:
            e = ctypes.get_errno()
            if e:
                raise OSError(e, os.strerror(e))
            return None
        return p.contents.d_name

    def tell(self):
        return _libc.telldir(self.d)

    def seek(self, pos):
        _libc.seekdir(self.d, pos)

    def close(self):
        if self.d:
            _libc.closedir(self.d)
            self.d = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------
# /by-name: what src/byname.c names things

def _hash8(ident):
    return '%08x' % (h.H(h.id_bytes(ident)) >> 32)


def settle(pairs):
    """[(label or None, id, target)] -> {readable name: target}.

    An empty label falls back to the id.  Equal labels (byte-wise) are
    ordered by id; all but the first get "~" + 8 hex digits of the top
    half of H(id).  The result is escaped like an id.
    """
    items = []
    for label, ident, target in pairs:
        label = label if isinstance(label, str) and label else ident
        items.append((h.id_bytes(label), h.id_bytes(ident), label, ident,
                      target))
    items.sort(key=lambda x: (x[0], x[1]))
    out = {}
    prev = None
    for lb, _, label, ident, target in items:
        raw = label if lb != prev else '%s~%s' % (label, _hash8(ident))
        prev = lb
        name = h.fs_name(raw)
        assert name not in out, 'two by-name entries called %r' % name
        out[name] = target
    return out


MAX_EXPANDED_MEMBERS = 25     # $expand=members gives at most 25


def chat_label(chat, self_id):
    topic = chat.get('topic')
    if isinstance(topic, str) and topic:
        return topic
    members = chat.get('members')
    if not isinstance(members, list):
        return None
    names, others = [], 0
    for m in members[:MAX_EXPANDED_MEMBERS]:
        name = m.get('displayName')
        uid = m.get('userId')
        if not isinstance(name, str) or (isinstance(uid, str)
                                         and uid == self_id):
            continue
        others += 1
        if others <= 3:
            names.append(name)
    label = ', '.join(names)
    if others > 3:
        label += ' +%d' % (others - 3)
    return label or None


def expected_byname(tenant):
    """-> {'users': {owner name: (owner id, {chat name: link target})},
           'teams': {...}} from /_emulator/tenant."""
    users = {}
    upairs = []
    for u in tenant['users']:
        upn = u.get('userPrincipalName')
        label = upn if isinstance(upn, str) else u.get('displayName')
        upairs.append((label, u['id'], u['id']))
    for name, uid in settle(upairs).items():
        chats = (tenant.get('chats') or {}).get(uid) or []
        links = settle([(chat_label(c, uid), c['id'],
                         '../../../users/%s/chats/%s' % (
                             h.fs_name(uid), h.fs_name(c['id'])))
                        for c in chats if isinstance(c.get('id'), str)])
        users[name] = (uid, links)
    teams = {}
    tpairs = [(t.get('displayName'), t['id'], t['id'])
              for t in tenant['teams']]
    for name, tid in settle(tpairs).items():
        chans = (tenant.get('channels') or {}).get(tid) or []
        links = settle([(c.get('displayName'), c['id'],
                         '../../../teams/%s/channels/%s' % (
                             h.fs_name(tid), h.fs_name(c['id'])))
                        for c in chans if isinstance(c.get('id'), str)])
        teams[name] = (tid, links)
    return {'users': users, 'teams': teams}


# ---------------------------------------------------------------------------
# Walking a mounted tree

def walk_stats(root, rel_to=None):
    """relpath -> os.lstat result of everything under root (root too)."""
    rel_to = rel_to or root
    out = {os.path.relpath(root, rel_to): os.lstat(root)}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            try:
                out[os.path.relpath(p, rel_to)] = os.lstat(p)
            except OSError as e:
                out[os.path.relpath(p, rel_to)] = e
    return out


def file_bytes_read(root, skip=()):
    """{relpath: number of bytes read} of every regular file under root
    (paths in skip, relative to root's parent walk base, left out)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in files:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            if rel in skip:
                continue
            if not stat.S_ISREG(os.lstat(p).st_mode):
                continue
            out[rel] = len(h.read_file(p))
    return out


def wait_until(pred, timeout, step=0.05, what='condition'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError('timed out after %ss waiting for %s'
                         % (timeout, what))


# ---------------------------------------------------------------------------
# teamsfs sync and status

class Cache:
    """A cache directory and a secret file for sync/status/mount runs."""

    def __init__(self, emu, tmpdir):
        self.emu = emu
        self.dir = tmpdir
        self.cache_dir = os.path.join(tmpdir, 'cache')
        os.makedirs(self.cache_dir, 0o700, exist_ok=True)
        self.secret_file = os.path.join(tmpdir, 'secret')
        if not os.path.exists(self.secret_file):
            fd = os.open(self.secret_file,
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'w') as f:
                f.write(emu.secret + '\n')

    def options(self, extra=()):
        return ','.join(['tenant=' + self.emu.tenant_id,
                         'client_id=' + self.emu.client_id,
                         'client_secret_file=' + self.secret_file,
                         'graph_url=' + self.emu.graph_url,
                         'token_url=' + self.emu.token_url,
                         'cache_dir=' + self.cache_dir] + list(extra))

    def sync_argv(self, extra=()):
        return [h.TEAMSFS_BIN, 'sync', '-o', self.options(extra)]

    def sync(self, extra=(), timeout=120):
        """Runs sync with stderr and stdout to pipes (not a terminal)."""
        return subprocess.run(self.sync_argv(extra), capture_output=True,
                              text=True, env=h.child_env(),
                              stdin=subprocess.DEVNULL, timeout=timeout)

    def status(self, timeout=30):
        return subprocess.run(
            [h.TEAMSFS_BIN, 'status', '-o', 'tenant=%s,cache_dir=%s'
             % (self.emu.tenant_id, self.cache_dir)],
            capture_output=True, text=True, env=h.child_env(),
            stdin=subprocess.DEVNULL, timeout=timeout)


STATUS_LINE_RE = re.compile(
    r'^(user|team)\s+(complete|partial)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)'
    r'\s+(.*)$')


def parse_status(text):
    """`teamsfs status` -> {('chats'|'channels', name): {...}}."""
    out = {}
    for line in text.splitlines():
        m = STATUS_LINE_RE.match(line)
        if not m:
            continue
        kind = 'chats' if m.group(1) == 'user' else 'channels'
        out[(kind, m.group(7))] = {
            'state': m.group(2), 'messages': int(m.group(3)),
            'dirs': int(m.group(4)), 'completed': m.group(5),
            'newest': m.group(6)}
    return out


def scope_key(scope):
    return (scope.kind, h.fs_name(scope.owner))
