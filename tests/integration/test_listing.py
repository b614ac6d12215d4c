"""Listing /users, /teams and the scopes, and what listing costs."""

import os
import re
import subprocess

import harness as h

EMU = None


def setUpModule():
    global EMU
    EMU = h.sample_emulator()


class ListingTest(h.TreeCase):
    def setUp(self):
        EMU.clear_faults()
        self.exp = EMU.expected()

    def test_users_and_teams_without_crawling(self):
        exp = self.exp
        self.assertGreaterEqual(len(exp.users), 6)
        self.assertGreaterEqual(len(exp.teams), 3)
        EMU.clear_requests()
        with h.Mount(EMU) as m:
            self.assertEqual(sorted(os.listdir(m.mnt)), h.ROOT_NAMES)
            self.assert_dir_mode(m.mnt)
            self.assertEqual(sorted(os.listdir(m.path('users'))),
                             sorted(h.fs_name(u) for u in exp.users))
            self.assertEqual(sorted(os.listdir(m.path('teams'))),
                             sorted(h.fs_name(t) for t in exp.teams))
            for top in ('users', 'teams'):
                r = subprocess.run(['ls', '-la', m.path(top)],
                                   capture_output=True, text=True,
                                   env=h.child_env())
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, '')
            for u in exp.users:
                self.assert_dir_mode(m.path('users', h.fs_name(u)))
            for t in exp.teams:
                self.assert_dir_mode(m.path('teams', h.fs_name(t)))
            reqs = EMU.requests()
            crawls = [r['path'] for r in reqs if h.is_getall(r)]
            self.assertEqual(crawls, [], 'listing /users or /teams crawled')
            for u in exp.users:
                self.assertEqual(os.listdir(m.path('users', h.fs_name(u))),
                                 ['chats'])
            for t in exp.teams:
                self.assertEqual(os.listdir(m.path('teams', h.fs_name(t))),
                                 ['channels'])
            for p in ('nobody', 'users/nobody', 'teams/nobody'):
                with self.assertRaises(FileNotFoundError):
                    os.stat(m.path(p))

    def test_containers_of_every_scope(self):
        with h.Mount(EMU) as m:
            for scope in self.exp.all_scopes():
                with self.subTest(scope=scope.relpath):
                    self.assert_container_names(m, scope)
                    cname = sorted(scope.containers or ['x'])[0]
                    with self.assertRaises(FileNotFoundError):
                        os.stat(m.path(scope.relpath, cname, 'nope.json'))

    def test_user_without_messages_has_empty_chats(self):
        empty = self.exp.empty_users()
        self.assertTrue(empty, 'the sample tenant has no user without chats')
        with h.Mount(EMU) as m:
            EMU.clear_requests()
            for u in empty:
                scope = self.exp.user_scope(u)
                self.assertEqual(os.listdir(m.path(scope.relpath)), [])
                self.assert_dir_mode(m.path(scope.relpath))
                # the crawl did happen, and found nothing
                self.assertTrue(h.scope_requests(EMU.requests(), scope))

    def test_users_and_teams_options(self):
        users = self.exp.users[1:3]
        teams = self.exp.teams[:1]
        EMU.clear_requests()
        with h.Mount(EMU, ['users=' + ':'.join(users),
                           'teams=' + ':'.join(teams)]) as m:
            self.assertEqual(sorted(os.listdir(m.path('users'))),
                             sorted(h.fs_name(u) for u in users))
            self.assertEqual(sorted(os.listdir(m.path('teams'))),
                             sorted(h.fs_name(t) for t in teams))
            self.assert_container_names(m, self.exp.user_scope(users[0]))
            listed = [r['path'] for r in EMU.requests()
                      if re.match(r'^/v1\.0/(users|teams)/?(\?|$)',
                                  r['path'])]
            self.assertEqual(listed, [], 'GET /users or /teams with users=')
            with self.assertRaises(FileNotFoundError):
                os.stat(m.path('users', h.fs_name(self.exp.users[0])))


if __name__ == '__main__':
    import unittest
    unittest.main()
