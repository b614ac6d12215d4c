"""Throttling and transient errors (issue 4): 429 and 503 wait as
Retry-After says (seconds or an HTTP date), other 5xx, resets, cut and
garbled pages are retried; tokens are renewed before they expire and after
a 401; max_rps and max_conns hold. Every crawl ends whole, with no error
or warning line."""

import os
import threading

import freshness as f
import harness as h

EMU = None
EMU_ARGS = ('--scale', '0.2')
TOP = 20


def setUpModule():
    global EMU
    EMU = f.live_emulator(*EMU_ARGS)


def tearDownModule():
    EMU.stop()


class FaultCase(f.FreshCase):
    def setUp(self):
        EMU.clear_faults()
        EMU.config(latency_ms=0, token_lifetime=3600)
        EMU.clear_requests()
        self.exp = EMU.expected()
        self.uid = self.exp.users[0]
        self.scope = self.exp.user_scope(self.uid)

    def tearDown(self):
        EMU.clear_faults()
        EMU.config(latency_ms=0, token_lifetime=3600)

    def later_pages(self, scope=None):
        return h.fault_match_for(scope or self.scope, later_pages_only=True)

    def crawl(self, options=(), scopes=None):
        """Mount, read the scope(s) whole, compare with the emulator's data;
        -> the requests log. The Mount fails on any error/warning line."""
        scopes = scopes or [self.scope]
        with h.Mount(EMU, ['top=%d' % TOP] + list(options)) as m:
            for s in scopes:
                self.assert_current(m, s)
            reqs = EMU.requests()
            self.assertEqual(m.level_lines('error'), [])
            self.assertEqual(m.level_lines('warning'), [])
        return reqs

    def faulted_path(self, reqs, statuses, then=200):
        """The scope's requests show one path answered with statuses, then
        `then`; -> those requests."""
        mine = h.scope_requests(reqs, self.scope)
        bad = [r for r in mine if r['status'] != 200]
        self.assertTrue(bad, 'no fault was hit')
        path = bad[0]['path']
        same = [r for r in mine if r['path'] == path]
        self.assertEqual([r['status'] for r in same],
                         list(statuses) + [then], path)
        ok = [r['path'] for r in mine if r['status'] == 200]
        self.assertEqual(len(ok), len(set(ok)), 'a page was stored twice')
        return same


class RetryAfterTest(FaultCase):
    def test_429_retry_after_seconds(self):
        EMU.add_fault(match=self.later_pages(), status=429, count=2,
                      retry_after=1)
        reqs = self.crawl()
        same = self.faulted_path(reqs, [429, 429])
        for a, b in zip(same, same[1:]):
            self.assertGreaterEqual(b['time'] - a['time'], 0.95,
                                    'Retry-After: 1 not honoured')
            self.assertLess(b['time'] - a['time'], 5)

    def test_429_retry_after_http_date(self):
        EMU.add_fault(match=self.later_pages(), status=429, count=1,
                      retry_after=2, retry_after_date=True)
        reqs = self.crawl()
        a, b = self.faulted_path(reqs, [429])
        # the date is at least 2 s ahead (rounded up to a second)
        self.assertGreaterEqual(b['time'] - a['time'], 1.9,
                                'Retry-After as an HTTP date not honoured')
        self.assertLess(b['time'] - a['time'], 6)

    def test_503_with_and_without_retry_after(self):
        EMU.add_fault(match=self.later_pages(), status=503, count=1,
                      retry_after=1)
        EMU.add_fault(match=self.later_pages(), status=503, count=1)
        reqs = self.crawl()
        a, b, c = self.faulted_path(reqs, [503, 503])
        self.assertGreaterEqual(b['time'] - a['time'], 0.95)


class TransientTest(FaultCase):
    def test_other_5xx_back_off(self):
        EMU.add_fault(match=self.later_pages(), status=500, count=1)
        EMU.add_fault(match=self.later_pages(), status=502, count=1)
        EMU.add_fault(match=self.later_pages(), status=504, count=1)
        reqs = self.crawl(['retries=4'])
        same = self.faulted_path(reqs, [500, 502, 504])
        gaps = [b['time'] - a['time'] for a, b in zip(same, same[1:])]
        # exponential backoff with jitter: not at once, not for long
        self.assertTrue(all(0.05 <= g < 10 for g in gaps), gaps)

    def test_connection_resets_and_drops(self):
        EMU.add_fault(match=self.later_pages(), reset=True, count=2)
        EMU.add_fault(match=self.later_pages(), drop=True, count=1)
        reqs = self.crawl()
        self.faulted_path(reqs, [0, 0, 0])

    def test_truncated_bodies(self):
        EMU.add_fault(match=self.later_pages(), truncate=200, count=2)
        reqs = self.crawl()
        mine = h.scope_requests(reqs, self.scope)
        paths = [r['path'] for r in mine]
        later = [p for p in paths if h.has_skiptoken(p)]
        # the cut page was asked for three times (two cut answers); the
        # emulator logs a cut answer with its status, 200
        self.assertEqual(later.count(later[0]), 3, later[:4])
        self.assertEqual(len(paths) - len(set(paths)), 2)

    def test_malformed_json_bodies(self):
        EMU.add_fault(match=self.later_pages(), malformed=True, count=2)
        reqs = self.crawl()
        paths = [r['path'] for r in h.scope_requests(reqs, self.scope)]
        later = [p for p in paths if h.has_skiptoken(p)]
        self.assertEqual(later.count(later[0]), 3, later[:4])
        self.assertEqual(len(paths) - len(set(paths)), 2)

    def test_faults_on_first_page_and_lists(self):
        EMU.add_fault(match=h.fault_match_for(self.scope), status=503,
                      count=1)
        EMU.add_fault(match=r'^/v1\.0/users\?', reset=True, count=1)
        EMU.add_fault(match=r'^/v1\.0/teams', status=429, count=1,
                      retry_after=1)
        team = self.exp.team_scope(self.exp.teams[0])
        reqs = self.crawl(scopes=[self.scope, team])
        lists = [r for r in reqs if r['path'].startswith('/v1.0/users?')]
        self.assertEqual([r['status'] for r in lists], [0, 200])


class TokenTest(FaultCase):
    def graph_requests(self, reqs):
        return [r for r in reqs if r['path'].startswith('/v1.0/')]

    def test_short_token_lifetime(self):
        lifetime = 2
        EMU.config(token_lifetime=lifetime, latency_ms=80)
        reqs = self.crawl(['top=5'])
        graph = self.graph_requests(reqs)
        span = graph[-1]['time'] - graph[0]['time']
        self.assertGreater(span, 2 * lifetime,
                           'the crawl did not outlive two tokens')
        tokens = [r for r in reqs if f.is_token_request(r)]
        self.assertTrue(all(r['status'] == 200 for r in tokens), tokens)
        self.assertTrue(all(r['authorization'] for r in graph))
        refused = [r for r in graph if r['status'] == 401]
        # renewed before expiry: most renewals come without a 401 first
        # (a token sent in its last instant may still be refused once the
        # emulator's latency has passed; then it is renewed after the 401)
        self.assertGreaterEqual(len(tokens) - 1 - len(refused),
                                int(span / lifetime) - 1,
                                'renewals %d, 401s %d over %.1fs'
                                % (len(tokens) - 1, len(refused), span))
        self.assertLessEqual(len(refused), len(tokens) // 2,
                             'most renewals waited for a 401')
        for r in refused:
            i = reqs.index(r)
            later = [q for q in reqs[i + 1:] if q['path'] == r['path']]
            self.assertTrue(later and later[0]['status'] == 200, r)

    def test_401_renews_once_and_goes_on(self):
        EMU.config(latency_ms=100)
        stop = threading.Event()

        def expire_mid_crawl():
            try:
                f.wait_requests(
                    EMU, lambda rs: sum(1 for r in h.scope_requests(
                        rs, self.scope) if r['status'] == 200) >= 3,
                    30, 'three pages')
                EMU.expire_tokens()
            finally:
                stop.set()

        t = threading.Thread(target=expire_mid_crawl, daemon=True)
        t.start()
        reqs = self.crawl(['top=10'])
        t.join(30)
        self.assertTrue(stop.is_set())
        graph = self.graph_requests(reqs)
        refused = [r for r in graph if r['status'] == 401]
        self.assertGreaterEqual(len(refused), 1,
                                'the tokens were not expired mid-crawl')
        i = graph.index(refused[0])
        self.assertEqual(graph[i + 1]['path'], refused[0]['path'])
        self.assertEqual(graph[i + 1]['status'], 200)
        tokens = [r for r in reqs if f.is_token_request(r)]
        self.assertGreaterEqual(len(tokens), 2)


class BudgetTest(FaultCase):
    def test_max_rps(self):
        rps = 8
        scope = self.exp.user_scope(self.exp.users[2])
        reqs = self.crawl(['max_rps=%d' % rps, 'top=10'], scopes=[scope])
        times = [r['time'] for r in reqs if r['path'].startswith('/v1.0/')]
        self.assertGreater(len(times), 2 * rps, 'too few requests to tell')
        # slack: a slot boundary inside the window, and arrival jitter
        self.assertLessEqual(f.max_per_window(times, 1.0), rps + 1, times)
        span = max(times) - min(times)
        self.assertGreaterEqual(span, (len(times) - 1) / rps * 0.9)

    def test_max_conns_1_serialises_two_crawls(self):
        EMU.config(latency_ms=200)
        scopes = [self.exp.user_scope(u) for u in self.exp.users[4:6]]
        with h.Mount(EMU, ['top=30', 'max_conns=1', 'max_rps=100']) as m:
            errs = []

            def ls(s):
                try:
                    os.listdir(m.path(s.relpath))
                except OSError as e:
                    errs.append(e)
            ths = [threading.Thread(target=ls, args=(s,)) for s in scopes]
            for t in ths:
                t.start()
            for t in ths:
                t.join(60)
            self.assertEqual(errs, [])
            for s in scopes:
                self.assert_current(m, s)
            reqs = EMU.requests()
        graph = sorted(r['time'] for r in reqs
                       if r['path'].startswith('/v1.0/'))
        both = [s for s in scopes if h.scope_requests(reqs, s)]
        self.assertEqual(len(both), 2)
        gaps = [b - a for a, b in zip(graph, graph[1:])]
        # each answer takes 200 ms: with one connection, no two requests
        # are ever open at once
        self.assertGreaterEqual(min(gaps), 0.18, gaps)


if __name__ == '__main__':
    import unittest
    unittest.main()
