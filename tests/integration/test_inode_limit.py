"""max_inodes: the inode table stays within its limit on a walk of more
files than that, by making the kernel forget the least recently used, and
every file keeps its stable inode number and its bytes.
"""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import unittest

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
        every path, twice, and the same tar stream; the kernel was made to
        forget files on the way (FORGETs in the debug log, counted before
        the unmount)."""
        cache = os.path.join(self.tmpdir(), 'cache')
        os.mkdir(cache, 0o700)
        with h.Mount(EMU, cache_dir=cache, options=['max_inodes=0']) as m:
            want = find_inodes(m.mnt, self.rels)
            want_tar = tar_digest(m.mnt, self.rels)
        self.assertGreaterEqual(len(want), self.files)
        self.assertEqual(len({ln.split(' ', 1)[0] for ln in want}),
                         len(want), 'one inode number for several paths')
        with h.Mount(EMU, cache_dir=cache, debug=True,
                     options=['max_inodes=%d' % LIMIT, 'offline']) as m:
            first = find_inodes(m.mnt, self.rels)
            got_tar = tar_digest(m.mnt, self.rels)
            second = find_inodes(m.mnt, self.rels)
            forgets = forgotten(m.log)
        self.assertEqual(first, want)
        self.assertEqual(second, want)
        self.assertEqual(got_tar, want_tar)
        # Each file was looked up three times: without the limit, the
        # kernel (with memory to spare) forgets none of them.
        self.assertGreaterEqual(forgets, self.files,
                                'the kernel kept what it was told of')

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix='teamsfs-il-')
        self.addCleanup(shutil.rmtree, d, True)
        return d


if __name__ == '__main__':
    unittest.main()
