"""Helpers for the freshness tests (teamsfs issue 4): live changes, faults,
runtime settings, kills, and whole-scope comparisons with the emulator's
current data.

Built on harness.py (imported, not changed). Python standard library only.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse

import harness as h

TOKEN_PATH_RE = re.compile(r'^/[^/]+/oauth2/v2\.0/token')
FILTER_RE = re.compile(
    r'^lastModifiedDateTime gt (\S+)$')


# ---------------------------------------------------------------------------
# The emulator, with live changes and runtime settings

class LiveEmulator(h.Emulator):
    """An emulator of our own (never the shared one): these tests change
    its data, faults and settings."""

    def tenant(self):
        # always the current data, never a copy from before a change
        return self._json('GET', '/_emulator/tenant')

    def config(self, **settings):
        return self._json('POST', '/_emulator/config', settings)

    def add_fault(self, **rule):
        return self._json('POST', '/_emulator/faults', rule)

    def add_message(self, **spec):
        return self._json('POST', '/_emulator/messages', spec)

    def edit_message(self, container, ident, body, **extra):
        spec = dict(extra, container=container, id=ident, body=body)
        return self._json('PATCH', '/_emulator/messages', spec)

    def delete_message(self, container, ident, **extra):
        spec = dict(extra, container=container, id=ident)
        return self._json('DELETE', '/_emulator/messages', spec)

    def expire_tokens(self):
        return self._json('POST', '/_emulator/tokens/expire')

    def walk_until_repeat(self, first_path, limit=2000):
        """Follow next links as a client would, stopping at the first link
        seen before; -> [(path, page)] of the pages actually reachable."""
        tok = self.token()
        url = self.url + first_path
        seen, pages = set(), []
        while url and url not in seen and len(pages) < limit:
            seen.add(url)
            status, _, data = h.http('GET', url, headers={
                'Authorization': 'Bearer ' + tok,
                'Prefer': 'include-unknown-enum-members'})
            assert status == 200, (url, status, data[:300])
            page = json.loads(data)
            parts = urllib.parse.urlsplit(url)
            pages.append((parts.path + ('?' + parts.query
                                        if parts.query else ''), page))
            url = page.get('@odata.nextLink')
        return pages


def live_emulator(*args):
    return LiveEmulator(*args).start()


def reference_pass(args, first_path):
    """The raw paths of one whole pass from first_path, walked on a second
    emulator with the same arguments (same data, same links), so that the
    walk leaves no trace in the requests log of the emulator under test."""
    ref = LiveEmulator(*args).start()
    try:
        return [p for p, _ in ref.crawl_pages(first_path)]
    finally:
        ref.stop()


# ---------------------------------------------------------------------------
# Requests log

def is_token_request(req):
    return TOKEN_PATH_RE.match(req['path']) is not None


def query_of(path):
    """Decoded query parameters of a raw request path ($ spelled out)."""
    q = urllib.parse.urlsplit(path).query
    return {k: v for k, v in urllib.parse.parse_qsl(q, keep_blank_values=True)}


def filter_since_ns(path):
    """The X of $filter=lastModifiedDateTime gt X in a request, in ns;
    None when the request has no such filter."""
    f = query_of(path).get('$filter')
    if f is None:
        return None
    m = FILTER_RE.match(f.strip())
    assert m, 'unexpected $filter %r in %s' % (f, path)
    t = h.parse_time_ns(m.group(1))
    assert t is not None, 'unreadable time in $filter %r' % f
    return t


def first_page_requests(reqs):
    """Requests of a scope that start a walk (no skip token)."""
    return [r for r in reqs if not h.has_skiptoken(r['path'])]


def unfiltered_first_pages(reqs):
    return [r for r in first_page_requests(reqs)
            if filter_since_ns(r['path']) is None]


def max_per_window(times, window=1.0):
    """Most events within any half-open window of that length."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


# ---------------------------------------------------------------------------
# Waiting without sleeps-as-assertions

def wait_until(check, timeout, what, interval=0.05):
    """Call check() until it returns without an AssertionError/OSError (its
    value is returned) or timeout seconds pass (the last failure is raised,
    prefixed with what)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, OSError) as e:
            if time.monotonic() >= deadline:
                raise AssertionError('%s: not so after %.1fs: %s'
                                     % (what, timeout, e)) from e
        time.sleep(interval)


def wait_requests(emu, pred, timeout, what):
    """Poll the requests log until pred(log) is true; -> the log."""
    def check():
        reqs = emu.requests()
        assert pred(reqs), 'requests log does not show it yet'
        return reqs
    return wait_until(check, timeout, what)


# ---------------------------------------------------------------------------
# Mounts that are killed, and cache directories that outlive mounts

def cache_dir(case):
    d = tempfile.mkdtemp(prefix='teamsfs-cache-')
    if not h.KEEP:
        case.addCleanup(shutil.rmtree, d, True)
    return d


def kill9(m):
    """SIGKILL a mounted teamsfs, then fusermount3 -u its dead mount."""
    os.kill(m.proc.pid, signal.SIGKILL)
    m.proc.wait(10)
    err = h.fusermount_u(m.mnt, 100)
    if err is not None:
        m._force_down()
        raise AssertionError('fusermount3 -u of the dead mount failed: '
                             + err)
    if m.mnt in h._live_mounts:
        h._live_mounts.remove(m.mnt)
    m.mounted = False
    m._reap()
    assert not h.proc_mounted(m.mnt), 'still mounted: ' + m.mnt


def stop_proc(p):
    """End a child process we started (by its id) and reap it."""
    if p.poll() is None:
        p.kill()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        pass


# ---------------------------------------------------------------------------
# Comparing mounted scopes with the emulator's current data

def json_names(names):
    return sorted(n for n in names if n.endswith('.json'))


class FreshCase(h.TreeCase):
    """Checks against the emulator's current data. The tree also holds
    <msg>.attachments/ directories (not compared here beyond belonging to a
    message file); the .json message files and the containers are."""

    def current(self, emu):
        return emu.expected()

    def assert_current(self, m, scope):
        """The mounted scope is exactly scope (an h.Scope built from current
        data): same containers, each .json file once, same contents, sizes
        and mtimes; container and scope directory mtimes."""
        base = os.path.join(m.mnt, scope.relpath)
        got = os.listdir(base)
        self.assertEqual(len(got), len(set(got)), 'doubled names in ' + base)
        self.assertEqual(sorted(got), sorted(scope.containers),
                         'containers of ' + scope.relpath)
        st = self.assert_dir_mode(base)
        self.assertEqual(st.st_mtime_ns, scope.mtime_ns,
                         'mtime of ' + scope.relpath)
        total = 0
        for cname, c in sorted(scope.containers.items()):
            cdir = os.path.join(base, cname)
            names = os.listdir(cdir)
            self.assertEqual(len(names), len(set(names)),
                             'doubled names in ' + cdir)
            files = json_names(names)
            named = sorted(n for n in files if n in c.named)
            missing = sorted(set(c.named) - set(files))
            self.assertEqual(missing, [], 'lost in ' + cdir)
            noid = sorted(n for n in files if n not in c.named)
            for n in noid:
                self.assertRegex(n, h.NOID_RE, 'unexpected file in ' + cdir)
            self.assertEqual(len(noid), len(c.noid), cdir)
            for n in names:
                if n.endswith('.json'):
                    continue
                self.assertTrue(n.endswith('.attachments'),
                                'unexpected entry %s in %s' % (n, cdir))
                self.assertIn(n[:-len('.attachments')] + '.json', files,
                              'attachments of no message: %s/%s' % (cdir, n))
            for n in named:
                self.assert_file(os.path.join(cdir, n), c.named[n])
            got_noid = []
            for n in noid:
                p = os.path.join(cdir, n)
                st = os.stat(p)
                data = h.read_file(p)
                self.assertEqual(st.st_size, len(data), p)
                got_noid.append(json.dumps(json.loads(data), sort_keys=True))
            self.assertEqual(
                sorted(got_noid),
                sorted(json.dumps(x, sort_keys=True) for x in c.noid), cdir)
            st = self.assert_dir_mode(cdir)
            self.assertEqual(st.st_mtime_ns, c.mtime_ns, 'mtime of ' + cdir)
            total += len(files)
        self.assertEqual(total, scope.file_count(),
                         'message files in ' + scope.relpath)

    def assert_scopes_current(self, m, emu, keys):
        """keys: [('chats', userId) or ('channels', teamId)], compared with
        the data the emulator serves now."""
        exp = self.current(emu)
        for key in keys:
            self.assert_current(m, exp.scopes[key])
        return exp

    def assert_lists_current(self, m, emu):
        exp = self.current(emu)
        self.assertEqual(sorted(os.listdir(m.path('users'))),
                         sorted(h.fs_name(u) for u in exp.users))
        self.assertEqual(sorted(os.listdir(m.path('teams'))),
                         sorted(h.fs_name(t) for t in exp.teams))


# ---------------------------------------------------------------------------
# Picking messages to change

def plain_messages(scope):
    """(container id, message) of ordinary, undeleted messages with a
    digits-only id in the scope's current data (stable order)."""
    out = []
    for c in sorted(scope.containers.values(), key=lambda c: c.name):
        if c.raw is None:
            continue
        for name, msg in sorted(c.named.items()):
            if (msg.get('messageType') == 'message'
                    and not msg.get('deletedDateTime')
                    and isinstance(msg.get('id'), str)
                    and msg['id'].isdigit()
                    and (msg.get('body') or {}).get('content')):
                out.append((c.raw, msg))
    return out


def group_chat_ids(scope):
    return sorted(c.raw for c in scope.containers.values()
                  if c.raw and c.raw.endswith('@thread.v2')
                  and not c.raw.startswith('19:meeting_'))


def one_to_one_chat_ids(scope):
    return sorted(c.raw for c in scope.containers.values()
                  if c.raw and c.raw.endswith('@unq.gbl.spaces'))


def ls_argv(path):
    return ['ls', '-1', '--', path]

