"""Attachments (issue 3): files beside their message, fetched on read.

Every reference and hosted-content file is checked against the emulator's
own sizes and sha256 ("files" and "hostedContents" of /_emulator/tenant);
what listing, stat and read cost is checked against its request and
download logs.
"""

import base64
import errno
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time

import harness as h

EMU = None

SHARES_META = re.compile(r'^/v1\.0/shares/([^/?]+)/driveItem(\?|$)')
SHARES_CONTENT = re.compile(r'^/v1\.0/shares/([^/?]+)/driveItem/content')
HOSTED = re.compile(r'(?i)/hostedContents')
MEDIA = re.compile(r'(?i)^/v1\.0/(shares/|.*/hostedContents)')
DOWNLOAD_PATH = re.compile(r'^/_layouts/15/download\.aspx\?')
TOKEN_WARNING = (r'^teamsfs: warning: .*(?i:token|identity platform|'
                 r'sign.?in|login)')
OFFLINE_ERROR = (r'^teamsfs: error: .*(?i:connect|refused|reach|offline|'
                 r'network|token|cache|unavailable)')
LARGE = 'Site photos.zip'
INLINE_TYPES = ('application/vnd.microsoft.card.adaptive',
                'application/vnd.microsoft.card.thumbnail',
                'application/vnd.microsoft.card.codesnippet',
                'messageReference', 'forwardedMessageReference',
                'meetingReference', 'tabReference')


def setUpModule():
    global EMU
    EMU = h.sample_emulator()


def sh(cmd):
    return subprocess.run(['bash', '-o', 'pipefail', '-c', cmd],
                          capture_output=True, env=h.child_env())


def sha(data):
    return hashlib.sha256(data).hexdigest()


def content_dir(m):
    return os.path.join(m.cache_dir, 'content')


def cache_file_name(att):
    """The content cache names a file by the hash of the Graph path it
    downloads (relative to graph_url)."""
    return '%016x' % h.H(att.graph_path()[len('/v1.0/'):].encode())


def read_uncached(path):
    """Read through teamsfs, not the kernel's page cache (teamsfs opens
    files with keep_cache)."""
    with open(path, 'rb') as f:
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        return f.read()


def cache_usage(m):
    """(bytes as eviction counts them, names) of the finished files."""
    total, names = 0, set()
    d = content_dir(m)
    for n in os.listdir(d) if os.path.isdir(d) else []:
        if n.startswith('tmp-') or n.startswith('.'):
            continue
        st = os.stat(os.path.join(d, n))
        total += st.st_blocks * 512
        names.add(n)
    return total, names


class AttachmentTest(h.TreeCase):
    def setUp(self):
        EMU.clear_faults()
        self.exp = EMU.expected()
        self.tenant = EMU.tenant()

    # -- finding attachments in the expected tree --------------------------

    def all_atts(self, scopes=None):
        """[(relpath, Att, msg, scope)] over scopes (default: all)."""
        out = []
        for scope in scopes or self.exp.all_scopes():
            for rel, (a, msg) in sorted(scope.att_files().items()):
                out.append((rel, a, msg, scope))
        return out

    def media(self, att):
        return h.media_of(self.tenant, att)

    def good(self, att):
        return att.downloadable and h.att_errno(self.media(att)) is None

    def first(self, pred, scopes=None):
        for item in self.all_atts(scopes):
            if pred(item[1]):
                return item
        self.fail('the tenant has no such attachment')

    def container_of(self, rel):
        return os.path.dirname(os.path.dirname(rel))

    def falcon(self):
        """The container with two references named alike, a hosted image,
        a snippet and a card (the first user's first group chat)."""
        scope = self.exp.user_scope(self.exp.users[0])
        rel, a, msg, _ = self.first(
            lambda a: a.name == 'Budget 2025~2.xlsx', [scope])
        return scope, self.container_of(rel)

    def distinct_good_refs(self, max_size=None):
        """One (rel, Att, msg, scope) per downloadable reference URL."""
        seen, out = set(), []
        for item in self.all_atts():
            a = item[1]
            if a.kind != h.ATT_REFERENCE or not self.good(a) or \
                    a.source in seen:
                continue
            if max_size and self.media(a)['size'] > max_size:
                continue
            seen.add(a.source)
            out.append(item)
        return out

    def media_requests(self, reqs):
        return [r for r in reqs if MEDIA.search(r['path'])]

    # -- the tests ----------------------------------------------------------

    def test_tenant_has_every_kind(self):
        """The sample tenant has what the other tests rely on."""
        atts = [a for _, a, _, _ in self.all_atts()]
        types = {a.content_type for a in atts if a.kind == h.ATT_INLINE}
        for t in INLINE_TYPES:
            self.assertIn(t, types)
        names = {a.name for a in atts}
        for n in ('Budget 2025.xlsx', 'Budget 2025~2.xlsx',
                  'Growth 15%25 plan.docx', LARGE,
                  'Квартальный отчёт 第3期.xlsx'):
            self.assertIn(n, names)
        self.assertTrue(any(a.kind == h.ATT_HOSTED and a.name.endswith(
            '.png') for a in atts))
        self.assertTrue(any(a.kind == h.ATT_HOSTED and a.name.endswith(
            '.txt') for a in atts))
        self.assertEqual(sorted({e for _, _, _, e in self.exp.broken_atts()}),
                         sorted([errno.EIO, errno.EACCES]))

    def test_bytes_of_every_attachment(self):
        """Every reference and hosted content: stat before any read gives
        the size a read gives, and the bytes are the emulator's (sha256);
        every inline file is its content as JSON.  Every kind and every
        file URL of the tenant is covered."""
        scopes = [s for s in self.exp.all_scopes() if s.att_count()]
        broken = self.exp.broken_atts(scopes)
        kinds, urls = set(), set()
        with h.Mount(EMU, expect=h.broken_log_res(broken)) as m:
            for scope in scopes:
                for cname, c in sorted(scope.containers.items()):
                    for dname, d in sorted(c.attdirs.items()):
                        with self.subTest(attdir=os.path.join(
                                scope.relpath, cname, dname)):
                            self.assert_attdir(m, m.path(
                                scope.relpath, cname, dname), d)
                            for a in d.atts:
                                kinds.add((a.kind, a.content_type))
                                if a.downloadable:
                                    urls.add(a.media_key())
        self.assertTrue(set(self.exp.files_media()) <= urls)
        bodies = [json.dumps(msg.get('body'), ensure_ascii=False)
                  for s in self.exp.all_scopes()
                  for c in s.containers.values()
                  for msg in c.all_messages()]
        in_bodies = {k for k in self.exp.hosted_media()
                     if any('graph.microsoft.com' + k in b for b in bodies)}
        self.assertTrue(in_bodies)
        self.assertEqual(in_bodies - urls, set(),
                         'a hosted content in a body has no file')
        for t in INLINE_TYPES:
            self.assertIn((h.ATT_INLINE, t), kinds)

    def test_names(self):
        """Clashes get ~2 before the extension, names are escaped like ids,
        hosted contents are <id>.png in an <img>, else <id>.txt."""
        scope, crel = self.falcon()
        with h.Mount(EMU) as m:
            c = scope.containers[os.path.basename(crel)]
            for dname, d in c.attdirs.items():
                got = sorted(os.listdir(m.path(crel, dname)))
                self.assertEqual(got, sorted(d.names()))
            names = set()
            for dname, d in c.attdirs.items():
                names |= set(os.listdir(m.path(crel, dname)))
            self.assertIn('Budget 2025.xlsx', names)
            self.assertIn('Budget 2025~2.xlsx', names)
            rel, a, msg, _ = self.first(
                lambda a: a.source and 'Growth%2015%25' in a.source)
            self.assertEqual(a.name, 'Growth 15%25 plan.docx')
            self.assertIn(a.name, os.listdir(m.path(os.path.dirname(rel))))
            for kind, ext in (('img', '.png'), ('snippet', '.txt')):
                rel, a, msg, _ = self.first(
                    lambda a: a.kind == h.ATT_HOSTED and a.name.endswith(ext))
                self.assertEqual(a.name, h.fs_name(a.id + ext))
                self.assertIn(a.name,
                              os.listdir(m.path(os.path.dirname(rel))))
                self.assertEqual(
                    self.media(a)['contentType'],
                    'image/png' if ext == '.png' else 'text/plain')

    def test_listing_ls_find_download_nothing(self):
        """Listing attachments directories, ls -l of message directories
        and find make no shares or hostedContents request at all; stat of
        a reference makes one driveItem metadata request and no download;
        ls -l of a directory of references asks only for metadata."""
        scope = self.exp.user_scope(self.exp.users[0])
        with h.Mount(EMU) as m:
            os.listdir(m.path(scope.relpath))         # the crawl
            EMU.clear_logs()
            for cname, c in sorted(scope.containers.items()):
                cdir = m.path(scope.relpath, cname)
                r = sh('ls -l %s >/dev/null' % shlex.quote(cdir))
                self.assertEqual((r.returncode, r.stderr), (0, b''))
                for dname, d in c.attdirs.items():
                    self.assertEqual(sorted(os.listdir(
                        os.path.join(cdir, dname))), sorted(d.names()))
            r = sh('find %s | wc -l' % shlex.quote(m.path(scope.relpath)))
            self.assertEqual(r.returncode, 0, r.stderr)
            r = sh('find %s -type f -name %s'
                   % (shlex.quote(m.path(scope.relpath)),
                      shlex.quote('*.xlsx')))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout)
            self.assertEqual(self.media_requests(EMU.requests()), [])
            self.assertEqual(EMU.downloads(), [])

            # stat of one reference: one metadata request, no download
            rel, a, msg, _ = self.first(
                lambda a: a.kind == h.ATT_REFERENCE and self.good(a),
                [scope])
            st = os.stat(m.path(rel))
            os.stat(m.path(rel))
            self.assertEqual(st.st_size, self.media(a)['size'])
            reqs = self.media_requests(EMU.requests())
            self.assertEqual([r['path'] for r in reqs],
                             ['/v1.0/shares/%s/driveItem'
                              % h.shares_id(a.source)])
            self.assertEqual(reqs[0]['status'], 200)
            self.assertEqual(EMU.downloads(), [])

            # ls -l of attachments directories holding only references
            EMU.clear_logs()
            dirs = [os.path.join(scope.relpath, cname, dname)
                    for cname, c in sorted(scope.containers.items())
                    for dname, d in sorted(c.attdirs.items())
                    if all(x.kind == h.ATT_REFERENCE and self.good(x)
                           for x in d.atts)]
            self.assertGreater(len(dirs), 2)
            for d in dirs:
                r = sh('ls -l %s' % shlex.quote(m.path(d)))
                self.assertEqual((r.returncode, r.stderr), (0, b''), d)
            reqs = self.media_requests(EMU.requests())
            self.assertTrue(reqs)
            for r in reqs:
                self.assertRegex(r['path'], SHARES_META)
            self.assertEqual(EMU.downloads(), [])

    def test_hosted_stat_asks_head_and_read_downloads_once(self):
        """A hosted content's first stat asks for its size with HEAD, so
        ls -l downloads nothing; the first read downloads it once, and a
        second stat asks nothing."""
        rel, a, msg, _ = self.first(
            lambda a: a.kind == h.ATT_HOSTED and self.good(a))
        with h.Mount(EMU) as m:
            os.listdir(m.path(os.path.dirname(rel)))
            EMU.clear_logs()
            st = os.stat(m.path(rel))
            self.assertEqual(st.st_size, self.media(a)['size'])
            reqs = self.media_requests(EMU.requests())
            self.assertEqual([(r['method'], r['path']) for r in reqs],
                             [('HEAD', a.graph_path())])
            data = h.read_file(m.path(rel))
            self.assertEqual(sha(data), self.media(a)['sha256'])
            self.assertEqual(len(data), st.st_size)
            reqs = self.media_requests(EMU.requests())
            self.assertEqual([(r['method'], r['path']) for r in reqs],
                             [('HEAD', a.graph_path()),
                              ('GET', a.graph_path())])
            os.stat(m.path(rel))
            self.assertEqual(len(self.media_requests(EMU.requests())), 2)
            self.assertEqual(EMU.downloads(), [])

    def test_tar_and_rsync_of_a_chat(self):
        scope, crel = self.falcon()
        c = scope.containers[os.path.basename(crel)]
        self.assertTrue(c.attdirs)
        expect_files = {}
        for n, msg in c.named.items():
            expect_files[n] = ('msg', msg)
        for dname, d in c.attdirs.items():
            for a in d.atts:
                expect_files[os.path.join(dname, a.name)] = ('att', a)
        tmp = tempfile.mkdtemp(prefix='teamsfs-att-')
        self.addCleanup(shutil.rmtree, tmp, True)
        with h.Mount(EMU) as m:
            q = shlex.quote
            tar = sh('tar -C %s -cf - %s | tar -xf - -C %s'
                     % (q(m.path(os.path.dirname(crel))),
                        q(os.path.basename(crel)), q(os.path.join(tmp))))
            self.assertEqual((tar.returncode, tar.stderr), (0, b''))
            rs = sh('rsync -a %s/ %s/' % (q(m.path(crel)),
                                          q(os.path.join(tmp, 'rsync'))))
            self.assertEqual((rs.returncode, rs.stderr), (0, b''))
            for copy in (os.path.join(tmp, os.path.basename(crel)),
                         os.path.join(tmp, 'rsync')):
                got = {}
                for d, _, fs in os.walk(copy):
                    for f in fs:
                        p = os.path.join(d, f)
                        got[os.path.relpath(p, copy)] = h.read_file(p)
                self.assertEqual(sorted(got), sorted(expect_files), copy)
                for rel, data in got.items():
                    self.assertEqual(data, h.read_file(m.path(crel, rel)),
                                     rel)
                    self.assertEqual(
                        os.stat(os.path.join(copy, rel)).st_mtime_ns // 10**9,
                        os.stat(m.path(crel, rel)).st_mtime_ns // 10**9, rel)
                    what, obj = expect_files[rel]
                    if what == 'msg':
                        self.assertEqual(json.loads(data), obj, rel)
                    elif obj.downloadable:
                        self.assertEqual(sha(data),
                                         self.media(obj)['sha256'], rel)

    def test_far_offset_read_of_large_file(self):
        rel, a, msg, _ = self.first(lambda a: a.name == LARGE)
        size = self.media(a)['size']
        self.assertGreater(size, 4 << 20)
        with h.Mount(EMU) as m:
            p = m.path(rel)
            self.assertEqual(os.stat(p).st_size, size)
            EMU.clear_logs()
            off = size - 100000
            with open(p, 'rb') as f:
                f.seek(off)
                far = f.read(65536)
            self.assertEqual(len(far), 65536)
            with open(p, 'rb') as f:
                f.seek(size - 10)
                tail = f.read(100)
            self.assertEqual(len(tail), 10)
            data = h.read_file(p)
            self.assertEqual(sha(data), self.media(a)['sha256'])
            self.assertEqual(far, data[off:off + 65536])
            self.assertEqual(tail, data[-10:])
            downloads = [d for d in EMU.downloads() if d['status'] in
                         (200, 206)]
            self.assertEqual(len(downloads), 1, downloads)

    def parallel_read(self, m, rel, n=8):
        barrier = threading.Barrier(n)
        results, errors = [None] * n, []

        def work(i):
            try:
                barrier.wait()
                st = os.stat(m.path(rel))
                results[i] = (st.st_size, h.read_file(m.path(rel)))
            except Exception as e:
                errors.append(e)
        threads = [threading.Thread(target=work, args=(i,))
                   for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        return results

    def test_parallel_readers_share_one_download(self):
        ref = self.first(lambda a: a.name == LARGE)
        hosted = self.first(
            lambda a: a.kind == h.ATT_HOSTED and self.good(a))
        with h.Mount(EMU) as m:
            for rel, a, msg, _ in (ref, hosted):
                os.listdir(m.path(os.path.dirname(rel)))
            EMU.clear_logs()
            for rel, a, msg, _ in (ref, hosted):
                with self.subTest(att=a.name):
                    EMU.clear_logs()
                    for size, data in self.parallel_read(m, rel):
                        self.assertEqual(size, len(data))
                        self.assertEqual(sha(data), self.media(a)['sha256'])
                    reqs = EMU.requests()
                    # Downloads are GETs; a hosted stat may ask HEAD once.
                    fetches = [r for r in reqs
                               if r['path'] == a.graph_path()
                               and r['method'] == 'GET']
                    self.assertEqual(len(fetches), 1, fetches)
                    heads = [r for r in reqs
                             if r['path'] == a.graph_path()
                             and r['method'] == 'HEAD']
                    self.assertLessEqual(len(heads), 1, heads)
                    if a.kind == h.ATT_REFERENCE:
                        self.assertEqual(len(EMU.downloads()), 1,
                                         EMU.downloads())
                    else:
                        self.assertEqual(EMU.downloads(), [])

    def test_eviction_least_recently_used_first(self):
        limit = 24 * 1024
        refs = self.distinct_good_refs(max_size=9000)[:6]
        self.assertEqual(len(refs), 6)
        with h.Mount(EMU, ['attachment_cache_max=24K']) as m:
            order = []       # cache names, least recently used first

            def read(item, downloads):
                rel, a, msg, _ = item
                EMU.clear_downloads()
                data = read_uncached(m.path(rel))
                self.assertEqual(sha(data), self.media(a)['sha256'], rel)
                self.assertEqual(len(EMU.downloads()), downloads, rel)
                name = cache_file_name(a)
                if name in order:
                    order.remove(name)
                order.append(name)
                deadline = time.monotonic() + 3
                while True:
                    total, names = cache_usage(m)
                    if total <= limit or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                self.assertLessEqual(total, limit, sorted(names))
                self.assertIn(name, names)
                # what is left is the most recently used ones
                self.assertEqual(sorted(names),
                                 sorted(order[len(order) - len(names):]),
                                 'evicted out of LRU order')
                time.sleep(1.1)     # file times have whole seconds
                return names

            for item in refs:
                names = read(item, 1)
            self.assertLess(len(names), len(refs), 'nothing was evicted')
            # re-read the oldest survivor: no download, and it becomes new
            survivor = [x for x in refs if cache_file_name(x[1]) ==
                        order[len(order) - len(names)]][0]
            read(survivor, 0)
            # an evicted file downloads again
            read(refs[0], 1)
            self.assertIn(cache_file_name(survivor[1]), cache_usage(m)[1])

    def test_offline_reread_after_remount(self):
        scope, crel = self.falcon()
        c = scope.containers[os.path.basename(crel)]
        wanted = [(os.path.join(crel, dname, a.name), a)
                  for dname, d in sorted(c.attdirs.items()) for a in d.atts]
        large = self.first(lambda a: a.name == LARGE)
        wanted.append((large[0], large[1]))
        self.assertTrue(any(a.kind == h.ATT_HOSTED for _, a in wanted))
        self.assertTrue(any(a.kind == h.ATT_INLINE for _, a in wanted))
        unread = [x for x in self.distinct_good_refs()
                  if x[1].source not in {a.source for _, a in wanted}]
        stat_only, never = unread[0], unread[1]
        cache = tempfile.mkdtemp(prefix='teamsfs-cache-')
        self.addCleanup(shutil.rmtree, cache, True)
        before = {}
        with h.Mount(EMU, cache_dir=cache) as m:
            for rel, a in wanted:
                st = os.stat(m.path(rel))
                before[rel] = (st.st_size, st.st_mtime_ns,
                               h.read_file(m.path(rel)))
            os.stat(m.path(stat_only[0]))
            os.listdir(m.path(os.path.dirname(never[0])))
        dead = 'http://127.0.0.1:%d' % h.free_port()
        variants = [
            ('graph unreachable', [], [TOKEN_WARNING],
             [TOKEN_WARNING, OFFLINE_ERROR]),
            ('offline option', ['offline'], [], [TOKEN_WARNING])]
        for what, opts, require, expect in variants:
            with self.subTest(what):
                EMU.clear_logs()
                with h.Mount(EMU, opts, cache_dir=cache,
                             graph_url=dead + '/v1.0',
                             token_url=dead + '/x/oauth2/v2.0/token',
                             require=require, expect=expect) as m:
                    for rel, a in wanted:
                        st = os.stat(m.path(rel))
                        got = (st.st_size, st.st_mtime_ns,
                               h.read_file(m.path(rel)))
                        self.assertEqual(got, before[rel], rel)
                        if a.downloadable:
                            self.assertEqual(sha(got[2]),
                                             self.media(a)['sha256'])
                    if opts:
                        # size known, bytes not: the read fails at once
                        st = os.stat(m.path(stat_only[0]))
                        self.assertEqual(st.st_size,
                                         self.media(stat_only[1])['size'])
                        t0 = time.monotonic()
                        with self.assertRaises(OSError) as cm:
                            h.read_file(m.path(stat_only[0]))
                        self.assertEqual(cm.exception.errno, errno.EIO)
                        with self.assertRaises(OSError) as cm:
                            os.stat(m.path(never[0]))
                        self.assertEqual(cm.exception.errno, errno.EIO)
                        self.assertLess(time.monotonic() - t0, 2)
                self.assertEqual(EMU.requests(), [])
                self.assertEqual(EMU.downloads(), [])

    def test_links_mode(self):
        """attachments=links: .url internet shortcuts, nothing fetched."""
        scope, crel = self.falcon()
        c = scope.containers[os.path.basename(crel)]
        with h.Mount(EMU, ['attachments=links']) as m:
            os.listdir(m.path(crel))
            EMU.clear_logs()
            n = 0
            for dname, d in sorted(c.attdirs.items()):
                self.assert_attdir(m, m.path(crel, dname), d, links=True)
                n += sum(1 for a in d.atts if a.downloadable)
            self.assertGreater(n, 3)
            names = set()
            for dname in c.attdirs:
                names |= set(os.listdir(m.path(crel, dname)))
            self.assertIn('Budget 2025~2.xlsx.url', names)
            self.assertNotIn('Budget 2025.xlsx', names)
            # and a whole scope with the refused ones: still nothing
            r = sh('grep -rc InternetShortcut %s >/dev/null'
                   % shlex.quote(m.path(scope.relpath)))
            self.assertEqual((r.returncode, r.stderr), (0, b''))
            self.assertEqual(self.media_requests(EMU.requests()), [])
            self.assertEqual(EMU.downloads(), [])

    def test_refused_attachments(self):
        """404 -> EIO, 403 -> EACCES, one log line per failed access, no
        download, never an empty file."""
        scope = self.exp.user_scope(self.exp.users[0])
        broken = self.exp.broken_atts([scope])
        self.assertEqual(sorted(e for _, _, _, e in broken),
                         sorted([errno.EIO, errno.EACCES]))
        res = h.broken_log_res(broken)
        with h.Mount(EMU, expect=res, require=res) as m:
            for rel, a, msg, err in broken:
                with self.subTest(att=a.name):
                    rx = re.compile(h.att_log_re(a, h.msg_name(msg['id'])))
                    count = lambda: sum(1 for l in m.log_lines()
                                        if rx.search(l))
                    self.assertIn(a.name,
                                  os.listdir(m.path(os.path.dirname(rel))))
                    EMU.clear_logs()
                    r = sh('cat %s' % shlex.quote(m.path(rel)))
                    self.assertEqual(r.returncode, 1)
                    self.assertEqual(r.stdout, b'')
                    self.assertIn(os.strerror(err).encode(), r.stderr)
                    self.assertEqual(count(), 1, m.log_tail())
                    line = [l for l in m.log_lines() if rx.search(l)][0]
                    self.assertIn('itemNotFound' if err == errno.EIO
                                  else 'accessDenied', line)
                    for fn in (os.stat, h.read_file):
                        with self.assertRaises(OSError) as cm:
                            fn(m.path(rel))
                        self.assertEqual(cm.exception.errno, err)
                    self.assertEqual(count(), 3, m.log_tail())
                    for r in self.media_requests(EMU.requests()):
                        self.assertRegex(r['path'], SHARES_META)
                        self.assertEqual(r['status'],
                                         404 if err == errno.EIO else 403)
                    self.assertEqual(EMU.downloads(), [])

    def test_token_stays_on_graph(self):
        """The download origin never gets an Authorization header, every
        other request is a Graph route with the bearer token, and no
        contentUrl (SharePoint) is fetched: only through the shares API."""
        scope, crel = self.falcon()
        large = self.first(lambda a: a.name == LARGE)
        EMU.clear_logs()
        with h.Mount(EMU) as m:
            r = sh('cat %s/*.attachments/* %s >/dev/null'
                   % (shlex.quote(m.path(crel)), shlex.quote(
                       m.path(large[0]))))
            self.assertEqual((r.returncode, r.stderr), (0, b''))
            reqs = EMU.requests()
            downloads = EMU.downloads()
        self.assertGreaterEqual(len(downloads), 3)
        for d in downloads:
            self.assertFalse(d['authorization'], d)
            self.assertRegex(d['path'], DOWNLOAD_PATH)
            self.assertIn(d['status'], (200, 206), d)
        contents = [r for r in reqs if SHARES_CONTENT.search(r['path'])]
        self.assertGreaterEqual(len(contents), 3)
        for r in reqs:
            if r['method'] == 'POST' and re.search(
                    r'/oauth2/v2\.0/token$', r['path']):
                self.assertFalse(r['authorization'], r)
                continue
            self.assertRegex(r['path'], r'^/v1\.0/')
            self.assertTrue(r['authorization'], r)
            self.assertNotIn('sharepoint', r['path'].lower())
            self.assertNotRegex(r['path'], DOWNLOAD_PATH)
            if MEDIA.search(r['path']):
                self.assertTrue(SHARES_META.search(r['path']) or
                                SHARES_CONTENT.search(r['path']) or
                                HOSTED.search(r['path']), r)
        for sid in {SHARES_CONTENT.search(r['path']).group(1)
                    for r in contents}:
            self.assertTrue(sid.startswith('u!'), sid)
        self.assertNotIn('sharepoint', m.log_text().lower())

    def test_xattrs(self):
        scope, crel = self.falcon()
        c = scope.containers[os.path.basename(crel)]
        atts = [(os.path.join(crel, dname, a.name), a)
                for dname, d in sorted(c.attdirs.items()) for a in d.atts]
        kinds = {a.kind for _, a in atts}
        self.assertEqual(kinds, {h.ATT_REFERENCE, h.ATT_HOSTED,
                                 h.ATT_INLINE})
        with h.Mount(EMU) as m:
            for rel, a in atts:
                with self.subTest(att=a.name):
                    p = m.path(rel)
                    h.read_file(p)
                    want = {'user.teamsfs.kind': a.kind,
                            'user.teamsfs.id': a.id}
                    if a.kind == h.ATT_REFERENCE:
                        want['user.teamsfs.content_type'] = 'reference'
                        want['user.teamsfs.url'] = a.source
                    elif a.kind == h.ATT_HOSTED:
                        # README: the type is there once fetched
                        want['user.teamsfs.content_type'] = \
                            self.media(a)['contentType']
                        want['user.teamsfs.url'] = (m.graph_url + '/'
                                                    + a.source)
                    else:
                        want['user.teamsfs.content_type'] = a.content_type
                    got = {}
                    for n in os.listxattr(p):
                        got[n] = os.getxattr(p, n).decode('utf-8')
                    r = sh("getfattr --absolute-names -e base64 -d "
                           "-m '^user\\.' %s" % shlex.quote(p))
                    self.assertEqual(r.returncode, 0, r.stderr)
                    shown = {}
                    for l in os.fsdecode(r.stdout).splitlines():
                        if l and not l.startswith('#'):
                            k, _, v = l.partition('=0s')
                            shown[k] = base64.b64decode(v).decode('utf-8')
                    self.assertEqual(shown, got, 'getfattr -d')
                    ctype = 'user.teamsfs.content_type'
                    self.assertEqual(
                        {k: v for k, v in got.items() if k != ctype},
                        {k: v for k, v in want.items() if k != ctype})
                    self.assertEqual(got.get(ctype), want[ctype],
                                     '%s of a %s, read already'
                                     % (ctype, a.kind))


if __name__ == '__main__':
    import unittest
    unittest.main()
