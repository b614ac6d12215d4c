"""Access tokens expire or get refused; teamsfs asks for a new one."""

import errno
import os
import re
import time

import harness as h

UNAUTH_MSG = 'Access token has expired or is not yet valid.'


def token_posts(reqs):
    return [r for r in reqs if r['method'] == 'POST'
            and re.search(r'/oauth2/v2\.0/token$', r['path'])]


class TokenTest(h.TreeCase):
    def test_token_expiry(self):
        with h.Emulator('--samples', h.SAMPLES,
                        '--token-lifetime', '2') as emu:
            exp = emu.expected()
            scopes = [s for s in exp.user_scopes_by_size() if s.containers]
            with h.Mount(emu) as m:
                self.assert_container_names(m, scopes[0])
                time.sleep(3)
                emu.clear_requests()
                self.assert_scope(m, scopes[1])
                reqs = emu.requests()
                self.assertTrue(token_posts(reqs), 'no new token asked for')
                mine = h.scope_requests(reqs, scopes[1])
                self.assertTrue(mine)
                self.assertEqual(mine[-1]['status'], 200)
                # at most one refused request before a fresh token
                self.assertLessEqual(
                    sum(1 for r in mine if r['status'] == 401), 1)


class RefusedTokenTest(h.TreeCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = h.sample_emulator()

    def setUp(self):
        self.emu.clear_faults()
        self.addCleanup(self.emu.clear_faults)
        self.exp = self.emu.expected()
        self.scope = [s for s in self.exp.user_scopes_by_size()
                      if s.containers][0]

    def test_one_401_gets_a_new_token(self):
        emu = self.emu
        emu.fault(h.fault_match_for(self.scope), 401,
                  'InvalidAuthenticationToken', UNAUTH_MSG, count=1)
        with h.Mount(emu) as m:
            emu.clear_requests()
            self.assert_scope(m, self.scope)
            reqs = emu.requests()
            mine = h.scope_requests(reqs, self.scope)
            self.assertEqual([r['status'] for r in mine[:2]], [401, 200])
            self.assertEqual(mine[0]['path'], mine[1]['path'])
            posts = token_posts(reqs)
            self.assertEqual(len(posts), 1, posts)
            self.assertTrue(mine[0]['time'] <= posts[0]['time']
                            <= mine[1]['time'])
            self.assertEqual(m.level_lines('error'), [])

    def test_401_forever_fails_without_looping(self):
        emu = self.emu
        emu.fault(h.fault_match_for(self.scope), 401,
                  'InvalidAuthenticationToken', UNAUTH_MSG)
        line = r'^teamsfs: error: .*InvalidAuthenticationToken'
        with h.Mount(emu, expect=[line], require=[line]) as m:
            emu.clear_requests()
            t0 = time.monotonic()
            with self.assertRaises(OSError) as cm:
                os.listdir(m.path(self.scope.relpath))
            self.assertEqual(cm.exception.errno, errno.EIO)
            self.assertLess(time.monotonic() - t0, 10)
            mine = h.scope_requests(emu.requests(), self.scope)
            self.assertIn(len(mine), (1, 2), mine)
            self.assertEqual(len(m.level_lines('error')), 1)


if __name__ == '__main__':
    import unittest
    unittest.main()
