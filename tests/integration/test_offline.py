"""A remount on the same cache with Graph gone serves what was crawled."""

import errno
import os
import shutil
import socket
import tempfile
import time

import harness as h

TOKEN_WARNING = (r'^teamsfs: warning: .*(?i:token|identity platform|'
                 r'sign.?in|login)')
OFFLINE_ERROR = (r'^teamsfs: error: .*(?i:connect|refused|reach|offline|'
                 r'network|token|cache|unavailable)')


class OfflineTest(h.TreeCase):
    def test_offline_remount(self):
        emu = h.Emulator('--samples', h.SAMPLES).start()
        cache = tempfile.mkdtemp(prefix='teamsfs-cache-')
        try:
            exp = emu.expected()
            users = [s for s in exp.user_scopes_by_size() if s.containers]
            crawled = [users[0], exp.team_scope(exp.teams[0])]
            uncrawled = users[1]
            with h.Mount(emu, cache_dir=cache) as m:
                before = {}
                for scope in crawled:
                    self.assert_scope(m, scope)
                    before[scope.relpath] = self.tree(m, scope)
            dead = emu.url
            emu.stop()
            with self.assertRaises(ConnectionRefusedError):
                socket.create_connection(('127.0.0.1', emu.port), 2).close()
            with h.Mount(emu, cache_dir=cache, graph_url=dead + '/v1.0',
                         token_url=emu.token_url, require=[TOKEN_WARNING],
                         expect=[TOKEN_WARNING, OFFLINE_ERROR]) as m:
                for scope in crawled:
                    after = self.tree(m, scope)
                    self.assertEqual(sorted(after),
                                     sorted(before[scope.relpath]))
                    for k in before[scope.relpath]:
                        self.assertEqual(after[k], before[scope.relpath][k],
                                         k)
                    self.assert_scope(m, scope)
                t0 = time.monotonic()
                with self.assertRaises(OSError) as cm:
                    os.listdir(m.path(uncrawled.relpath))
                self.assertEqual(cm.exception.errno, errno.EIO)
                self.assertLess(time.monotonic() - t0, 5.0)
        finally:
            emu.stop()
            shutil.rmtree(cache, ignore_errors=True)

    def tree(self, m, scope):
        """Snapshot of a scope, its parents included (inode numbers)."""
        snap = h.snapshot(m.path(scope.relpath))
        for rel in (scope.relpath, os.path.dirname(scope.relpath)):
            st = os.stat(m.path(rel))
            snap['/' + rel] = (st.st_mode, st.st_ino, st.st_mtime_ns)
        return snap


if __name__ == '__main__':
    import unittest
    unittest.main()
