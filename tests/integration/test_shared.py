"""A group chat exported under several members is stored once (cache
schema 2): every member's path shows the same bytes, size and time, statfs
counts each message once, each scope keeps its own counts, and each user's
own notes (48:notes, one id for all users) stay apart."""

import json
import os
import subprocess

import harness as h
import usertools as ut

EMU = None


def setUpModule():
    global EMU
    EMU = h.sample_emulator()


def thread_id(cid):
    """Ids that name one conversation in the whole tenant."""
    return isinstance(cid, str) and cid.startswith('19:') and '@' in cid


def distinct(scopes):
    """Messages the cache holds for @scopes: a thread's once."""
    keys = set()
    for s in scopes:
        for cname, c in s.containers.items():
            ck = cname if thread_id(c.raw) else (s.relpath, cname)
            keys.update((ck, n) for n in c.named)
            keys.update((ck, json.dumps(m, sort_keys=True)) for m in c.noid)
    return len(keys)


class SharedChatTest(h.TreeCase):
    def setUp(self):
        EMU.clear_faults()
        self.exp = EMU.expected()

    def pair(self):
        """Two users with the most group chats in common."""
        scopes = [self.exp.user_scope(u) for u in self.exp.users]
        best = None
        for i, a in enumerate(scopes):
            for b in scopes[i + 1:]:
                shared = sorted(n for n, c in a.containers.items()
                                if thread_id(c.raw) and n in b.containers)
                if best is None or len(shared) > len(best[2]):
                    best = (a, b, shared)
        return best

    def test_group_chat_under_two_members(self):
        a, b, shared = self.pair()
        self.assertTrue(shared, 'no chat in two scopes')
        notes = h.fs_name('48:notes')
        m = h.Mount(EMU, keep=True)
        self.addCleanup(m.remove)
        with m:
            self.assert_scope(m, a)
            self.assert_scope(m, b)
            same = 0
            for cname in shared:
                ca, cb = a.containers[cname], b.containers[cname]
                for n in sorted(set(ca.named) & set(cb.named)):
                    pa = m.path(a.relpath, cname, n)
                    pb = m.path(b.relpath, cname, n)
                    sa, sb = os.stat(pa), os.stat(pb)
                    self.assertEqual(h.read_file(pa), h.read_file(pb), n)
                    self.assertEqual((sa.st_size, sa.st_mtime_ns),
                                     (sb.st_size, sb.st_mtime_ns), n)
                    self.assertNotEqual(sa.st_ino, sb.st_ino, n)
                    same += 1
            self.assertGreater(same, 0)
            # every user's own notes, under one chat id: not merged
            if notes in a.containers and notes in b.containers:
                self.assertNotEqual(
                    sorted(a.containers[notes].named.items()),
                    sorted(b.containers[notes].named.items()))
            sv = os.statvfs(m.mnt)
            self.assertEqual(sv.f_files, distinct([a, b]))
            self.assertLess(sv.f_files, a.file_count() + b.file_count())
        # each scope keeps its own counts
        r = subprocess.run(
            [h.TEAMSFS_BIN, 'status', '-o', 'tenant=%s,cache_dir=%s'
             % (EMU.tenant_id, m.cache_dir)],
            capture_output=True, text=True, env=h.child_env(),
            stdin=subprocess.DEVNULL, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        st = ut.parse_status(r.stdout)
        for s in (a, b):
            got = st[ut.scope_key(s)]
            self.assertEqual((got['messages'], got['dirs']),
                             (s.file_count(), len(s.containers)),
                             s.relpath)

    def test_one_member_crawled_then_the_other(self):
        """The second member's crawl of a shared chat finds its messages
        stored: the cache grows by less than that member's messages."""
        a, b, shared = self.pair()
        with h.Mount(EMU) as m:
            self.assert_scope(m, a, contents=False)
            before = os.statvfs(m.mnt).f_files
            self.assertEqual(before, distinct([a]))
            self.assert_scope(m, b)
            after = os.statvfs(m.mnt).f_files
            self.assertEqual(after - before,
                             distinct([a, b]) - distinct([a]))
            self.assertLess(after - before, b.file_count())
