"""Incremental refresh (issue 4): live adds, edits and deletes in the
emulator reach a mounted teamsfs through a background refresh (refresh=1s),
`teamsfs refresh PATH` (refresh=0) and SIGHUP, and a process that already
looked at the tree sees the change without remounting."""

import os
import signal
import subprocess
import time

import freshness as f
import harness as h

EMU_ARGS = ('--scale', '0.2')
OVERLAP_S = 600                  # refresh_overlap=10m
SEEN_TIMEOUT = 20.0              # a change must be visible within this


class RefreshCase(f.FreshCase):
    def no_auto_refresh(self):
        """Mount options under which only an explicit refresh happens."""
        return ['refresh=0', 'refresh_overlap=%ds' % OVERLAP_S]

    def look_then_change(self, m, paths):
        """Checks both scopes are current, looks at @paths (so the
        kernel caches them), then changes both scopes in the emulator.
        Returns the user and team changes."""
        self.assert_current(m, self.scope)
        self.assert_current(m, self.tscope)
        if paths is not None:
            self.look(m, self.scope, paths)
        return self.change_user_scope(), self.change_team_scope()

    def setUp(self):
        self.emu = f.live_emulator(*EMU_ARGS)
        self.addCleanup(self.emu.stop)
        self.exp = self.emu.expected()
        self.uid = self.exp.users[0]
        self.other_uid = self.exp.users[1]
        self.scope = self.exp.user_scope(self.uid)
        self.team = self.exp.teams[0]
        self.tscope = self.exp.team_scope(self.team)

    # -- the changes ---------------------------------------------------------

    def user_targets(self):
        scope = self.scope
        group = f.group_chat_ids(scope)[0]
        one = f.one_to_one_chat_ids(scope)[0]
        plain = f.plain_messages(scope)
        edit = [m for c, m in plain if c == group][0]
        delete = [m for c, m in plain if c == one][0]
        return group, one, edit, delete

    def user_paths(self, group, one, edit, delete):
        base = self.scope.relpath
        return [os.path.join(base, h.fs_name(group), h.msg_name(edit['id'])),
                os.path.join(base, h.fs_name(one), h.msg_name(delete['id']))]

    def change_user_scope(self):
        """Adds a message to a group chat, edits another there, deletes one
        in a 1:1 chat and starts a new chat; -> {relpath: message}."""
        group, one, edit, delete = self.user_targets()
        old = len(edit['body']['content'])
        added = self.emu.add_message(chatId=group,
                                     body='<p>Fresh: the refresh test</p>')
        edited = self.emu.edit_message(
            group, edit['id'], '<p>%s</p>' % ('edited ' * (old // 7 + 5)))
        deleted = self.emu.delete_message(one, delete['id'])
        chat = self.emu.add_message(members=[self.uid, self.other_uid],
                                    body='First words of a new chat')
        self.assertNotEqual(len(edited['body']['content']), old)
        self.assertTrue(deleted.get('deletedDateTime'))
        self.assertNotIn(h.fs_name(chat['chatId']), self.scope.containers)
        base = self.scope.relpath
        return {
            os.path.join(base, h.fs_name(group), h.msg_name(added['id'])):
                added,
            os.path.join(base, h.fs_name(group), h.msg_name(edit['id'])):
                edited,
            os.path.join(base, h.fs_name(one), h.msg_name(delete['id'])):
                deleted,
            os.path.join(base, h.fs_name(chat['chatId']),
                         h.msg_name(chat['id'])): chat,
        }

    def change_team_scope(self):
        """A reply, an edit and a post in a new channel of the first team."""
        plain = f.plain_messages(self.tscope)
        root = [m for c, m in plain if not m.get('replyToId')][0]
        cid = root['channelIdentity']['channelId']
        other = [m for c, m in plain if m['id'] != root['id']][0]
        ocid = other['channelIdentity']['channelId']
        reply = self.emu.add_message(teamId=self.team, channelId=cid,
                                     replyToId=root['id'],
                                     body='A fresh reply')
        edited = self.emu.edit_message(ocid, other['id'],
                                       'Edited channel post ' * 9)
        new_cid = '19:%s@thread.tacv2' % ('f' * 32)
        post = self.emu.add_message(teamId=self.team, channelId=new_cid,
                                    body='First post in a new channel')
        base = self.tscope.relpath
        return {
            os.path.join(base, h.fs_name(cid), h.msg_name(reply['id'])):
                reply,
            os.path.join(base, h.fs_name(ocid), h.msg_name(other['id'])):
                edited,
            os.path.join(base, h.fs_name(new_cid), h.msg_name(post['id'])):
                post,
        }

    # -- what a process sees -------------------------------------------------

    def look(self, m, scope, paths):
        """What a long-running process does before the change: list the
        scope and its containers and stat and read the files it will watch
        (the kernel caches entries and attributes for 60 s)."""
        base = m.path(scope.relpath)
        for c in os.listdir(base):
            os.listdir(os.path.join(base, c))
        for rel in paths:
            p = m.path(rel)
            os.stat(p)
            h.read_file(p)

    def assert_seen(self, m, scope, changes, newest_ns=None):
        """The same process now sees every change by stat and read alone:
        exact st_size and mtime before reading, new contents, and the new
        mtime of the scope directory. No container is listed here: a
        listing (READDIRPLUS) would refresh the attributes of its entries
        and hide a missing invalidation."""
        for rel, msg in sorted(changes.items()):
            self.assert_file(m.path(rel), msg)
        if newest_ns is not None:
            self.assertEqual(os.stat(m.path(scope.relpath)).st_mtime_ns,
                             newest_ns, 'mtime of ' + scope.relpath)

    def assert_listed(self, m, scope, changes):
        """Listings show the new containers and files."""
        names = os.listdir(m.path(scope.relpath))
        for rel in sorted(changes):
            cont = os.path.basename(os.path.dirname(rel))
            self.assertIn(cont, names, 'container of ' + rel)
            self.assertIn(os.path.basename(rel),
                          os.listdir(m.path(os.path.dirname(rel))), rel)

    def watch(self, m, scope, changes, what):
        """Poll as a running process would: list the scope (the access that
        finds it due), then stat and read the changed files."""
        newest = self.newest(scope)

        def check():
            os.listdir(m.path(scope.relpath))
            self.assert_seen(m, scope, changes, newest)
        f.wait_until(check, SEEN_TIMEOUT, what)
        self.assert_listed(m, scope, changes)

    def newest(self, scope):
        return self.current(self.emu).scopes[
            (scope.kind, scope.owner)].mtime_ns

    def filtered(self, reqs, scope):
        return [r for r in h.scope_requests(reqs, scope)
                if f.filter_since_ns(r['path']) is not None]

    def assert_refresh_requests(self, reqs, scope, newest_before, after,
                                walks=1):
        """Refreshes asked for $filter=lastModifiedDateTime gt (newest
        stored - overlap), never for the whole scope again (reqs holds
        `walks` whole-scope walks: the first crawl, unless cleared)."""
        mine = h.scope_requests(reqs, scope)
        whole = f.unfiltered_first_pages(mine)
        self.assertEqual(len(whole), walks,
                         'whole-scope walks: %r' % [r['path'] for r in whole])
        filt = self.filtered(reqs, scope)
        self.assertTrue(filt, 'no $filter request for ' + scope.relpath)
        for r in filt:
            self.assertGreaterEqual(r['time'], after - 0.5, r)
            self.assertEqual(r['status'], 200, r)
        firsts = [r for r in filt if not h.has_skiptoken(r['path'])]
        self.assertTrue(firsts)
        since = f.filter_since_ns(firsts[0]['path'])
        self.assertEqual(since, newest_before - OVERLAP_S * 10**9,
                         'first refresh: %s (newest stored %d ns)'
                         % (firsts[0]['path'], newest_before))
        for r in firsts:
            self.assertGreaterEqual(f.filter_since_ns(r['path']), since, r)
        return filt


class BackgroundRefreshTest(RefreshCase):
    def test_refresh_1s_sees_add_edit_delete_and_new_chat(self):
        group, one, edit, delete = self.user_targets()
        with h.Mount(self.emu, ['refresh=1s',
                                'refresh_overlap=%ds' % OVERLAP_S]) as m:
            self.assert_current(m, self.scope)
            self.look(m, self.scope,
                      self.user_paths(group, one, edit, delete))
            t_change = time.time()
            changes = self.change_user_scope()
            # the running "ls" (this process) polls: a listing of the scope
            # is the access that finds it due and starts the refresh
            self.watch(m, self.scope, changes,
                       'changes seen after refresh=1s')
            reqs = self.emu.requests()
            filt = self.assert_refresh_requests(
                reqs, self.scope, self.scope.mtime_ns, time.time() - 3600)
            self.assertTrue(any(r['time'] >= t_change for r in filt),
                            'no refresh after the change')
            # the other member of the new chat has it too (first crawl)
            self.assert_scopes_current(m, self.emu,
                                       [('chats', self.uid),
                                        ('chats', self.other_uid)])


class RefreshCommandTest(RefreshCase):
    def run_refresh(self, *paths):
        t0 = time.monotonic()
        r = subprocess.run([h.TEAMSFS_BIN, 'refresh'] + list(paths),
                           capture_output=True, text=True, timeout=60,
                           env=h.child_env())
        return r, time.monotonic() - t0

    def test_refresh_command_with_refresh_0(self):
        group, one, edit, delete = self.user_targets()
        with h.Mount(self.emu, self.no_auto_refresh()) as m:
            changes, tchanges = self.look_then_change(
                m, self.user_paths(group, one, edit, delete))
            # refresh=0: listing again serves the cache and fetches nothing
            self.emu.clear_requests()
            self.assertEqual(sorted(os.listdir(m.path(self.scope.relpath))),
                             sorted(self.scope.containers))
            self.assertEqual(sorted(os.listdir(m.path(self.tscope.relpath))),
                             sorted(self.tscope.containers))
            t_cmd = time.time()
            # a path inside the scope (a chat directory) names the scope
            target = m.path(self.scope.relpath, h.fs_name(group))
            r, took = self.run_refresh(target)
            self.assertEqual((r.returncode, r.stderr), (0, ''), r)
            self.assertTrue(self.filtered(self.emu.requests(), self.scope),
                            '`teamsfs refresh %s` exited 0 after %.2fs but '
                            'Graph got no getAllMessages request for the '
                            'scope' % (target, took))
            # it returned after the change is visible: no polling here
            self.assert_seen(m, self.scope, changes,
                             self.newest(self.scope))
            self.assert_listed(m, self.scope, changes)
            r, took = self.run_refresh(m.path(self.tscope.relpath))
            self.assertEqual((r.returncode, r.stderr), (0, ''), r)
            self.assert_seen(m, self.tscope, tchanges,
                             self.newest(self.tscope))
            self.assert_listed(m, self.tscope, tchanges)
            reqs = self.emu.requests()
            for scope in (self.scope, self.tscope):
                self.assert_refresh_requests(reqs, scope, scope.mtime_ns,
                                             t_cmd, walks=0)
            self.assert_scopes_current(m, self.emu,
                                       [('chats', self.uid),
                                        ('channels', self.team)])

    def test_refresh_mountpoint_makes_every_scope_due(self):
        with h.Mount(self.emu, self.no_auto_refresh()) as m:
            changes, tchanges = self.look_then_change(m, None)
            self.emu.clear_requests()
            t_cmd = time.time()
            r, took = self.run_refresh(m.mnt)
            self.assertEqual((r.returncode, r.stderr), (0, ''), r)
            # the users and teams lists were fetched again, and waited for
            lists = [q for q in self.emu.requests()
                     if q['path'].startswith(('/v1.0/users?',
                                              '/v1.0/teams'))
                     and not f.is_token_request(q)]
            self.assertTrue(lists, '`teamsfs refresh %s` exited 0 after '
                            '%.2fs but fetched no users or teams list'
                            % (m.mnt, took))
            # every scope is due: the next access refreshes it
            self.watch(m, self.scope, changes,
                       'user changes after refresh MNT')
            self.watch(m, self.tscope, tchanges,
                       'team changes after refresh MNT')
            reqs = self.emu.requests()
            for scope in (self.scope, self.tscope):
                self.assert_refresh_requests(reqs, scope, scope.mtime_ns,
                                             t_cmd, walks=0)
            self.assert_scopes_current(m, self.emu,
                                       [('chats', self.uid),
                                        ('channels', self.team)])

    def test_refresh_outside_a_mount_fails(self):
        with h.Mount(self.emu, ['refresh=0']) as m:
            self.assert_current(m, self.scope)
            # a directory beside the mount point, not inside the mount
            r, _ = self.run_refresh(m.dir)
            self.assertEqual(r.returncode, 1,
                             '`teamsfs refresh %s` (not a teamsfs path): %r'
                             % (m.dir, r))
            self.assertIn('not inside a teamsfs mount', r.stderr)
            self.assert_scopes_current(m, self.emu, [('chats', self.uid)])


class SighupTest(RefreshCase):
    def test_sighup_makes_everything_due(self):
        group, one, edit, delete = self.user_targets()
        with h.Mount(self.emu, self.no_auto_refresh()) as m:
            changes, tchanges = self.look_then_change(
                m, self.user_paths(group, one, edit, delete))
            self.emu.clear_requests()
            os.listdir(m.path(self.scope.relpath))
            t_hup = time.time()
            os.kill(m.proc.pid, signal.SIGHUP)
            self.watch(m, self.scope, changes,
                       'user changes seen after SIGHUP')
            self.watch(m, self.tscope, tchanges,
                       'team changes seen after SIGHUP')
            self.assertIsNone(m.proc.poll(), 'teamsfs exited on SIGHUP')
            self.assertTrue(h.proc_mounted(m.mnt))
            reqs = self.emu.requests()
            for scope in (self.scope, self.tscope):
                self.assert_refresh_requests(reqs, scope, scope.mtime_ns,
                                             t_hup, walks=0)
            self.assert_scopes_current(m, self.emu,
                                       [('chats', self.uid),
                                        ('channels', self.team)])


if __name__ == '__main__':
    import unittest
    unittest.main()
