"""File contents, sizes, modes and times for every scope of the tenant."""

import calendar
import json
import os

import harness as h

EMU = None

# A sample message (chat-list-messages--1.json and others) whose dates
# lack the 'T': "2021-03-1706:47:05.123Z".
MALFORMED_CHAT = '19:2da4c29f6d7041eca70b638b43d45437@thread.v2'
MALFORMED_ID = '1615943825123'
MALFORMED_NS = calendar.timegm((2021, 3, 17, 6, 47, 5, 0, 0, 0)) \
    * 1000000000 + 123000000
# The sample messageUnpinnedEventMessageDetail has no id.
NOID_CHAT = '19:0ae61fd5f7f44791baddce0988e71bf3@thread.v2'


def setUpModule():
    global EMU
    EMU = h.sample_emulator()


class ContentTest(h.TreeCase):
    def setUp(self):
        EMU.clear_faults()
        self.exp = EMU.expected()

    def find_container(self, kind, raw):
        out = []
        for scope in self.exp.all_scopes():
            if scope.kind != kind:
                continue
            for c in scope.containers.values():
                if c.raw == raw:
                    out.append((scope, c))
        return out

    def test_every_scope(self):
        with h.Mount(EMU) as m:
            for scope in self.exp.all_scopes():
                with self.subTest(scope=scope.relpath):
                    self.assert_scope(m, scope)

    def test_lookup_without_readdir(self):
        """A lookup inside an uncrawled scope crawls it."""
        scope = self.exp.user_scopes_by_size()[-2]
        rel, msg = sorted(scope.files().items())[0]
        with h.Mount(EMU) as m:
            self.assert_file(m.path(rel), msg)

    def test_scope_dir_times_across_first_crawl(self):
        """Stat'ing a scope directory does not crawl it, so before the first
        look inside, its mtime cannot be the newest message's yet; from the
        first look on it is, and its ctime does not move (tar compares
        ctimes before and after reading a directory)."""
        scope = self.exp.user_scopes_by_size()[-2]
        team = self.exp.team_scope(self.exp.teams[0])
        with h.Mount(EMU) as m:
            for s in (scope, team):
                path = m.path(s.relpath)
                before = os.stat(path)
                os.listdir(path)
                after = os.stat(path)
                self.assertEqual(after.st_mtime_ns, s.mtime_ns, s.relpath)
                self.assertEqual(after.st_ctime_ns, before.st_ctime_ns,
                                 s.relpath)

    def test_malformed_dates_are_parsed_leniently(self):
        found = self.find_container('chats', MALFORMED_CHAT)
        self.assertTrue(found, 'sample chat %s not served' % MALFORMED_CHAT)
        with h.Mount(EMU) as m:
            for scope, c in found:
                name = h.msg_name(MALFORMED_ID)
                self.assertIn(name, c.named)
                p = m.path(scope.relpath, c.name, name)
                self.assertEqual(os.stat(p).st_mtime_ns, MALFORMED_NS, p)
                self.assert_file(p, c.named[name])

    def test_message_without_id(self):
        found = self.find_container('chats', NOID_CHAT)
        self.assertTrue(found, 'sample chat %s not served' % NOID_CHAT)
        with h.Mount(EMU) as m:
            for scope, c in found:
                self.assertEqual(len(c.noid), 1)
                cdir = m.path(scope.relpath, c.name)
                noid = [n for n in os.listdir(cdir) if n.startswith('%noid')]
                self.assertEqual(len(noid), 1, noid)
                self.assertRegex(noid[0], h.NOID_RE)
                data = h.read_file(os.path.join(cdir, noid[0]))
                self.assertEqual(json.loads(data), c.noid[0])
                self.assertEqual(os.stat(os.path.join(cdir, noid[0])).st_size,
                                 len(data))

    def test_noid_name_is_hash_of_rendered_bytes(self):
        """%noid-<16 hex>: H of the file's bytes (spec: rendered bytes)."""
        found = self.find_container('chats', NOID_CHAT)
        with h.Mount(EMU) as m:
            for scope, c in found:
                cdir = m.path(scope.relpath, c.name)
                for n in os.listdir(cdir):
                    mo = h.NOID_RE.match(n)
                    if mo:
                        data = h.read_file(os.path.join(cdir, n))
                        self.assertEqual(mo.group(1),
                                         '%016x' % h.H(data), n)


if __name__ == '__main__':
    import unittest
    unittest.main()
