"""Ordinary tools over the mount: grep, find, tar, stat, and writes."""

import errno
import filecmp
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile

import harness as h

EMU = None


def setUpModule():
    global EMU
    EMU = h.sample_emulator()


def sh(cmd):
    return subprocess.run(['bash', '-o', 'pipefail', '-c', cmd],
                          capture_output=True, env=h.child_env())


STRERROR = {errno.EIO: 'Input/output error', errno.EACCES: 'Permission denied'}


class ToolsTest(h.TreeCase):
    def setUp(self):
        EMU.clear_faults()
        self.exp = EMU.expected()

    def some_user(self):
        """A user with a few files, not the biggest (to stay fast)."""
        scopes = [s for s in self.exp.user_scopes_by_size()
                  if s.file_count() > 0]
        self.assertGreaterEqual(len(scopes), 2)
        return scopes[len(scopes) // 2]

    def transcripts_of(self, rels):
        """The transcript files of the containers of files @rels."""
        out = set()
        for rel in rels:
            top, owner, _, cont = rel.split('/')[:4]
            for ext in ('.html', '.txt'):
                out.add('transcripts/%s/%s/%s%s' % (top, owner, cont, ext))
        return out

    def test_grep_finds_the_phrase(self):
        """grep -r over the whole mount: the messages (and inline
        attachments) holding the phrase, and an error, exit status 2, for
        exactly the attachments Graph refuses (403, 404)."""
        expected = set()
        for scope in self.exp.all_scopes():
            for rel, msg in scope.files().items():
                if h.PHRASE in json.dumps(msg, ensure_ascii=False):
                    expected.add(rel)
        messages = set(expected)
        for scope in self.exp.all_scopes():
            for rel, (a, _) in scope.att_files().items():
                if a.kind == h.ATT_INLINE and h.PHRASE in json.dumps(
                        h.inline_expected(a)[1], ensure_ascii=False):
                    expected.add(rel)
        broken = self.exp.broken_atts()
        self.assertEqual(sorted({e for _, _, _, e in broken}),
                         sorted([errno.EIO, errno.EACCES]),
                         'the tenant lacks the 403 and 404 attachments')
        self.assertTrue(expected, 'no message holds %r' % h.PHRASE)
        first = h.fs_name(self.exp.users[0])
        self.assertTrue(any(r.startswith('users/%s/chats/' % first)
                            and r.split('/')[3].endswith('@thread.v2')
                            for r in expected), expected)
        with h.Mount(EMU, expect=h.broken_log_res(broken)) as m:
            r = sh('grep -rl %s %s' % (shlex.quote(h.PHRASE),
                                       shlex.quote(m.mnt)))
            got = {os.path.relpath(os.fsdecode(l), m.mnt)
                   for l in r.stdout.splitlines()}
            # The transcripts of the conversations holding the phrase may
            # match too (unless wrapping split it); no other transcript.
            shown = {g for g in got if g.startswith('transcripts/')}
            got -= shown
            self.assertLessEqual(shown, self.transcripts_of(expected))
            self.assertEqual({g for g in got if '.attachments/' not in g},
                             messages)
            self.assertEqual(got, expected)
            self.assertEqual(
                sorted(os.fsdecode(l) for l in r.stderr.splitlines()),
                sorted('grep: %s: %s' % (m.path(rel), STRERROR[e])
                       for rel, _, _, e in broken))
            self.assertEqual(r.returncode, 2, r.stderr)

    def test_find_counts_files(self):
        scope = self.exp.user_scope(self.exp.users[0])
        self.assertGreater(scope.file_count(), 0)
        self.assertGreater(scope.att_count(), 0)
        with h.Mount(EMU) as m:
            user = shlex.quote(m.path('users', h.fs_name(scope.owner)))
            r = sh('find %s -type f | wc -l' % user)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(int(r.stdout), scope.all_file_count())
            r = sh("find %s -type f -not -path '*.attachments/*' | wc -l"
                   % user)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(int(r.stdout), scope.file_count())
            r = sh("find %s -type d -name '*.attachments' | wc -l" % user)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(int(r.stdout), sum(
                len(c.all_attdirs()) for c in scope.containers.values()))

    def test_tar_round_trip(self):
        self.tar_round_trip(self.some_user())

    def test_tar_round_trip_with_refused_attachments(self):
        """A scope holding the 403 and 404 attachments: tar copies all else
        and names exactly those two, with exit status 2."""
        scopes = [s for s in self.exp.user_scopes_by_size()
                  if self.exp.broken_atts([s])]
        self.assertTrue(scopes, 'no scope has a refused attachment')
        self.tar_round_trip(scopes[0])

    def tar_round_trip(self, scope):
        user = os.path.join('users', h.fs_name(scope.owner))
        broken = self.exp.broken_atts([scope])
        tmp = tempfile.mkdtemp(prefix='teamsfs-tar-')
        try:
            with h.Mount(EMU, expect=h.broken_log_res(broken)) as m:
                tar = sh('tar -C %s -cf - %s | tar -xf - -C %s'
                         % (shlex.quote(m.mnt), shlex.quote(user),
                            shlex.quote(tmp)))
                files = scope.files()
                atts = scope.att_files()
                extracted = []
                for d, _, fs in os.walk(os.path.join(tmp, user)):
                    extracted += [os.path.relpath(os.path.join(d, f), tmp)
                                  for f in fs]
                self.assertEqual(len(extracted),
                                 scope.all_file_count() - len(broken))
                self.assertTrue(set(files) <= set(extracted))
                self.assertEqual(set(atts) - set(extracted),
                                 {rel for rel, _, _, _ in broken})
                tenant = EMU.tenant()
                for rel in set(atts) & set(extracted):
                    a, _ = atts[rel]
                    if a.downloadable:
                        self.assertEqual(
                            hashlib.sha256(h.read_file(os.path.join(
                                tmp, rel))).hexdigest(),
                            h.media_of(tenant, a)['sha256'], rel)
                for rel in extracted:
                    mine, theirs = os.path.join(tmp, rel), m.path(rel)
                    self.assertTrue(filecmp.cmp(mine, theirs, shallow=False),
                                    rel)
                    self.assertEqual(h.read_file(mine), h.read_file(theirs))
                    self.assertEqual(os.stat(mine).st_mtime_ns // 10**9,
                                     os.stat(theirs).st_mtime_ns // 10**9)
                    if rel in files:
                        self.assertEqual(json.loads(h.read_file(mine)),
                                         files[rel])
                r = sh('cmp %s %s' % (shlex.quote(os.path.join(tmp, rel)),
                                      shlex.quote(m.path(rel))))
                self.assertEqual(r.returncode, 0, r.stdout)
                # last, so that a tar complaint does not hide the above
                if not broken:
                    self.assertEqual((tar.returncode, tar.stderr), (0, b''))
                else:
                    # tar writes a ':' in a file name as '\\:'
                    want = ['tar: %s: Cannot stat: %s'
                            % (rel.replace(':', '\\:'), STRERROR[e])
                            for rel, _, _, e in broken]
                    want.append('tar: Exiting with failure status due to '
                                'previous errors')
                    self.assertEqual(sorted(os.fsdecode(l) for l in
                                            tar.stderr.splitlines()),
                                     sorted(want))
                    self.assertEqual(tar.returncode, 2, tar.stderr)
        finally:
            shutil.rmtree(tmp)

    def test_stat_command(self):
        scope = self.some_user()
        rel, msg = sorted(scope.files().items())[0]
        with h.Mount(EMU) as m:
            data = h.read_file(m.path(rel))
            r = sh("stat -c '%%s %%Y %%a %%u %%g %%F' %s"
                   % shlex.quote(m.path(rel)))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(
                r.stdout.decode().strip(), '%d %d 444 %d %d regular file' % (
                    len(data), h.message_mtime_ns(msg) // 10**9,
                    os.getuid(), os.getgid()))
            r = sh("stat -c '%%a %%F' %s" % shlex.quote(
                m.path(os.path.dirname(rel))))
            self.assertEqual(r.stdout.decode().strip(), '555 directory')

    def test_writes_fail_with_erofs(self):
        scope = self.some_user()
        rel, msg = sorted(scope.files().items())[0]
        with h.Mount(EMU) as m:
            f = m.path(rel)
            d = os.path.dirname(f)
            before = h.read_file(f)
            q = shlex.quote
            for cmd in ['touch %s' % q(f),
                        'touch %s' % q(os.path.join(d, 'new.json')),
                        'mkdir %s' % q(os.path.join(d, 'newdir')),
                        'rm -f %s' % q(f),
                        'echo x > %s' % q(f),
                        'echo x >> %s' % q(f),
                        'mv %s %s' % (q(f), q(os.path.join(d, 'moved'))),
                        'rmdir %s' % q(d),
                        'chmod 644 %s' % q(f),
                        'ln -s x %s' % q(os.path.join(d, 'link'))]:
                with self.subTest(cmd=cmd):
                    r = sh(cmd)
                    self.assertNotEqual(r.returncode, 0)
                    self.assertIn(b'Read-only file system', r.stderr)
            calls = [
                ('open r+', lambda: open(f, 'r+b')),
                ('open w', lambda: open(f, 'wb')),
                ('create', lambda: open(os.path.join(d, 'n.json'), 'xb')),
                ('mkdir', lambda: os.mkdir(os.path.join(d, 'nd'))),
                ('unlink', lambda: os.unlink(f)),
                ('rename', lambda: os.rename(f, f + '.x')),
                ('rmdir', lambda: os.rmdir(d)),
                ('chmod', lambda: os.chmod(f, 0o644)),
                ('truncate', lambda: os.truncate(f, 0)),
                ('utime', lambda: os.utime(f, (0, 0))),
                ('symlink', lambda: os.symlink('x', os.path.join(d, 's'))),
                ('link', lambda: os.link(f, os.path.join(d, 'l'))),
                ('mkdir top', lambda: os.mkdir(m.path('users', 'x'))),
            ]
            for what, fn in calls:
                with self.subTest(call=what):
                    with self.assertRaises(OSError) as cm:
                        fn()
                    self.assertEqual(cm.exception.errno, errno.EROFS)
            self.assertEqual(h.read_file(f), before)
            c = scope.containers[os.path.basename(d)]
            names = os.listdir(d)
            self.assertEqual(len(names), c.entry_count())
            self.assertTrue(set(c.named) <= set(names))


if __name__ == '__main__':
    import unittest
    unittest.main()
