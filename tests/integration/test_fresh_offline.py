"""Offline and interruption (issue 4): the `offline` option serves the
cache and answers uncached paths with EIO at once, without any network;
an unreachable Graph still serves the cache and fails uncached paths with
EIO in bounded time; a caller interrupted while a crawl runs gets EINTR
at once, and the crawl it started completes in the background."""

import errno
import os
import signal
import subprocess
import sys
import time

import freshness as f
import harness as h

EMU_ARGS = ('--scale', '0.2')
TOKEN_WARNING = (r'^teamsfs: warning: .*(?i:token|identity platform|'
                 r'sign.?in|login)')
UNREACHABLE_ERROR = (r'^teamsfs: error: .*(?i:could not be reached|connect|'
                     r'refused|reach|network|token)')

# A caller that handles SIGINT (so the signal is not fatal) and reports
# what its readdir got.
EINTR_CHILD = r'''
import errno, os, signal, sys, time
signal.signal(signal.SIGINT, lambda *a: None)
t0 = time.monotonic()
try:
    os.listdir(sys.argv[1])
    print('ok', time.monotonic() - t0, flush=True)
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno), time.monotonic() - t0,
          flush=True)
'''


class CachedCase(f.FreshCase):
    def setUp(self):
        self.emu = f.live_emulator(*EMU_ARGS)
        self.addCleanup(self.emu.stop)
        self.exp = self.emu.expected()
        users = [s for s in self.exp.user_scopes_by_size() if s.containers]
        self.cached = [users[-1], self.exp.team_scope(self.exp.teams[0])]
        self.uncached = users[0]
        self.cache = f.cache_dir(self)
        with h.Mount(self.emu, cache_dir=self.cache) as m:
            for s in self.cached:
                self.assert_current(m, s)
        self.emu.clear_requests()

    def keys(self):
        return [(s.kind, s.owner) for s in self.cached]

    def assert_fails_fast(self, path, limit, errnos=(errno.EIO,)):
        t0 = time.monotonic()
        with self.assertRaises(OSError) as cm:
            os.listdir(path)
        took = time.monotonic() - t0
        self.assertIn(cm.exception.errno, errnos,
                      '%s: %s' % (path, cm.exception))
        self.assertLess(took, limit, 'listing %s took %.2fs' % (path, took))
        return took


class OfflineOptionTest(CachedCase):
    def test_offline_serves_cache_and_fails_uncached_at_once(self):
        with h.Mount(self.emu, ['offline'], cache_dir=self.cache) as m:
            self.assert_scopes_current(m, self.emu, self.keys())
            self.assert_fails_fast(m.path(self.uncached.relpath), 1.0)
            # again (nothing was cached by the failure), and a lookup in it
            self.assert_fails_fast(m.path(self.uncached.relpath), 1.0)
            t0 = time.monotonic()
            with self.assertRaises(OSError) as cm:
                os.stat(m.path(self.uncached.relpath, 'no-such-chat'))
            self.assertIn(cm.exception.errno, (errno.EIO, errno.ENOENT))
            self.assertLess(time.monotonic() - t0, 1.0)
            self.assert_lists_current(m, self.emu)
        self.assertEqual(self.emu.requests(), [],
                         'offline used the network')


class UnreachableTest(CachedCase):
    def test_unreachable_graph_serves_cache_and_fails_in_bounded_time(self):
        dead = 'http://127.0.0.1:%d' % h.free_port()
        with h.Mount(self.emu, ['retries=1'], cache_dir=self.cache,
                     graph_url=dead + '/v1.0',
                     token_url=dead + '/%s/oauth2/v2.0/token'
                     % self.emu.tenant_id,
                     expect=[TOKEN_WARNING, UNREACHABLE_ERROR]) as m:
            self.assert_scopes_current(m, self.emu, self.keys())
            self.assert_lists_current(m, self.emu)
            # retries=1: one retry after a short backoff, then EIO
            self.assert_fails_fast(m.path(self.uncached.relpath), 3.0)
            errors = m.level_lines('error')
            self.assertTrue(errors, 'no error line for the failed crawl')
            # the cache still answers afterwards
            self.assert_scopes_current(m, self.emu, self.keys())
        self.assertEqual(self.emu.requests(), [])


class InterruptTest(f.FreshCase):
    LATENCY_MS = 300

    def test_interrupted_ls_then_crawl_completes_in_background(self):
        emu = f.live_emulator(*EMU_ARGS)
        self.addCleanup(emu.stop)
        exp = emu.expected()
        scope = exp.user_scope(exp.users[0])
        emu.config(latency_ms=self.LATENCY_MS)

        def pages_ok(rs):
            return [r for r in h.scope_requests(rs, scope)
                    if r['status'] == 200]

        with h.Mount(emu, ['top=5']) as m:
            path = m.path(scope.relpath)
            # a plain `ls` and Ctrl-C
            ls = subprocess.Popen(f.ls_argv(path), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=h.child_env())
            self.addCleanup(f.stop_proc, ls)
            f.wait_requests(emu, lambda rs: len(pages_ok(rs)) >= 2, 30,
                            'the crawl started')
            t0 = time.monotonic()
            ls.send_signal(signal.SIGINT)
            try:
                ls.wait(5)
            except subprocess.TimeoutExpired:
                pass
            took = time.monotonic() - t0
            self.assertIsNotNone(ls.poll(), '`ls` still blocked 5 s after '
                                 'SIGINT')
            self.assertLess(took, 1.5, '`ls` took %.2fs to stop' % took)
            self.assertNotEqual(ls.returncode, 0)
            ls.communicate()
            # a caller that handles SIGINT gets EINTR from readdir
            child = subprocess.Popen([sys.executable, '-c', EINTR_CHILD,
                                      path], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=h.child_env())
            self.addCleanup(f.stop_proc, child)
            n = len(pages_ok(emu.requests()))
            f.wait_requests(emu, lambda rs: len(pages_ok(rs)) >= n + 1, 30,
                            'the crawl went on')
            time.sleep(0.2)            # the child is inside its readdir
            self.assertIsNone(child.poll(), 'the child did not wait')
            child.send_signal(signal.SIGINT)
            out, err = child.communicate(timeout=10)
            words = out.split()
            self.assertTrue(words, err)
            self.assertEqual(words[0], 'EINTR', (out, err))
            still = len(pages_ok(emu.requests()))
            # nobody waits now: the crawl goes on in the background
            emu.config(latency_ms=0)
            firsts = f.first_page_requests(
                h.scope_requests(emu.requests(), scope))
            self.assertEqual(len(firsts), 1, firsts)
            pass_paths = f.reference_pass(EMU_ARGS, firsts[0]['path'])
            self.assertLess(still, len(pass_paths) - 3,
                            'the crawl was nearly done at the interruption')
            f.wait_requests(
                emu, lambda rs: pass_paths[-1] in
                [r['path'] for r in pages_ok(rs)], 60,
                'the background crawl reached the last page')
            reqs = h.scope_requests(emu.requests(), scope)
            self.assertEqual([r['path'] for r in reqs if r['status'] == 200],
                             pass_paths, 'not one whole pass, each page once')
            # listing now is served from the cache: no new page-1 request
            n = len(emu.requests())
            f.wait_until(lambda: self.assert_current(m, scope), 10,
                         'the scope is served whole')
            after = h.scope_requests(emu.requests()[n:], scope)
            self.assertEqual(after, [], 'the scope was crawled again')
            self.assert_scopes_current(m, emu, [('chats', scope.owner)])


if __name__ == '__main__':
    import unittest
    unittest.main()
