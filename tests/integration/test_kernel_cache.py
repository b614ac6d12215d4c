"""What a warm read costs teamsfs: nothing.  Files need no open (the first
open answers ENOSYS, and the kernel opens files by itself from then on),
cached pages and listings are kept until teamsfs says something changed,
so a second tar, grep, find or ls -l of the same files sends teamsfs no
request at all; yet every byte is the same as on the first pass, and a
file a refresh changed is read anew (test_transcripts and test_freshness
test that side)."""

import os
import re
import shutil
import tempfile

import harness as h
import usertools as ut

EMU = None

OPCODE_RE = re.compile(r'opcode: ([A-Z_]+) \(\d+\)')


def setUpModule():
    global EMU
    EMU = h.sample_emulator()


def opcodes(text):
    """{opcode: count} of the requests in a piece of libfuse debug log."""
    counts = {}
    for mo in OPCODE_RE.finditer(text):
        counts[mo.group(1)] = counts.get(mo.group(1), 0) + 1
    return counts


class KernelCacheTest(h.TreeCase):
    def setUp(self):
        EMU.clear_faults()
        self.exp = EMU.expected()
        # scopes whose attachments all download: tar then exits 0
        self.rels = [os.path.dirname(s.relpath)
                     for s in self.exp.all_scopes()
                     if s.all_file_count() and not self.exp.broken_atts([s])]
        self.files = sum(s.all_file_count() for s in self.exp.all_scopes()
                         if os.path.dirname(s.relpath) in self.rels)

    def run_tools(self, m):
        """tar, grep -r, find and ls -l over the scopes: their output."""
        out = []
        for cmd in ('tar -cf - %s | sha256sum',
                    'grep -rc "the" %s | sort',
                    'find %s -printf "%%i %%s %%T@ %%p\\n" | sort',
                    'ls -lR --time-style=full-iso %s'):
            r = ut.sh('cd %s && %s' % (ut.q(m.mnt), cmd % ' '.join(
                ut.q(x) for x in self.rels)))
            self.assertEqual(r.returncode, 0, ut.describe(r))
            out.append(r.stdout)
        return out

    def test_second_pass_sends_no_request(self):
        with h.Mount(EMU, debug=True) as m:
            # the first look crawls, and directories' times move with it
            self.run_tools(m)
            first = self.run_tools(m)
            before = len(m.log_text())
            second = self.run_tools(m)
            log = m.log_text()
            during = opcodes(log[before:])
            total = opcodes(log)
        self.assertEqual(second, first)
        self.assertGreater(len(first[2].splitlines()), self.files // 2)
        # One OPEN in the whole mount, answered ENOSYS; no RELEASE, FLUSH.
        self.assertEqual(total.get('OPEN', 0), 1, total)
        self.assertEqual(total.get('RELEASE', 0), 0, total)
        self.assertLessEqual(total.get('FLUSH', 0), 1, total)
        # The second pass: the kernel had every page, entry and listing.
        for op in ('OPEN', 'READ', 'LOOKUP', 'READDIR', 'READDIRPLUS',
                   'GETATTR'):
            self.assertEqual(during.get(op, 0), 0,
                             '%s on the second pass: %r' % (op, during))
        # ls -l asks its first file for a security label and an ACL, once
        # a process: ENOTSUP makes it stop asking.
        self.assertLessEqual(during.get('GETXATTR', 0), 2, during)
        # Opening a directory still reaches teamsfs (a due refresh starts
        # there): one request each way, not a listing.
        self.assertEqual(during.get('OPENDIR', 0),
                         during.get('RELEASEDIR', 0), during)

    def test_offline_keeps_names_a_day(self):
        """An offline mount, where nothing can change, lets the kernel keep
        names and attributes a day instead of a minute (timeout=)."""
        cache = os.path.join(self.tmpdir(), 'cache')
        os.mkdir(cache, 0o700)
        with h.Mount(EMU, cache_dir=cache, debug=True) as m:
            self.run_tools(m)
            self.assertIn('keeps names and attributes 60 s', m.log_text())
        with h.Mount(EMU, cache_dir=cache, debug=True,
                     options=['offline']) as m:
            self.assertEqual(self.run_tools(m)[2:], self.run_tools(m)[2:])
            self.assertIn('keeps names and attributes 86400 s',
                          m.log_text())
        with h.Mount(EMU, cache_dir=cache, debug=True,
                     options=['offline', 'timeout=5']) as m:
            self.assertIn('keeps names and attributes 5 s', m.log_text())

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix='teamsfs-kc-')
        self.addCleanup(shutil.rmtree, d, True)
        return d
