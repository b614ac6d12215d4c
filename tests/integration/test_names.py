"""Ids that need escaping: '/', '%', 300 characters."""

import os

import harness as h

EMU = None


class EscapingRuleTest(h.TreeCase):
    """The harness's own rule, against hand-made cases from the spec."""

    def test_rule(self):
        self.assertEqual(h.msg_name('a/b%c'), 'a%2Fb%25c.json')
        self.assertEqual(h.fs_name('a\0b'), 'a%00b')
        self.assertEqual(h.fs_name('.'), '%2E')
        self.assertEqual(h.fs_name('..'), '%2E%2E')
        self.assertEqual(h.fs_name(''), '%')
        self.assertEqual(h.msg_name(''), '%.json')
        self.assertEqual(h.msg_name('.'), '%2E.json')
        self.assertEqual(h.fs_name('19:x@thread.v2'), '19:x@thread.v2')
        self.assertEqual(h.fs_name('Ελληνικά 😀'), 'Ελληνικά 😀')

    def test_long_names(self):
        tag = lambda i: '~%016x.json' % h.H(h.id_bytes(i))
        a = 'a' * 300
        self.assertEqual(h.msg_name(a), 'a' * 233 + tag(a))
        self.assertEqual(h.msg_name('a' * 250), 'a' * 250 + '.json')
        self.assertEqual(h.msg_name('a' * 251), 'a' * 233 + tag('a' * 251))
        # an escape is not split
        b = 'a' * 231 + '/' + 'b' * 100
        self.assertEqual(h.msg_name(b), 'a' * 231 + tag(b))
        c = 'a' * 230 + '/' + 'b' * 100
        self.assertEqual(h.msg_name(c), 'a' * 230 + '%2F' + tag(c))
        # a UTF-8 character is not split (é is 2 bytes, 😀 is 4)
        d = 'a' * 232 + 'é' * 50
        self.assertEqual(h.msg_name(d), 'a' * 232 + tag(d))
        e = 'a' * 230 + '😀' * 50
        self.assertEqual(h.msg_name(e), 'a' * 230 + tag(e))
        self.assertEqual(h.fs_name('x' * 300), 'x' * 238 + '~%016x'
                         % h.H(b'x' * 300))
        for n in (a, b, c, d, e):
            self.assertLessEqual(len(os.fsencode(h.msg_name(n))), 255)
        self.assertNotEqual(h.H(b'a'), h.H(b'b'))
        self.assertEqual(h.H(b'') >> 64, 0)


class NamesTest(h.TreeCase):
    @classmethod
    def setUpClass(cls):
        global EMU
        EMU = h.sample_emulator()

    def setUp(self):
        EMU.clear_faults()
        self.exp = EMU.expected()

    def odd(self):
        found = {'slash': [], 'percent': [], 'long': []}
        for scope in self.exp.all_scopes():
            for c in scope.containers.values():
                for name, msg in c.named.items():
                    i = msg['id']
                    item = (scope, c, name, msg)
                    if '/' in i:
                        found['slash'].append(item)
                    if '%' in i:
                        found['percent'].append(item)
                    if len(i) >= 300:
                        found['long'].append(item)
        for k, v in found.items():
            self.assertTrue(v, 'the tenant has no message id with ' + k)
        return found

    def test_odd_ids_on_the_mount(self):
        found = self.odd()
        with h.Mount(EMU) as m:
            for kind, items in found.items():
                for scope, c, name, msg in items:
                    with self.subTest(kind=kind, id=msg['id']):
                        cdir = m.path(scope.relpath, c.name)
                        names = os.listdir(cdir)
                        self.assertIn(name, names)
                        self.assertLessEqual(len(os.fsencode(name)), 255)
                        for n in names:
                            self.assertLessEqual(len(os.fsencode(n)), 255)
                        self.assertNotIn(msg['id'].split('/')[0] + '/', name)
                        if kind == 'long':
                            self.assertRegex(
                                name, r'~%016x\.json$'
                                % h.H(h.id_bytes(msg['id'])))
                        else:
                            self.assertEqual(
                                name, msg['id'].replace('%', '%25')
                                .replace('/', '%2F') + '.json')
                        self.assert_file(os.path.join(cdir, name), msg)


if __name__ == '__main__':
    import unittest
    unittest.main()
