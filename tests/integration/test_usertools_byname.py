"""Issue 5: /by-name, readable names beside the ids.

/by-name/users/<userPrincipalName>/<chat name> and
/by-name/teams/<displayName>/<channel displayName> are symbolic links to
the id directories.  Expected names come from /_emulator/tenant ("users",
"teams", "chats" with members, "channels") by the rules of src/byname.c
(usertools.expected_byname).
"""

import os
import shutil
import stat
import tarfile
import tempfile
import unittest

import harness as h
import usertools as ut

EMU = None


def setUpModule():
    global EMU
    EMU = h.sample_emulator()


class ByNameTest(h.TreeCase):
    def setUp(self):
        EMU.clear_faults()
        self.exp = EMU.expected()
        self.want = ut.expected_byname(self.exp.tenant)
        self.tmp = tempfile.mkdtemp(prefix='teamsfs-ut-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_expected_names_cover_the_tricky_cases(self):
        """The emulator's tenant has what the rules are about (a check of
        the test data, so that the tests below mean something)."""
        names = [n for _, links in self.want['users'].values()
                 for n in links]
        self.assertTrue(any('~' in n for n in names), 'no clash')
        self.assertTrue(any('%2F' in n for n in names), 'no escaped /')
        self.assertIn('Project Falcon', names)
        chans = [n for _, links in self.want['teams'].values()
                 for n in links]
        self.assertIn('Design%2FUX', chans)
        self.assertIn('General', chans)

    def test_walk_by_name(self):
        """find (no -L) and ls -lR of /by-name on a fresh mount: the
        expected owners and links, every link pointing at the right id
        directory, and no getAllMessages request (only the lists and the
        names of chats and channels)."""
        with h.Mount(EMU) as m:
            EMU.clear_requests()
            r = ut.sh('find %s -printf "%%y %%P -> %%l\\n"'
                      % ut.q(m.path('by-name')))
            self.assertEqual(r.returncode, 0, ut.describe(r))
            self.assertEqual(r.stderr, b'', ut.describe(r))
            r2 = ut.sh('ls -lR %s' % ut.q(m.path('by-name')))
            self.assertEqual(r2.returncode, 0, ut.describe(r2))
            self.assertEqual(r2.stderr, b'', ut.describe(r2))
            reqs = EMU.requests()
            crawls = [x['path'] for x in reqs if h.is_getall(x)]
            self.assertEqual(crawls, [], 'walking /by-name crawled')
            for x in reqs:
                if x['path'].startswith('/v1.0/'):
                    self.assertRegex(
                        x['path'], r'^/v1\.0/(users|teams)(\?|$)|'
                        r'^/v1\.0/users/[^/]+/chats\?|'
                        r'^/v1\.0/teams/[^/]+/allChannels(\?|$)')
            got = {}
            for line in os.fsdecode(r.stdout).splitlines():
                kind, _, rest = line.partition(' ')
                path, _, target = rest.partition(' -> ')
                got[path] = (kind, target)
            want = {'': ('d', ''), 'users': ('d', ''), 'teams': ('d', '')}
            for top in ('users', 'teams'):
                for owner, (_, links) in self.want[top].items():
                    want[os.path.join(top, owner)] = ('d', '')
                    for name, target in links.items():
                        want[os.path.join(top, owner, name)] = ('l', target)
            self.assertEqual(sorted(got), sorted(want))
            self.assertEqual(got, want)
            # lstat of a link: a symlink whose size is the target's length
            for rel, (kind, target) in want.items():
                if kind == 'l':
                    st = os.lstat(m.path('by-name', rel))
                    self.assertTrue(stat.S_ISLNK(st.st_mode), rel)
                    self.assertEqual(st.st_size, len(os.fsencode(target)),
                                     rel)
                    self.assertEqual(os.readlink(m.path('by-name', rel)),
                                     target, rel)

    def test_links_resolve_to_the_id_directories(self):
        """Following a link (which may crawl that scope) lands in the id
        directory: same inode, same listing."""
        uid, links = self.want['users'][
            self.exp.tenant['users'][0]['userPrincipalName']]
        tname = self.exp.tenant['teams'][0]['displayName']
        tid, tlinks = self.want['teams'][h.fs_name(tname)]
        scope = self.exp.user_scope(uid)
        tscope = self.exp.team_scope(tid)
        upn = h.fs_name(self.exp.tenant['users'][0]['userPrincipalName'])
        with h.Mount(EMU, expect=h.broken_log_res(
                self.exp.broken_atts([scope]))) as m:
            checked = 0
            for top, owner, ls, sc in (('users', upn, links, scope),
                                       ('teams', h.fs_name(tname), tlinks,
                                        tscope)):
                for name, target in sorted(ls.items()):
                    link = m.path('by-name', top, owner, name)
                    real = os.path.normpath(os.path.join(
                        os.path.dirname(link), target))
                    self.assertEqual(os.path.realpath(link),
                                     os.path.realpath(real), name)
                    cname = os.path.basename(real)
                    if cname not in sc.containers:
                        continue    # a chat or channel without messages
                    self.assertEqual(os.stat(link).st_ino,
                                     os.stat(real).st_ino, name)
                    self.assertEqual(sorted(os.listdir(link)),
                                     sorted(os.listdir(real)), name)
                    self.assertEqual(
                        sorted(n for n in os.listdir(link)
                               if not n.endswith('.attachments')),
                        sorted(list(sc.containers[cname].named) +
                               [n for n in os.listdir(real)
                                if h.NOID_RE.match(n)]), name)
                    checked += 1
            self.assertGreater(checked, 5)

    def has_messages(self, target):
        """Whether the container a /by-name link leads to has messages."""
        _, _, _, top, owner, _, cont = target.split('/')
        for scope in self.exp.all_scopes():
            stop = 'users' if scope.kind == 'chats' else 'teams'
            if stop == top and h.fs_name(scope.owner) == owner:
                return cont in scope.containers
        return False

    def test_tools_that_do_not_follow_links_see_each_message_once(self):
        """Over the whole mount, find, du, tar and rsync -a (none of them
        following symbolic links) see every message and attachment file
        exactly once: /by-name adds only links."""
        broken = self.exp.broken_atts()
        broken_rel = {rel for rel, _, _, _ in broken}
        n_files = sum(s.all_file_count() + len(s.transcript_files())
                      for s in self.exp.all_scopes())
        # once a scope is crawled, a chat with messages has two links more
        # (its transcripts), so after the first walk:
        n_links = sum(len(links) for top in ('users', 'teams')
                      for _, links in self.want[top].values())
        n_links += 2 * sum(
            1 for top in ('users', 'teams')
            for _, links in self.want[top].values()
            for target in links.values()
            if self.has_messages(target))
        with h.Mount(EMU, expect=h.broken_log_res(broken)) as m:
            r = ut.sh('find %s -type f | sort' % ut.q(m.mnt), timeout=150)
            found = [os.path.relpath(os.fsdecode(l), m.mnt)
                     for l in r.stdout.splitlines()]
            self.assertEqual(len(found), n_files)
            self.assertEqual(len(set(found)), n_files)
            self.assertFalse([f for f in found
                              if f.startswith('by-name/')])
            r = ut.sh('find %s -type l | wc -l' % ut.q(m.mnt))
            self.assertEqual(int(r.stdout), n_links)
            sizes = 0
            for rel in found:
                if rel not in broken_rel:
                    sizes += os.lstat(m.path(rel)).st_size
            # os.walk lists a link to a directory among the directories
            link_bytes = sum(os.lstat(os.path.join(d, f)).st_size
                             for d, ds, fs in os.walk(m.path('by-name'))
                             for f in ds + fs
                             if os.path.islink(os.path.join(d, f)))
            r = ut.sh('du -sb %s' % ut.q(m.mnt))
            self.assertEqual(int(r.stdout.split()[0]), sizes + link_bytes,
                             ut.describe(r))
            archive = os.path.join(self.tmp, 'all.tar')
            r = ut.sh('tar -C %s -cf %s .' % (ut.q(m.mnt), ut.q(archive)),
                      timeout=150)
            with tarfile.open(archive) as tf:
                mem = tf.getmembers()
            regs = [x.name[2:] for x in mem if x.isreg()]
            self.assertEqual(sorted(regs), sorted(set(found) - broken_rel))
            self.assertEqual(sum(1 for x in mem if x.issym()), n_links)
            dst = os.path.join(self.tmp, 'copy')
            r = ut.sh('rsync -a %s/ %s/' % (ut.q(m.mnt), ut.q(dst)),
                      timeout=150)
            self.assertEqual(r.returncode, 23 if broken else 0,
                             ut.describe(r))
            copied = [os.path.relpath(os.path.join(d, f), dst)
                      for d, ds, fs in os.walk(dst) for f in ds + fs]
            regs = [c for c in copied
                    if stat.S_ISREG(os.lstat(os.path.join(dst, c)).st_mode)]
            links = [c for c in copied
                     if os.path.islink(os.path.join(dst, c))]
            self.assertEqual(sorted(regs), sorted(set(found) - broken_rel))
            self.assertEqual(len(links), n_links)


if __name__ == '__main__':
    unittest.main()


class ByNameRefreshTest(h.TreeCase):
    """teamsfs refresh on /by-name paths: the lists for /by-name and its
    lists, the scope a user's directory or a chat link stands for; the
    mount stays up (a NULL owner once crashed teamsfs here)."""

    def test_refresh_by_name_paths(self):
        with h.Mount(EMU) as m:
            users = sorted(os.listdir(m.path('by-name', 'users')))
            self.assertTrue(users)
            user = users[0]
            links = sorted(os.listdir(m.path('by-name', 'users', user)))
            self.assertTrue(links)
            EMU.clear_requests()
            for rel in (('by-name',), ('by-name', 'users'),
                        ('by-name', 'teams'), ('by-name', 'users', user)):
                r = ut.sh('%s refresh %s' % (ut.q(h.TEAMSFS_BIN),
                                             ut.q(m.path(*rel))))
                self.assertEqual((r.returncode, r.stderr), (0, b''),
                                 '/'.join(rel))
            paths = [q['path'] for q in EMU.requests()]
            self.assertTrue(any('/v1.0/users?' in p for p in paths), paths)
            self.assertTrue(any('getallmessages' in p.lower()
                                and '$filter' not in p for p in paths)
                            or any('getallmessages' in p.lower()
                                   for p in paths), paths)
            self.assertEqual(sorted(os.listdir(m.mnt)), h.ROOT_NAMES)
