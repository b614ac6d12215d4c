"""A scope of 1,000+ messages over many quirky pages arrives whole."""

import os

import harness as h

EMU = None


def setUpModule():
    global EMU
    EMU = h.sample_emulator()


class PagingTest(h.TreeCase):
    def setUp(self):
        EMU.clear_faults()
        self.exp = EMU.expected()

    def crawl_big(self, options=(), top=None):
        scope = self.exp.biggest_user()
        self.assertGreaterEqual(scope.file_count(), 1000)
        EMU.clear_requests()
        with h.Mount(EMU, list(options)) as m:
            names = os.listdir(m.path(scope.relpath))
            reqs = EMU.requests()
            pages, seen = self.assert_one_pass(EMU, reqs, scope, top=top)
            self.assertEqual(sorted(names), sorted(seen.containers))
            self.assert_scope(m, seen)
            self.assert_scope_files_count(m, seen)
        # what teamsfs saw is the tenant's scope (same files, same winners)
        self.assertEqual(seen.files(), scope.files())
        self.assertEqual(seen.file_count(), scope.file_count())
        # the pages really had the quirks this test is about
        counts = [len(pg.get('value') or []) for _, pg in pages]
        self.assertGreater(len(pages), 10)
        self.assertIn(0, counts[:-1], 'no empty page with a next link')
        limit = top or max(counts)
        self.assertTrue(any(0 < c < limit for c in counts[:-1]),
                        'no short page')
        keys = [(x.get('chatId'), x.get('id'))
                for _, pg in pages for x in pg.get('value') or []]
        self.assertGreater(len(keys), len(set(keys)), 'no repeated message')
        for _, pg in pages:
            self.assertEqual(pg.get('@odata.count'),
                             len(pg.get('value') or []))
        return pages

    def test_default_top(self):
        self.crawl_big()

    def test_top_7(self):
        pages = self.crawl_big(['top=7'], top=7)
        self.assertTrue(all(len(pg['value']) <= 7 for _, pg in pages))
        self.assertTrue(all('top=7' in p for p, _ in pages))

    def test_model_option(self):
        scope = [s for s in self.exp.user_scopes_by_size()
                 if s.containers][0]
        EMU.clear_requests()
        with h.Mount(EMU, ['model=B']) as m:
            self.assert_scope(m, scope)
            reqs = h.scope_requests(EMU.requests(), scope)
        self.assertTrue(reqs)
        for r in reqs:
            self.assertRegex(r['path'], r'[?&]model=B(&|$)')


if __name__ == '__main__':
    import unittest
    unittest.main()
