"""Graph errors, retries, bad credentials and foreign next links."""

import errno
import os
import re
import types

import harness as h

EMU = None
FORBIDDEN_MSG = ('Missing role permissions on the request. API requires one '
                 'of Chat.Read.All.')


def setUpModule():
    global EMU
    EMU = h.sample_emulator()


class ErrorTest(h.TreeCase):
    def setUp(self):
        EMU.clear_faults()
        self.exp = EMU.expected()

    def tearDown(self):
        EMU.clear_faults()

    def small_user(self):
        return [s for s in self.exp.user_scopes_by_size() if s.containers][0]

    def test_403_gives_eacces_and_one_error_line(self):
        scope = self.small_user()
        EMU.fault(h.fault_match_for(scope), 403, 'Forbidden', FORBIDDEN_MSG)
        line = r'^teamsfs: error: .*Forbidden.*' + re.escape(FORBIDDEN_MSG)
        with h.Mount(EMU, expect=[line], require=[line]) as m:
            with self.assertRaises(PermissionError):
                os.listdir(m.path(scope.relpath))
            errors = m.level_lines('error')
            self.assertEqual(len(errors), 1, errors)
            # other scopes are not affected
            other = self.exp.team_scope(self.exp.teams[0])
            self.assert_container_names(m, other)

    def test_404_team_gives_eio(self):
        scope = self.exp.team_scope(self.exp.teams[1])
        msg = 'No team found with Group Id %s' % scope.owner
        EMU.fault(h.fault_match_for(scope), 404, 'NotFound', msg)
        line = r'^teamsfs: error: .*NotFound.*' + re.escape(msg)
        with h.Mount(EMU, expect=[line], require=[line]) as m:
            with self.assertRaises(OSError) as cm:
                os.listdir(m.path(scope.relpath))
            self.assertEqual(cm.exception.errno, errno.EIO)
            self.assertEqual(len(m.level_lines('error')), 1,
                             m.level_lines('error'))

    def test_500_once_is_retried(self):
        scope = self.small_user()
        EMU.fault(h.fault_match_for(scope), 500, 'InternalServerError',
                  'transient', count=1)
        EMU.clear_requests()
        with h.Mount(EMU) as m:
            self.assert_scope(m, scope)
            reqs = h.scope_requests(EMU.requests(), scope)
            self.assertEqual([r['status'] for r in reqs][:2], [500, 200])
            self.assertEqual(reqs[0]['path'], reqs[1]['path'])
            self.assertEqual(m.level_lines('error'), [])

    def test_500_with_retries_0_fails(self):
        scope = self.small_user()
        EMU.fault(h.fault_match_for(scope), 500, 'InternalServerError',
                  'transient', count=1)
        line = r'^teamsfs: error: .*InternalServerError.*transient'
        EMU.clear_requests()
        with h.Mount(EMU, ['retries=0'], expect=[line], require=[line]) as m:
            with self.assertRaises(OSError) as cm:
                os.listdir(m.path(scope.relpath))
            self.assertEqual(cm.exception.errno, errno.EIO)
            reqs = h.scope_requests(EMU.requests(), scope)
            self.assertEqual([r['status'] for r in reqs], [500])
            # the fault is spent: the next listing crawls again and works
            self.assert_container_names(m, scope)

    def test_failed_crawl_is_not_complete(self):
        scope = self.exp.biggest_user()
        EMU.fault(h.fault_match_for(scope, later_pages_only=True), 403,
                  'Forbidden', FORBIDDEN_MSG)
        line = r'^teamsfs: error: .*Forbidden'
        EMU.clear_requests()
        with h.Mount(EMU, expect=[line], require=[line]) as m:
            for _ in range(2):
                with self.assertRaises(PermissionError):
                    os.listdir(m.path(scope.relpath))
            statuses = [r['status'] for r in
                        h.scope_requests(EMU.requests(), scope)]
            self.assertIn(200, statuses)      # a first page did arrive
            self.assertIn(403, statuses)
            EMU.clear_faults()
            self.assert_scope(m, scope, contents=False)
            self.assert_scope_files_count(m, scope)

    def test_wrong_secret(self):
        m = h.Mount(EMU, secret='not-the-secret')
        try:
            rc, secs = m.run_to_exit(15)
            self.assertNotEqual(rc, 0)
            self.assertLess(secs, 10)
            self.assertFalse(h.proc_mounted(m.mnt))
            errors = m.level_lines('error')
            self.assertEqual(len(errors), 1, m.log_text())
            self.assertRegex(errors[0],
                             r'(?i)invalid_client|7000215|secret')
            self.assertNotIn('not-the-secret', m.log_text())
            self.assertEqual(m.level_lines('warning'), [])
        finally:
            m.cleanup()

    def test_unknown_tenant(self):
        tenant = '00000000-0000-0000-0000-000000000000'
        emu = types.SimpleNamespace(
            tenant_id=tenant, client_id=EMU.client_id, secret=EMU.secret,
            graph_url=EMU.graph_url,
            token_url='%s/%s/oauth2/v2.0/token' % (EMU.url, tenant))
        m = h.Mount(emu)
        try:
            rc, secs = m.run_to_exit(15)
            self.assertNotEqual(rc, 0)
            self.assertLess(secs, 10)
            self.assertFalse(h.proc_mounted(m.mnt))
            self.assertEqual(len(m.level_lines('error')), 1, m.log_text())
        finally:
            m.cleanup()

    def test_next_link_to_another_host_is_refused(self):
        evil_hits = []
        user = '11111111-2222-3333-4444-555555555555'
        msg = {'id': '1', 'chatId': '19:abc@thread.v2', 'messageType':
               'message', 'createdDateTime': '2024-01-01T00:00:00Z',
               'lastModifiedDateTime': '2024-01-01T00:00:00Z',
               'body': {'contentType': 'text', 'content': 'hi'}}

        def evil(method, path, body):
            evil_hits.append(path)
            return 200, {'value': []}

        with h.FakeServer(evil, host='127.0.0.2') as bad:
            def good(method, path, body):
                if method == 'POST' and path.endswith('/token'):
                    return 200, {'token_type': 'Bearer', 'expires_in': 3600,
                                 'ext_expires_in': 3600,
                                 'access_token': 'fake-token'}
                if re.match(r'^/v1\.0/users(\?|$)', path):
                    return 200, {'value': [{'id': user,
                                            'displayName': 'U'}]}
                if re.match(r'^/v1\.0/teams(\?|$)', path):
                    return 200, {'value': []}
                if 'getallmessages' in path.lower():
                    return 200, {
                        '@odata.count': 1, 'value': [msg],
                        '@odata.nextLink': bad.graph_url
                        + "/users('%s')/chats/getallMessages?$skiptoken=x"
                        % user}
                return 404, {'error': {'code': 'NotFound', 'message': path}}

            with h.FakeServer(good) as fake:
                line = r'^teamsfs: error: '
                with h.Mount(fake, expect=[line], require=[line]) as m:
                    with self.assertRaises(OSError) as cm:
                        os.listdir(m.path('users', user, 'chats'))
                    self.assertEqual(cm.exception.errno, errno.EIO)
                    self.assertEqual(len(m.level_lines('error')), 1)
                self.assertTrue(any('getallmessages' in p.lower()
                                    for _, p in fake.log))
        self.assertEqual(evil_hits, [])


if __name__ == '__main__':
    import unittest
    unittest.main()
