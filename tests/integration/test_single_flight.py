"""Concurrent listings of one uncrawled scope make one crawl, and do not
block the listing of another scope meanwhile."""

import os
import subprocess
import threading
import time

import harness as h

EMU = None
STALL = 2          # seconds of Retry-After that hold the crawl open


def setUpModule():
    global EMU
    EMU = h.sample_emulator()


class SingleFlightTest(h.TreeCase):
    def setUp(self):
        EMU.clear_faults()
        self.exp = EMU.expected()

    def tearDown(self):
        EMU.clear_faults()

    def other_scope(self, scope):
        others = [s for s in self.exp.all_scopes()
                  if s is not scope and s.containers]
        return others[0]

    def run_concurrently(self, start_listers, n):
        """start_listers(path) starts n listers and returns (running, join):
        running() is true while all of them still run, join() gives
        [(sorted names, end time)]."""
        scope = self.exp.biggest_user()
        other = self.other_scope(scope)
        EMU.clear_requests()
        with h.Mount(EMU, ['retries=3']) as m:
            # hold the crawl after its first page for STALL seconds
            EMU.fault(h.fault_match_for(scope, later_pages_only=True), 429,
                      'TooManyRequests', 'Too many requests', count=1,
                      retry_after=STALL)
            t_start = time.monotonic()
            running, join = start_listers(m.path(scope.relpath))
            deadline = time.monotonic() + 10
            while not any(r['status'] == 429 for r in
                          h.scope_requests(EMU.requests(), scope)):
                self.assertLess(time.monotonic(), deadline,
                                'the crawl never reached its second page')
                time.sleep(0.02)
            t0 = time.monotonic()
            names = os.listdir(m.path(other.relpath))
            t_other = time.monotonic()
            self.assertTrue(running(),
                            'the other scope waited for the big crawl')
            self.assertEqual(sorted(names), sorted(other.containers))
            results = join()
            self.assertEqual(len(results), n)
            for names, _ in results:
                self.assertEqual(names, sorted(scope.containers))
            ends = [t for _, t in results]
            self.assertLess(t_other - t0, STALL * 0.75)
            self.assertGreaterEqual(min(ends) - t_start, STALL * 0.9,
                                    'the stall did not hold the crawl')
            reqs = EMU.requests()
            self.assert_one_pass(EMU, reqs, scope)
            self.assertTrue(h.scope_requests(reqs, other))
            self.assert_scope_files_count(m, scope)

    def test_eight_threads(self):
        def start(path):
            barrier = threading.Barrier(8)
            results = [None] * 8
            errors = []

            def work(i):
                try:
                    barrier.wait()
                    names = sorted(os.listdir(path))
                    results[i] = (names, time.monotonic())
                except Exception as e:   # reported by join
                    errors.append(e)

            threads = [threading.Thread(target=work, args=(i,))
                       for i in range(8)]
            for t in threads:
                t.start()

            def join():
                for t in threads:
                    t.join(60)
                self.assertEqual(errors, [])
                return results
            return (lambda: all(t.is_alive() for t in threads)), join
        self.run_concurrently(start, 8)

    def test_two_processes(self):
        def start(path):
            procs = [subprocess.Popen(['ls', '-1', '--', path],
                                      stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE,
                                      env=h.child_env())
                     for _ in range(2)]

            def join():
                out = []
                for p in procs:
                    so, se = p.communicate(timeout=60)
                    end = time.monotonic()
                    self.assertEqual(p.returncode, 0, se)
                    out.append((sorted(os.fsdecode(l)
                                       for l in so.splitlines()), end))
                return out
            return (lambda: all(p.poll() is None for p in procs)), join
        self.run_concurrently(start, 2)


if __name__ == '__main__':
    import unittest
    unittest.main()
