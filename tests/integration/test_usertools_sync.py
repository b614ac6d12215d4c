"""Issue 5: `teamsfs sync` (fill the cache ahead of a backup) and
`teamsfs status` (what the cache holds, without network).

Each test has an emulator of its own (faults, latency, a stopped
emulator), without --samples to stay quick.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import harness as h
import usertools as ut


def has_filter(path):
    return re.search(r'(?i)(\$|%24)filter=', path) is not None


class SyncTest(h.TreeCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='teamsfs-ut-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def assert_status_complete(self, cache, exp, scopes=None, failed=()):
        r = cache.status()
        self.assertEqual(r.returncode, 0, ut.describe(r))
        got = ut.parse_status(r.stdout)
        for scope in scopes or exp.all_scopes():
            key = ut.scope_key(scope)
            if scope.owner in failed:
                self.assertNotEqual((got.get(key) or {}).get('state'),
                                    'complete', key)
                continue
            self.assertIn(key, got, ut.describe(r))
            self.assertEqual(got[key]['state'], 'complete', key)
            self.assertEqual(got[key]['messages'], scope.file_count(), key)
            self.assertEqual(got[key]['dirs'], len(scope.containers), key)
        return r, got

    def test_sync_then_status_offline(self):
        """sync: exit 0, plain log lines (not a terminal), every scope
        complete with its counts; then, with the emulator stopped, status
        lists every scope at once, and an offline mount serves them."""
        emu = h.Emulator().start()
        try:
            exp = emu.expected()
            cache = ut.Cache(emu, self.tmp)
            t0 = time.monotonic()
            r = cache.sync()
            took = time.monotonic() - t0
            self.assertEqual(r.returncode, 0, ut.describe(r))
            lines = r.stderr.splitlines()
            self.assertTrue(lines, ut.describe(r))
            for l in lines:
                self.assertRegex(l, h.LOG_LINE_RE, 'not a plain log line: %r'
                                 % l)
                self.assertNotRegex(l, r'^teamsfs: (error|warning): ', l)
                self.assertNotIn('\x1b', l)
            self.assertNotIn('\r', r.stderr)
            n = len(exp.all_scopes())
            self.assertTrue(any(re.search(
                r'^teamsfs: notice: sync: %d/%d scopes, \d+ messages '
                r'stored, .*\b0 failed\b' % (n, n), l) for l in lines),
                ut.describe(r))
            self.assertEqual(r.stdout, '', ut.describe(r))
            self.assertLess(took, 60)
            # each scope fetched in one pass, never twice
            reqs = emu.requests()
            for scope in exp.all_scopes():
                firsts = [x['path'] for x in h.scope_requests(reqs, scope)
                          if not h.has_skiptoken(x['path'])]
                self.assertEqual(len(firsts), 1, (scope.relpath, firsts))
        finally:
            emu.stop()
        t0 = time.monotonic()
        r, got = self.assert_status_complete(cache, exp)
        self.assertLess(time.monotonic() - t0, 5, 'status took long')
        self.assertEqual(len(got), len(exp.all_scopes()), r.stdout)
        self.assertRegex(r.stdout, r'(?m)^cache .*: \d+ bytes of messages')
        for key, v in got.items():
            self.assertRegex(v['completed'], r'^\d{4}-\d\d-\d\dT', key)
        # the cache serves a mount with Graph gone
        with h.Mount(emu, options=['offline'],
                     cache_dir=cache.cache_dir) as m:
            for scope in exp.all_scopes():
                self.assert_scope_files_count(m, scope)

    def test_sync_with_a_forbidden_user(self):
        """403 on one user's getAllMessages: exit 1, the summary names
        that user and why, the log line names Graph's code; every other
        scope is complete."""
        with h.Emulator() as emu:
            exp = emu.expected()
            victim = exp.user_scopes_by_size()[-2]
            self.assertTrue(victim.served)
            emu.fault(h.fault_match_for(victim), 403, 'Forbidden',
                      message='Missing role permissions on the request.')
            cache = ut.Cache(emu, self.tmp)
            r = cache.sync()
            self.assertEqual(r.returncode, 1, ut.describe(r))
            err = r.stderr
            self.assertRegex(
                err, r'(?m)^teamsfs: sync: user %s failed: Permission '
                r'denied$' % re.escape(victim.owner), ut.describe(r))
            self.assertRegex(err, r'(?m)^teamsfs: sync: 1 of %d scopes '
                             r'failed$' % len(exp.all_scopes()),
                             ut.describe(r))
            errors = [l for l in err.splitlines()
                      if l.startswith('teamsfs: error: ')]
            self.assertEqual(len(errors), 1, ut.describe(r))
            self.assertIn('Forbidden', errors[0])
            self.assertIn('Missing role permissions on the request.',
                          errors[0])
            for l in err.splitlines():
                self.assertTrue(l.startswith('teamsfs: '), l)
            self.assert_status_complete(cache, exp, failed=[victim.owner])

    def test_interrupted_sync_resumes(self):
        """SIGINT once a few scopes are complete (latency slows the
        crawl): non-zero exit saying so; a second run completes every
        scope without fetching a first page again for the scopes that were
        complete (a refresh asks with $filter only) and continues the
        partial ones from their stored link."""
        with h.Emulator() as emu:
            exp = emu.expected()
            cache = ut.Cache(emu, self.tmp)
            ut.set_config(emu, latency_ms=120)
            errf = os.path.join(self.tmp, 'sync1.err')
            with open(errf, 'wb') as ef:
                p = subprocess.Popen(cache.sync_argv(['max_conns=3']),
                                     stdout=subprocess.DEVNULL, stderr=ef,
                                     stdin=subprocess.DEVNULL,
                                     env=h.child_env())
            try:
                def some_done():
                    st = ut.parse_status(cache.status().stdout)
                    done = [k for k, v in st.items()
                            if v['state'] == 'complete']
                    return len(done) >= 3 and done
                ut.wait_until(some_done, 60, 0.2, 'three complete scopes')
                p.send_signal(signal.SIGINT)
                rc = p.wait(30)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait(10)
            err = h.read_text(errf)
            self.assertNotEqual(rc, 0, err)
            self.assertRegex(err, r'(?m)^teamsfs: sync: interrupted', err)
            st = ut.parse_status(cache.status().stdout)
            complete = {k for k, v in st.items() if v['state'] == 'complete'}
            partial = {k for k, v in st.items()
                       if v['state'] == 'partial' and v['messages'] > 0}
            self.assertGreaterEqual(len(complete), 3, st)
            self.assertLess(len(complete), len(exp.all_scopes()),
                            'everything finished before the interrupt')
            ut.set_config(emu, latency_ms=0)
            emu.clear_requests()
            r = cache.sync()
            self.assertEqual(r.returncode, 0, ut.describe(r))
            self.assert_status_complete(cache, exp)
            reqs = emu.requests()
            for scope in exp.all_scopes():
                key = ut.scope_key(scope)
                mine = [x['path'] for x in h.scope_requests(reqs, scope)]
                if key in complete:
                    again = [x for x in mine if not has_filter(x)]
                    self.assertEqual(again, [], '%s was complete, but the '
                                     'second sync crawled it again' % (key,))
                elif key in partial:
                    self.assertTrue(mine, key)
                    self.assertTrue(h.has_skiptoken(mine[0]),
                                    '%s was partial; the second sync began '
                                    'with %s instead of the stored link'
                                    % (key, mine[0]))
                    self.assertFalse([x for x in mine
                                      if not h.has_skiptoken(x)],
                                     key)

    def test_sync_progress_on_a_terminal(self):
        """On a terminal the progress line is redrawn (carriage returns)
        and names scopes done and messages stored."""
        if not shutil.which('script'):
            self.skipTest('script(1) (bsdutils) is not installed')
        with h.Emulator() as emu:
            cache = ut.Cache(emu, self.tmp)
            cmd = ' '.join(ut.q(a) for a in cache.sync_argv())
            r = subprocess.run(['script', '-qefc', cmd, '/dev/null'],
                               capture_output=True, env=h.child_env(),
                               stdin=subprocess.DEVNULL, timeout=120)
            out = r.stdout.decode('utf-8', 'replace')
            self.assertEqual(r.returncode, 0, out)
            self.assertIn('\r', out)
            n = len(emu.expected().all_scopes())
            self.assertRegex(out, r'%d/%d scopes, \d+ messages stored'
                             % (n, n), out)


if __name__ == '__main__':
    unittest.main()
