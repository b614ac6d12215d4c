"""Transcripts (issue 7): /transcripts/{users,teams}/<owner>/<container>.html
and .txt on a real mount, checked against the emulator's data, with a
parser, and in headless Chromium with the network blocked."""

import errno
import http.server
import os
import re
import shutil
import socketserver
import stat
import subprocess
import tempfile
import threading
import time

import freshness as f
import harness as h
import transcripts as tr

EMU = None


def setUpModule():
    global EMU
    EMU = h.sample_emulator()


def transcript_dir(scope):
    top = 'users' if scope.kind == 'chats' else 'teams'
    return os.path.join('transcripts', top, h.fs_name(scope.owner))


def refresh(test, path):
    """`teamsfs refresh PATH`, which must succeed."""
    r = subprocess.run([h.TEAMSFS_BIN, 'refresh', path], capture_output=True,
                       text=True, timeout=60, env=h.child_env())
    test.assertEqual(r.returncode, 0, r.stderr)


def read(path):
    with open(path, 'rb') as fh:
        return fh.read()


class SamplesTest(h.TreeCase):
    """Every scope of the sample tenant (Microsoft's documented bodies,
    system events of every kind, replies, mentions)."""

    def setUp(self):
        self.exp = EMU.expected()

    def test_both_files_for_every_container(self):
        with h.Mount(EMU) as m:
            self.assertIn('transcripts', os.listdir(m.mnt))
            self.assertEqual(sorted(os.listdir(m.path('transcripts'))),
                             ['teams', 'users'])
            for scope in self.exp.all_scopes():
                d = m.path(transcript_dir(scope))
                want = sorted(c.name + e for c in scope.containers.values()
                              for e in tr.EXTS)
                with self.subTest(scope=scope.relpath):
                    self.assertEqual(sorted(os.listdir(d)), want)
                    for c in scope.containers.values():
                        for e in tr.EXTS:
                            self.assert_transcript(
                                os.path.join(d, c.name + e), c)
            # rendered files: private, and one pair per conversation
            cache = os.path.join(m.cache_dir, 'transcripts')
            self.assertEqual(stat.S_IMODE(os.stat(cache).st_mode), 0o700)
            rendered = os.listdir(cache)
            self.assertEqual(len(rendered), sum(
                2 * len(s.containers) for s in self.exp.all_scopes()))
            for name in rendered:
                self.assertEqual(stat.S_IMODE(
                    os.stat(os.path.join(cache, name)).st_mode), 0o600)

    def assert_transcript(self, path, c):
        st = os.stat(path)
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o444)
        data = read(path)
        self.assertEqual(st.st_size, len(data), path)
        self.assertEqual(st.st_mtime_ns, c.mtime_ns, path)
        data.decode('utf-8')  # strict: valid UTF-8 throughout
        again = os.stat(path)
        self.assertEqual((again.st_ino, again.st_size, again.st_mtime_ns),
                         (st.st_ino, st.st_size, st.st_mtime_ns))
        self.assertEqual(read(path), data)

    def test_text_in_conversation_order(self):
        found = 0
        with h.Mount(EMU) as m:
            for scope in self.exp.all_scopes():
                d = m.path(transcript_dir(scope))
                for c in scope.containers.values():
                    order = tr.conversation_order(c)
                    text = read(os.path.join(d, c.name + '.txt')).decode()
                    found += tr.assert_in_order(self, text, order,
                                                c.name + '.txt')
                    self.assertEqual(text.split('\n')[2],
                                     tr.head_line(c.all_messages()), c.name)
                    page = read(os.path.join(d, c.name + '.html')).decode()
                    p = tr._Text()
                    p.feed(page)
                    tr.assert_in_order(self, ''.join(p.chunks), order,
                                       c.name + '.html')
        self.assertGreater(found, 20)

    def test_every_page_is_safe_and_its_links_lead_into_the_mount(self):
        links = 0
        with h.Mount(EMU) as m:
            for scope in self.exp.all_scopes():
                d = m.path(transcript_dir(scope))
                for c in scope.containers.values():
                    path = os.path.join(d, c.name + '.html')
                    problems, hrefs = tr.check_html(read(path).decode())
                    self.assertEqual(problems, [], path)
                    for href in hrefs:
                        # listed, not stat'ed: some files Graph refuses
                        target = tr.href_target(path, href)
                        self.assertTrue(target.startswith(m.mnt + os.sep))
                        self.assertIn(os.path.basename(target),
                                      os.listdir(os.path.dirname(target)),
                                      '%s: %s leads nowhere' % (path, href))
                        links += 1
        self.assertGreater(links, 0, 'the samples have attachments')

    def test_system_events_in_plain_words(self):
        with h.Mount(EMU) as m:
            texts = []
            for scope in self.exp.all_scopes():
                d = m.path(transcript_dir(scope))
                for name in os.listdir(d):
                    if name.endswith('.txt'):
                        texts.append(read(os.path.join(d, name)).decode())
        text = re.sub(r'\s+', ' ', '\n'.join(texts))
        for sentence in (
                r'added .+ to the (chat|team)\.',
                r'renamed the chat to "[^"]+"\.',
                r'user 9ee3dc1b-6a70-4582-8bc5-5dd35336b6c3 updated a tab\.',
                r'renamed the team to "Team rename"\.',
                r'added the app "Flipgrid"\.',
                r'unpinned a message\.'):
            self.assertTrue(re.search(sentence, text), sentence)
        self.assertNotIn('<systemEventMessage/>', text)

    def test_mentions_and_markers(self):
        with h.Mount(EMU) as m:
            texts = []
            for scope in self.exp.all_scopes():
                d = m.path(transcript_dir(scope))
                texts += [read(os.path.join(d, n)).decode()
                          for n in os.listdir(d) if n.endswith('.txt')]
        text = '\n'.join(texts)
        self.assertIn('Hello World @Jane Smith', text)
        edited = [msg for s in self.exp.all_scopes()
                  for c in s.containers.values() for msg in c.all_messages()
                  if msg.get('lastEditedDateTime')]
        if edited:
            self.assertIn('(edited ', text)

    def test_channel_replies_follow_their_root(self):
        checked = 0
        with h.Mount(EMU) as m:
            for tid in self.exp.teams:
                scope = self.exp.team_scope(tid)
                d = m.path(transcript_dir(scope))
                for c in scope.containers.values():
                    order = tr.conversation_order(c)
                    if not any(x.get('replyToId') for x in order):
                        continue
                    text = read(os.path.join(d, c.name + '.txt')).decode()
                    self.assertIn('Reply: ', text)
                    tr.assert_in_order(self, text, order, c.name)
                    checked += 1
        self.assertGreater(checked, 0, 'the samples have channel replies')

    def test_by_name_links_to_transcripts(self):
        """Beside each chat link, once its scope is crawled, links to the
        chat's transcripts (none before: /by-name never crawls)."""
        with h.Mount(EMU) as m:
            users = m.path('by-name', 'users')
            for u in os.listdir(users):
                self.assertEqual([n for n in os.listdir(os.path.join(users, u))
                                  if n.endswith(tr.EXTS)], [], u)
            for s in self.exp.all_scopes():
                os.listdir(os.path.dirname(m.path(s.relpath)))
                os.listdir(m.path(s.relpath))
            seen = 0
            for u in os.listdir(users):
                for name in os.listdir(os.path.join(users, u)):
                    if not name.endswith(tr.EXTS):
                        continue
                    link = os.path.join(users, u, name)
                    target = os.readlink(link)
                    self.assertTrue(target.startswith('../../../transcripts/'),
                                    target)
                    self.assertEqual(read(link), read(os.path.realpath(link)))
                    seen += 1
            self.assertGreater(seen, 0)

    def test_no_transcripts_option(self):
        scope = self.exp.biggest_user()
        with h.Mount(EMU, ['no_transcripts']) as m:
            self.assertNotIn('transcripts', os.listdir(m.mnt))
            self.assertEqual(os.stat(m.mnt).st_nlink, 5)
            with self.assertRaises(FileNotFoundError):
                os.stat(m.path('transcripts'))
            os.listdir(m.path(scope.relpath))
            users = m.path('by-name', 'users')
            for u in os.listdir(users):
                self.assertEqual([n for n in os.listdir(os.path.join(users, u))
                                  if n.endswith(tr.EXTS)], [], u)
            self.assertEqual(os.listdir(os.path.join(m.cache_dir,
                                                     'transcripts')), [])

    def test_transcripts_are_read_only(self):
        scope = self.exp.biggest_user()
        c = sorted(scope.containers.values(), key=lambda c: c.name)[0]
        with h.Mount(EMU) as m:
            path = m.path(transcript_dir(scope), c.name + '.txt')
            with self.assertRaises(OSError):
                open(path, 'w').close()
            with self.assertRaises(FileNotFoundError):
                os.stat(m.path(transcript_dir(scope), c.name + '.pdf'))
            with self.assertRaises(FileNotFoundError):
                os.stat(m.path(transcript_dir(scope), 'nochat.html'))


class _Canary(http.server.BaseHTTPRequestHandler):
    """A loopback proxy and server that records every request it gets."""

    def _record(self):
        self.server.seen.append('%s %s' % (self.command, self.path))
        self.send_response(403)
        self.send_header('Content-Length', '0')
        self.end_headers()

    do_GET = do_POST = do_CONNECT = do_HEAD = _record

    def log_message(self, *args):
        pass


class _CanaryServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def hostile_body(port):
    """A body that tries every way to run code or call out (to the canary
    on loopback) when its page is opened."""
    body = ('<p>Visible words of the hostile message</p>'
            '<script>fetch("BASE/script")</script>'
            '<img src="BASE/img.png" onerror="fetch(\'BASE/onerror\')">'
            '<style>body{background:url(BASE/style-bg)}</style>'
            '<iframe src="BASE/frame"></iframe>'
            '<a href="javascript:fetch(\'BASE/js\')">click me</a> '
            '<div style="background-image:url(BASE/div-bg)" '
            'onmouseover="fetch(\'BASE/hover\')">styled words</div>'
            '<svg onload="fetch(\'BASE/svg\')"><image href="BASE/svgimg"/>'
            '</svg><link rel="stylesheet" href="BASE/css">'
            '<meta http-equiv="refresh" content="0;url=BASE/refresh">'
            '<object data="BASE/object"></object>'
            '<ScRiPt >fetch("BASE/mixed-case")</sCrIpT >'
            '<a href="&#106;avascript:fetch(1)">entity</a>'
            '<video poster="BASE/poster"></video>'
            '<form action="BASE/form"><button>go</button></form>')
    return body.replace('BASE', 'http://127.0.0.1:%d' % port)


class HostileTest(h.TreeCase):
    """A hostile body, opened in a browser with the network blocked; then an
    edit and a refresh."""

    def setUp(self):
        self.canary = _CanaryServer(('127.0.0.1', 0), _Canary)
        self.canary.seen = []
        self.port = self.canary.server_address[1]
        threading.Thread(target=self.canary.serve_forever,
                         daemon=True).start()
        self.addCleanup(self.canary.server_close)
        self.addCleanup(self.canary.shutdown)
        self.emu = f.live_emulator('--scale', '0.2')
        self.addCleanup(self.emu.stop)
        exp = self.emu.expected()
        self.uid = exp.users[0]
        self.chat = f.group_chat_ids(exp.user_scope(self.uid))[0]
        self.added = self.emu.add_message(chatId=self.chat,
                                          body=hostile_body(self.port))
        self.work = tempfile.mkdtemp(prefix='teamsfs-chromium-')
        self.addCleanup(shutil.rmtree, self.work, True)

    def paths(self, m):
        d = m.path('transcripts', 'users', h.fs_name(self.uid))
        return (os.path.join(d, h.fs_name(self.chat) + '.html'),
                os.path.join(d, h.fs_name(self.chat) + '.txt'))

    def test_hostile_body_is_neutralised(self):
        with h.Mount(self.emu) as m:
            page, text = self.paths(m)
            data = read(page).decode()
            problems, _ = tr.check_html(data)
            self.assertEqual(problems, [])
            self.assertNotIn('127.0.0.1:%d/style-bg' % self.port,
                             data.split('</style>')[0])
            self.assertIn('Visible words of the hostile message', data)
            self.assertIn('styled words', data)
            words = read(text).decode()
            self.assertIn('Visible words of the hostile message', words)
            self.assertNotIn('<script', words.lower())

    def test_chromium_makes_no_request(self):
        with h.Mount(self.emu) as m:
            page, _ = self.paths(m)
            shot, urls = tr.open_in_chromium(page, self.work, self.port)
        width, height = tr.png_size(shot)
        self.assertEqual((width, height), (1000, 1400))
        self.assertGreater(os.path.getsize(shot), 10000,
                           'the screenshot shows nothing')
        self.assertEqual(urls, [], 'the page made requests')
        # The browser's own checks go to the proxy too: page requests are
        # those for the canary's address, proxied or direct.
        page_requests = [r for r in self.canary.seen
                         if '127.0.0.1' in r or r.split()[1].startswith('/')]
        self.assertEqual(page_requests, [], 'the page made requests')

    def test_chromium_check_sees_requests_of_a_raw_body(self):
        """The detector works: the same body unsanitised makes requests."""
        raw = os.path.join(self.work, 'raw.html')
        with open(raw, 'w') as fh:
            fh.write('<!DOCTYPE html><html><body>%s</body></html>'
                     % hostile_body(self.port))
        _, urls = tr.open_in_chromium(raw, self.work, self.port)
        self.assertTrue([u for u in urls if '127.0.0.1:%d' % self.port in u],
                        urls)

    def test_edit_and_refresh_change_text_and_size(self):
        with h.Mount(self.emu, ['refresh=0']) as m:
            page, text = self.paths(m)
            before = os.stat(text)
            old = read(text)
            self.assertEqual(before.st_size, len(old))
            new_words = 'Edited words that replace the hostile ones ' * 5
            self.emu.edit_message(self.chat, self.added['id'],
                                  '<p>%s</p>' % new_words)
            time.sleep(0.01)
            self.assertEqual(read(text), old, 'changed before a refresh')
            refresh(self, text)
            after = os.stat(text)
            new = read(text)
            self.assertEqual(after.st_size, len(new))
            self.assertNotEqual(after.st_size, before.st_size)
            self.assertIn('Edited words that replace', new.decode())
            self.assertNotIn(b'Visible words of the hostile message', new)
            self.assertGreater(after.st_mtime_ns, before.st_mtime_ns)
            self.assertIn('(edited ', new.decode())
            page_data = read(page)
            self.assertEqual(os.stat(page).st_size, len(page_data))
            self.assertIn(b'Edited words that replace', page_data)
            # the pair rendered before the edit is gone from the cache
            self.assertEqual(len(os.listdir(os.path.join(
                m.cache_dir, 'transcripts'))), 2)

    def test_old_handle_after_a_change_answers_estale(self):
        """A reader that kept a transcript or a message open across a
        refresh that changed it gets ESTALE, and does not put old bytes in
        the kernel's page cache: a new reader gets exactly the new file."""
        name = h.msg_name(self.added['id'])
        with h.Mount(self.emu, ['refresh=0']) as m:
            page, text = self.paths(m)
            msg = m.path('users', h.fs_name(self.uid), 'chats',
                         h.fs_name(self.chat), name)
            other = [n for n in sorted(os.listdir(os.path.dirname(msg)))
                     if n.endswith('.json') and n != name][0]
            olds, inos = {}, {}
            for path in (text, page, msg, os.path.join(os.path.dirname(msg),
                                                      other)):
                fd = os.open(path, os.O_RDONLY)
                olds[path] = (fd, os.pread(fd, 1 << 20, 0))
                inos[path] = os.fstat(fd).st_ino
            self.emu.edit_message(self.chat, self.added['id'],
                                  '<p>%s</p>' % ('Changed words ' * 300))
            refresh(self, text)
            for path in (text, page, msg):
                fd, old = olds[path]
                with self.assertRaises(OSError) as cm:
                    os.pread(fd, 4096, 4096 if len(old) > 8192 else 0)
                self.assertEqual(cm.exception.errno, errno.ESTALE, path)
                new = read(path)
                self.assertTrue(new != old, path)
                self.assertEqual(os.stat(path).st_size, len(new), path)
                self.assertIn(b'Changed words', new, path)
                self.assertEqual(read(path), new, path)
                # looked up again, the file is a new inode with the same
                # number: the old handle still never reads the new bytes
                with self.assertRaises(OSError) as cm:
                    os.pread(fd, 4096, 0)
                self.assertIn(cm.exception.errno, (errno.ESTALE, errno.EIO))
                self.assertEqual(os.stat(path).st_ino, inos[path], path)
            # a file the refresh did not change reads on through its handle
            fd, old = olds[os.path.join(os.path.dirname(msg), other)]
            self.assertEqual(os.pread(fd, 1 << 20, 0), old)
            os.close(fd)
            # the kernel calls the replaced inodes bad: close() may say EIO
            for path in (text, page, msg):
                try:
                    os.close(olds[path][0])
                except OSError as e:
                    self.assertEqual(e.errno, errno.EIO, path)

    def test_new_reader_after_a_change_reads_the_new_version(self):
        """A process that read the files before a refresh changed them, and
        opens them again by path afterwards (no stat first), reads the new
        version whole: the refresh dropped the names, so the open looks the
        new version up."""
        name = h.msg_name(self.added['id'])
        with h.Mount(self.emu, ['refresh=0']) as m:
            page, text = self.paths(m)
            msg = m.path('users', h.fs_name(self.uid), 'chats',
                         h.fs_name(self.chat), name)
            olds = {p: read(p) for p in (text, page, msg)}
            self.emu.edit_message(self.chat, self.added['id'],
                                  '<p>%s</p>' % ('Newer words ' * 200))
            refresh(self, msg)
            for path in (text, page, msg):
                fd = os.open(path, os.O_RDONLY)
                try:
                    chunks = []
                    while True:
                        b = os.read(fd, 1 << 16)
                        if not b:
                            break
                        chunks.append(b)
                    size = os.fstat(fd).st_size
                finally:
                    os.close(fd)
                new = b''.join(chunks)
                self.assertNotEqual(new, olds[path], path)
                self.assertIn(b'Newer words', new, path)
                self.assertEqual(size, len(new), path)

    def test_shared_chat_changed_through_another_member(self):
        """A group chat is stored once for all its members: an edit that
        one member's refresh brings in shows in the other's transcript at
        once, with an exact size."""
        exp = self.emu.expected()
        mine = set(f.group_chat_ids(exp.user_scope(self.uid)))
        other = [u for u in exp.users[1:]
                 if mine & set(f.group_chat_ids(exp.user_scope(u)))][0]
        chat = sorted(mine & set(f.group_chat_ids(exp.user_scope(other))))[0]
        victim = [m for c, m in f.plain_messages(exp.user_scope(other))
                  if c == chat][0]
        with h.Mount(self.emu, ['refresh=0']) as m:
            text = m.path('transcripts', 'users', h.fs_name(self.uid),
                          h.fs_name(chat) + '.txt')
            before = read(text)
            os.listdir(m.path('users', h.fs_name(other), 'chats'))
            self.emu.edit_message(chat, victim['id'],
                                  '<p>%s</p>' % ('Shared edit ' * 40))
            refresh(self, m.path('users', h.fs_name(other), 'chats'))
            after = read(text)
            self.assertTrue(after != before, 'transcript unchanged')
            self.assertIn(b'Shared edit', after)
            self.assertEqual(os.stat(text).st_size, len(after))
