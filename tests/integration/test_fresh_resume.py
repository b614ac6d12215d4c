"""Crash-safe crawls (issue 4): a teamsfs killed with SIGKILL in the middle
of a multi-page crawl resumes from the stored next link on the next mount;
an expired stored link makes it crawl the scope again from its start; a
next link that repeats an earlier one ends the walk with a warning."""

import os
import subprocess
import time

import freshness as f
import harness as h

EMU_ARGS = ('--scale', '0.2')
TOP = 5
LATENCY_MS = 150
KILL_AFTER = 5            # pages stored before the kill, at least
REPEAT_WARNING = r'^teamsfs: warning: .*repeated an earlier next link'
EXPIRED_ERROR = (r'^teamsfs: error: .*HTTP 400.*BadRequest.*'
                 r'skip token has expired')


class ResumeCase(f.FreshCase):
    def setUp(self):
        self.emu = f.live_emulator(*EMU_ARGS)
        self.addCleanup(self.emu.stop)
        self.exp = self.emu.expected()
        self.uid = self.exp.users[0]
        self.scope = self.exp.user_scope(self.uid)
        self.cache = f.cache_dir(self)

    def ok_pages(self, reqs):
        return [r for r in h.scope_requests(reqs, self.scope)
                if r['status'] == 200]

    def crawl_and_kill(self):
        """Mount, start a slow crawl of the scope with `ls`, SIGKILL
        teamsfs after KILL_AFTER pages; -> (one pass as [path], the
        requests of this first run)."""
        self.emu.config(latency_ms=LATENCY_MS)
        m = h.Mount(self.emu, ['top=%d' % TOP], cache_dir=self.cache)
        m.start()
        ls = subprocess.Popen(f.ls_argv(m.path(self.scope.relpath)),
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=h.child_env())
        try:
            f.wait_requests(self.emu,
                            lambda rs: len(self.ok_pages(rs)) >= KILL_AFTER,
                            30, 'the crawl reached page %d' % KILL_AFTER)
            f.kill9(m)
            ls.wait(10)
        finally:
            f.stop_proc(ls)
            m.cleanup()
        # the request in flight at the kill is logged once answered
        time.sleep(LATENCY_MS / 1000.0 * 2)
        self.emu.config(latency_ms=0)
        run1 = self.emu.requests()
        firsts = f.first_page_requests(h.scope_requests(run1, self.scope))
        self.assertEqual(len(firsts), 1, firsts)
        pass_paths = f.reference_pass(EMU_ARGS, firsts[0]['path'])
        self.assertGreater(len(pass_paths), 3 * KILL_AFTER,
                           'the scope is not a long multi-page crawl')
        got = [r['path'] for r in self.ok_pages(run1)]
        self.assertEqual(got, pass_paths[:len(got)])
        self.assertLess(len(got), len(pass_paths) - KILL_AFTER,
                        'the crawl was nearly done before the kill')
        return pass_paths, run1


class SigkillResumeTest(ResumeCase):
    def test_sigkill_mid_crawl_then_resume(self):
        pass_paths, run1 = self.crawl_and_kill()
        stored = len(self.ok_pages(run1))
        t_remount = time.time()
        with h.Mount(self.emu, ['top=%d' % TOP], cache_dir=self.cache) as m:
            self.assert_current(m, self.scope)
            run2 = [r for r in h.scope_requests(self.emu.requests(),
                                                 self.scope)
                    if r['time'] >= t_remount]
            self.assertTrue(run2)
            self.assertEqual(f.first_page_requests(run2), [],
                             'the remount crawled from page 1 again')
            first = run2[0]['path']
            self.assertIn(first, pass_paths)
            j = pass_paths.index(first)
            # the stored link is the next link of the last stored page: at
            # most the page in flight (and one answered but not yet stored)
            # is fetched again
            self.assertTrue(stored - 2 <= j <= stored,
                            'resumed at page %d, %d pages were fetched '
                            'before the kill' % (j, stored))
            self.assertEqual([r['path'] for r in run2],
                             pass_paths[j:],
                             'the resumed walk is not the rest of the pass')
            self.assertTrue(all(r['status'] == 200 for r in run2), run2)
        # once more, with the emulator's data as it is now
        with h.Mount(self.emu, ['offline'], cache_dir=self.cache) as m:
            self.assert_scopes_current(m, self.emu, [('chats', self.uid)])


class ExpiredResumeLinkTest(ResumeCase):
    TTL = 1

    def test_expired_resume_link_crawls_scope_again(self):
        self.emu.config(skiptoken_ttl=self.TTL)
        pass_paths, run1 = self.crawl_and_kill()
        # let every link handed out so far expire
        time.sleep(self.TTL + 0.5)
        t_remount = time.time()
        with h.Mount(self.emu, ['top=%d' % TOP], cache_dir=self.cache,
                     expect=[EXPIRED_ERROR]) as m:
            self.assert_current(m, self.scope)
            run2 = [r for r in h.scope_requests(self.emu.requests(),
                                                 self.scope)
                    if r['time'] >= t_remount]
            self.assertTrue(run2)
            self.assertTrue(h.has_skiptoken(run2[0]['path']),
                            'the remount did not try the stored link')
            self.assertEqual(run2[0]['status'], 400, run2[0])
            rest = run2[1:]
            self.assertEqual([r['path'] for r in rest], pass_paths,
                             'after the refused link, not one whole pass '
                             'from page 1')
            self.assertTrue(all(r['status'] == 200 for r in rest), rest)
            errors = m.level_lines('error')
            self.assertLessEqual(len(errors), 1, errors)
        with h.Mount(self.emu, ['offline'], cache_dir=self.cache) as m:
            self.assert_scopes_current(m, self.emu, [('chats', self.uid)])


class RepeatingSkiptokenTest(f.FreshCase):
    REPEAT = 4

    def test_repeating_next_link_ends_walk_with_warning(self):
        emu = f.live_emulator(*EMU_ARGS)
        self.addCleanup(emu.stop)
        exp = emu.expected()
        scope = [s for s in exp.user_scopes_by_size()
                 if s.file_count() > 8 * TOP][0]
        emu.config(repeat_skiptoken=self.REPEAT)
        with h.Mount(emu, ['top=%d' % TOP], expect=[REPEAT_WARNING],
                     require=[REPEAT_WARNING]) as m:
            t0 = time.monotonic()
            r = subprocess.run(f.ls_argv(m.path(scope.relpath)),
                               capture_output=True, timeout=30,
                               env=h.child_env())
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertLess(time.monotonic() - t0, 15)
            reqs = h.scope_requests(emu.requests(), scope)
            firsts = f.first_page_requests(reqs)
            self.assertEqual(len(firsts), 1, firsts)
            pages = emu.walk_until_repeat(firsts[0]['path'])
            self.assertEqual(len(pages), self.REPEAT,
                             'the emulator did not repeat its next link')
            self.assertEqual([q['path'] for q in reqs],
                             [p for p, _ in pages],
                             'teamsfs did not fetch each reachable page '
                             'exactly once')
            warnings = m.level_lines('warning')
            self.assertEqual(len(warnings), 1, warnings)
            # the tree is what those pages served (nothing else can be
            # reached), each message once
            values = [x for _, pg in pages for x in pg.get('value') or []]
            reached = h.Scope(scope.kind, scope.owner, values)
            self.assertLess(reached.file_count(), scope.file_count())
            self.assert_current(m, reached)
            # the walk is over: listing again asks Graph nothing
            n = len(emu.requests())
            os.listdir(m.path(scope.relpath))
            self.assertEqual(len(emu.requests()), n)


if __name__ == '__main__':
    import unittest
    unittest.main()
