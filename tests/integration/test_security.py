"""The client secret stays secret; the cache is private."""

import os
import re
import secrets
import shutil
import stat
import tempfile

import harness as h


class SecurityTest(h.TreeCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='teamsfs-sec-')
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.secret = 'S3cr3t-' + secrets.token_hex(16)
        path = os.path.join(cls.tmp, 'emu-secret')
        with open(path, 'w') as f:
            f.write(cls.secret + '\n')
        cls.emu = h.Emulator('--samples', h.SAMPLES,
                             '--client-secret-file', path,
                             secret=cls.secret).start()
        cls.addClassCleanup(cls.emu.stop)

    def process_texts(self):
        """cmdline and environ of every process we can read."""
        out = {}
        for pid in os.listdir('/proc'):
            if not pid.isdigit():
                continue
            for what in ('cmdline', 'environ'):
                try:
                    with open('/proc/%s/%s' % (pid, what), 'rb') as f:
                        out[(pid, what)] = f.read()
                except OSError:
                    pass
        return out

    def test_secret_not_in_argv_or_log_and_cache_private(self):
        exp = self.emu.expected()
        scope = [s for s in exp.user_scopes_by_size() if s.containers][0]
        team = exp.team_scope(exp.teams[0])
        secret = self.secret.encode()
        # debug output on, cache dir created by teamsfs under umask 022
        m = h.Mount(self.emu, debug=True, make_cache=False, keep=True)
        self.addCleanup(m.remove)
        with m:
            self.assert_scope(m, scope)
            self.assert_scope(m, team)
            argv = h.read_file('/proc/%d/cmdline' % m.proc.pid)
            self.assertIn(b'client_secret_file=', argv)
            for key, text in self.process_texts().items():
                self.assertNotIn(secret, text, key)
        log = h.read_file(m.log)
        self.assertNotIn(secret, log)
        self.assertIsNone(re.search(rb'Bearer\s+[A-Za-z0-9._~+/=-]{8,}',
                                    log), 'access token in the log')
        self.check_cache(m.cache_dir, secret)

    def check_cache(self, cache, secret):
        self.assertTrue(os.path.isdir(cache))
        files = 0
        for d, dirs, fs in os.walk(cache):
            st = os.stat(d)
            self.assertEqual(stat.S_IMODE(st.st_mode) & 0o007, 0,
                             '%s is %o' % (d, stat.S_IMODE(st.st_mode)))
            for f in fs:
                p = os.path.join(d, f)
                st = os.lstat(p)
                if stat.S_ISREG(st.st_mode):
                    files += 1
                    self.assertEqual(stat.S_IMODE(st.st_mode), 0o600,
                                     '%s is %o' % (p, stat.S_IMODE(
                                         st.st_mode)))
                    with open(p, 'rb') as fh:
                        self.assertNotIn(secret, fh.read(), p)
        self.assertGreater(files, 0, 'nothing cached in ' + cache)


if __name__ == '__main__':
    import unittest
    unittest.main()
