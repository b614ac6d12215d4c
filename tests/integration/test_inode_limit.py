"""max_inodes: the inode table stays within its limit on a walk of more
files than that, by moving the least recently used to the spill file, while
the kernel keeps them all; every file keeps its stable inode number and its
bytes, also when the kernel asks for them again by number.
"""

import errno
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import freshness as f
import harness as h
import usertools as ut

EMU = None
LIMIT = 64

# libfuse's debug line of a request; a BATCH_FORGET's input is a 40-byte
# header, 8 bytes of count and 16 bytes for each inode forgotten.
FORGET_RE = re.compile(r'opcode: (BATCH_)?FORGET \(\d+\), .*insize: (\d+)')


def forgotten(log):
    """How many inodes the kernel forgot, from a debug log."""
    n = 0
    with open(log, errors='replace') as f:
        for line in f:
            mo = FORGET_RE.search(line)
            if mo:
                n += (int(mo.group(2)) - 48) // 16 if mo.group(1) else 1
    return n


def setUpModule():
    global EMU
    EMU = h.sample_emulator()


def find_inodes(mnt, rels):
    """`find -printf '%i %p'` of rels under mnt -> sorted lines."""
    r = ut.sh('cd %s && find %s -printf "%%i %%p\\n"' % (
        ut.q(mnt), ' '.join(ut.q(x) for x in rels)))
    assert r.returncode == 0, ut.describe(r)
    lines = sorted(r.stdout.decode('utf-8', 'surrogateescape').splitlines())
    return lines


def uncached_digest(mnt, rels):
    """sha256 over every file under rels read with the kernel's cached pages
    dropped first, so that each read reaches teamsfs by inode number."""
    d = hashlib.sha256()
    n = 0
    for rel in rels:
        for top, dirs, files in os.walk(os.path.join(mnt, rel)):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(top, name)
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    data = b''
                    while True:
                        chunk = os.read(fd, 1 << 16)
                        if not chunk:
                            break
                        data += chunk
                finally:
                    os.close(fd)
                d.update(os.path.relpath(path, mnt).encode(
                    'utf-8', 'surrogateescape') + b'\0' + data)
                n += 1
    return d.hexdigest(), n


def tar_digest(mnt, rels):
    """sha256 and length of `tar -cf -` of rels (every byte read)."""
    p = subprocess.Popen(['tar', '-cf', '-'] + rels, cwd=mnt,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=h.child_env())
    d = hashlib.sha256()
    n = 0
    for chunk in iter(lambda: p.stdout.read(1 << 16), b''):
        d.update(chunk)
        n += len(chunk)
    err = p.stderr.read()
    rc = p.wait()
    assert rc == 0, 'tar exited %d: %s' % (rc, err)
    return d.hexdigest(), n


class InodeLimitTest(h.TreeCase):
    """A walk of some 1,700 files with max_inodes=64."""

    def setUp(self):
        EMU.clear_faults()
        self.exp = EMU.expected()
        # scopes whose attachments all download: tar then exits 0
        self.scopes = [s for s in self.exp.all_scopes()
                       if s.all_file_count()
                       and not self.exp.broken_atts([s])]
        self.rels = [os.path.dirname(s.relpath) for s in self.scopes]
        self.files = sum(s.all_file_count() for s in self.scopes)
        self.assertGreater(self.files, 20 * LIMIT)

    def test_walk_beyond_the_limit(self):
        """Against a mount without the limit: the same inode number for
        every path, twice, the same tar stream, and the same bytes when
        every file is read again by number after the kernel dropped its
        pages (the inodes' paths come back from the spill); the kernel was
        not made to forget them (few FORGETs in the debug log)."""
        cache = os.path.join(self.tmpdir(), 'cache')
        os.mkdir(cache, 0o700)
        with h.Mount(EMU, cache_dir=cache, options=['max_inodes=0']) as m:
            want = find_inodes(m.mnt, self.rels)
            want_tar = tar_digest(m.mnt, self.rels)
            want_bytes = uncached_digest(m.mnt, self.rels)
        self.assertGreaterEqual(len(want), self.files)
        self.assertEqual(len({ln.split(' ', 1)[0] for ln in want}),
                         len(want), 'one inode number for several paths')
        with h.Mount(EMU, cache_dir=cache, debug=True,
                     options=['max_inodes=%d' % LIMIT, 'offline']) as m:
            first = find_inodes(m.mnt, self.rels)
            got_tar = tar_digest(m.mnt, self.rels)
            got_bytes = uncached_digest(m.mnt, self.rels)
            second = find_inodes(m.mnt, self.rels)
            forgets = forgotten(m.log)
            log = m.log_text()
            # the spill file is unlinked at once: nothing left in the cache
            self.assertEqual([n for n in os.listdir(cache)
                              if n.startswith('inodes-')], [])
        self.assertEqual(first, want)
        self.assertEqual(second, want)
        self.assertEqual(got_tar, want_tar)
        self.assertEqual(got_bytes, want_bytes)
        self.assertIn('max_inodes=%d' % LIMIT, log)
        self.assertRegex(log, r'inode table .* spill')
        # The kernel, with memory to spare, kept what it was told of.
        self.assertLess(forgets, self.files // 4,
                        'the kernel was made to forget inodes')

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix='teamsfs-il-')
        self.addCleanup(shutil.rmtree, d, True)
        return d


def read_all(path, drop=True):
    fd = os.open(path, os.O_RDONLY)
    try:
        if drop:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        out = b''
        while True:
            c = os.read(fd, 1 << 16)
            if not c:
                return out
            out += c
    finally:
        os.close(fd)


class SpillVersionTest(unittest.TestCase):
    """A changed file whose node went through the spill: a fresh reader,
    after the old inode's last holder closed it, reads the new version (the
    node's lookup count and version travel with it through the spill, and
    its record goes with the kernel's last FORGET)."""
    def setUp(self):
        self.emu = f.live_emulator('--scale', '0.2')
        self.addCleanup(self.emu.stop)
        self.exp = self.emu.expected()

    def walk(self, m, rel):
        r = ut.sh('cd %s && find %s -type f -exec cat {} + >/dev/null' %
                  (ut.q(m.mnt), ut.q(rel)))
        return r.returncode

    def test_changed_file_through_spill(self):
        uid = self.exp.users[0]
        scope = self.exp.user_scope(uid)
        group = f.group_chat_ids(scope)[0]
        edit = [m for c, m in f.plain_messages(scope) if c == group][0]
        rel = os.path.join(scope.relpath, h.fs_name(group),
                           h.msg_name(edit['id']))
        other = self.exp.team_scope(self.exp.teams[0]).relpath
        with h.Mount(self.emu, ['max_inodes=16', 'refresh=0',
                                'refresh_overlap=600s'],
                     expect=[r'.']) as m:
            p = os.path.join(m.mnt, rel)
            old = read_all(p)
            held = os.open(p, os.O_RDONLY)
            os.read(held, 10)
            # p goes to the spill
            self.walk(m, self.exp.user_scope(self.exp.users[1]).relpath)
            self.emu.edit_message(group, edit['id'],
                                  '<p>%s</p>' % ('edited ' * 50))
            r = subprocess.run([h.TEAMSFS_BIN, 'refresh', p],
                               env=h.child_env(), capture_output=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.walk(m, self.exp.user_scope(self.exp.users[2]).relpath)
            new = read_all(p)
            self.assertNotEqual(new, old)
            self.assertIn(b'edited', new)
            try:
                os.close(held)           # the old inode's FORGET
            except OSError as e:
                self.assertEqual(e.errno, errno.EIO)
            # push the file out of openfiles' 64 slots
            n = 0
            for top, ds, fs in os.walk(os.path.join(
                    m.mnt, self.exp.user_scope(self.exp.users[1]).relpath)):
                for x in fs:
                    if n < 100 and not x.endswith('.html'):
                        try:
                            read_all(os.path.join(top, x))
                            n += 1
                        except OSError:
                            pass
            self.assertEqual(n, 100)
            errs = []
            for i in range(3):
                try:
                    again = read_all(p)
                    self.assertEqual(again, new)
                except OSError as e:
                    errs.append('read %d: %s' % (i, e))
                r = subprocess.run(['cat', p], capture_output=True)
                if r.returncode:
                    errs.append('cat %d: %s' % (i, r.stderr))
            self.assertEqual(errs, [], 'fresh readers after the change')


if __name__ == '__main__':
    unittest.main()
