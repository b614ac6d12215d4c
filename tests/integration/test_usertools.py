"""Issue 5 on real mounts: backup tools (tar, rsync, du), extended
attributes, stable inodes and ctimes, st_nlink, statfs, directory offsets
and file-manager probes.

The /by-name tree, `teamsfs sync`/`status` and the service side (help, man
page, systemd, mount -t, logging) are in test_usertools_byname.py,
test_usertools_sync.py and test_usertools_service.py.
"""

import errno
import json
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
import unittest

import harness as h
import usertools as ut

EMU = None


def setUpModule():
    global EMU
    EMU = h.sample_emulator()


def tar_name(rel):
    """How GNU tar writes a member name in its messages (':' quoted)."""
    return rel.replace('\\', '\\\\').replace(':', '\\:')


STRERROR = {errno.EIO: 'Input/output error',
            errno.EACCES: 'Permission denied'}


def chat_links(links):
    """The /by-name links to chats and channels, not to transcripts."""
    return {k: v for k, v in links.items()
            if not v.startswith('../../../transcripts/')}


class BackupToolsTest(h.TreeCase):
    """tar, rsync and du the way a nightly backup runs them."""

    def setUp(self):
        EMU.clear_faults()
        self.exp = EMU.expected()
        self.tmp = tempfile.mkdtemp(prefix='teamsfs-ut-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def rsync_user(self):
        """The user with the most files whose attachments all work (an
        rsync without expected errors), attachments included."""
        ok = [s for s in self.exp.user_scopes_by_size()
              if s.file_count() and not self.exp.broken_atts([s])]
        self.assertTrue(ok, 'no user scope without refused attachments')
        with_atts = [s for s in ok if s.att_count()]
        return (with_atts or ok)[-1]

    def test_tar_whole_mount_twice(self):
        """tar of the whole mount on a fresh mount (the first run crawls
        every scope while tar reads), then again: neither run says "file
        changed as we read it"; the only complaints are the two refused
        attachments (under both users of that 1:1 chat); the archive holds
        every message and attachment once, with the bytes a read gives and
        the total du -b gives; by-name entries are symbolic links."""
        broken = self.exp.broken_atts()
        broken_rel = {rel for rel, _, _, _ in broken}
        want_err = sorted(
            ['tar: ./%s: Cannot stat: %s' % (tar_name(rel), STRERROR[e])
             for rel, _, _, e in broken] +
            ['tar: Exiting with failure status due to previous errors'])
        with h.Mount(EMU, expect=h.broken_log_res(broken)) as m:
            runs = []
            for i in (1, 2):
                archive = os.path.join(self.tmp, 'run%d.tar' % i)
                r = ut.sh('tar -C %s -cf %s .' % (ut.q(m.mnt),
                                                  ut.q(archive)),
                          timeout=150)
                runs.append((archive, r))
            for i, (archive, r) in enumerate(runs, 1):
                with self.subTest(run=i):
                    err = sorted(os.fsdecode(l) for l in
                                 r.stderr.splitlines())
                    changed = [l for l in err if 'changed as we read' in l]
                    self.assertEqual(changed, [],
                                     'tar run %d:\n%s' % (i, ut.describe(r)))
                    self.assertEqual(err, want_err, ut.describe(r))
                    self.assertEqual(r.returncode, 2, ut.describe(r))
            read = ut.file_bytes_read(m.mnt, skip=broken_rel)
            du = {}
            for top in ('users', 'teams', 'transcripts'):
                r = ut.sh('du -sb %s' % ut.q(m.path(top)))
                if top == 'users' and broken:
                    self.assertEqual(r.returncode, 1, ut.describe(r))
                else:
                    self.assertEqual(r.returncode, 0, ut.describe(r))
                du[top] = int(r.stdout.split()[0])
            links = {}
            for d, dirs, files in os.walk(m.path('by-name')):
                for n in files + dirs:
                    p = os.path.join(d, n)
                    if os.path.islink(p):
                        links[os.path.relpath(p, m.mnt)] = os.readlink(p)
        want_files = {}
        for scope in self.exp.all_scopes():
            want_files.update(scope.files())
            want_files.update(scope.att_files())
        n_noid = sum(len(c.noid) + sum(len(d.atts) for d in c.noid_attdirs)
                     for s in self.exp.all_scopes()
                     for c in s.containers.values())
        n_transcripts = sum(len(s.transcript_files())
                            for s in self.exp.all_scopes())
        self.assertEqual(len(read), len(want_files) + n_noid - len(broken)
                         + n_transcripts)
        self.assertTrue(set(want_files) - broken_rel <= set(read))
        for top in ('users', 'teams', 'transcripts'):
            self.assertEqual(du[top], sum(
                n for rel, n in read.items() if rel.startswith(top + '/')),
                'du -sb %s != bytes read' % top)
        for i, (archive, _) in enumerate(runs, 1):
            with self.subTest(archive=i), tarfile.open(archive) as tf:
                members = tf.getmembers()
                names = [mb.name[2:] if mb.name.startswith('./') else
                         mb.name for mb in members]
                self.assertEqual(len(names), len(set(names)),
                                 'an entry twice in the archive')
                regs = {n: mb.size for n, mb in zip(names, members)
                        if mb.isreg()}
                self.assertEqual(regs, read,
                                 'tar sizes != bytes read (run %d)' % i)
                syms = {n: mb.linkname for n, mb in zip(names, members)
                        if mb.issym()}
                # Transcript links appear beside a chat once its scope is
                # crawled: the first run walked /by-name before that.
                self.assertEqual(chat_links(syms), chat_links(links))
                if i == len(runs):
                    self.assertEqual(syms, links)
                self.assertEqual(sum(regs.values()),
                                 du['users'] + du['teams'] +
                                 du['transcripts'])

    def test_rsync_user_twice(self):
        """rsync -a of a user's tree on a fresh mount (the first run
        crawls), then again: the second run transfers nothing.  The only
        change it may itemize is the time of the user's directory and its
        chats directory, which the README says move from the list's time
        to the newest message's at the first crawl (rsync -a saw the
        former); a third run itemizes nothing at all."""
        scope = self.rsync_user()
        user = h.fs_name(scope.owner)
        dst = os.path.join(self.tmp, 'copy')
        itemized_re = re.compile(r'^[<>ch.*][fdLDS]')
        with h.Mount(EMU) as m:
            src = m.path('users', user)
            cmd = 'rsync -a --itemize-changes --stats %s/ %s/' % (
                ut.q(src), ut.q(dst))
            first = ut.sh(cmd, timeout=150)
            self.assertEqual(first.returncode, 0, ut.describe(first))
            for run in (2, 3):
                r = ut.sh(cmd, timeout=150)
                self.assertEqual(r.returncode, 0, ut.describe(r))
                out = os.fsdecode(r.stdout)
                self.assertRegex(
                    out, r'Number of regular files transferred: 0\b',
                    ut.describe(r))
                self.assertRegex(out, r'Total transferred file size: 0 '
                                 r'bytes', ut.describe(r))
                itemized = [l for l in out.splitlines()
                            if itemized_re.match(l)]
                allowed = ['.d..t...... ./', '.d..t...... chats/'] \
                    if run == 2 else []
                self.assertEqual([l for l in itemized if l not in allowed],
                                 [], 'rsync run %d itemized changes:\n%s'
                                 % (run, ut.describe(r)))
            n = sum(len(fs) for _, _, fs in os.walk(dst))
            self.assertEqual(n, scope.all_file_count())
            for rel, msg in scope.files().items():
                self.assertEqual(
                    h.read_file(os.path.join(dst, os.path.relpath(
                        rel, os.path.join('users', user)))),
                    h.read_file(m.path(rel)), rel)

    def test_du_blocks_follow_size(self):
        """st_blocks is the size in 512-byte units rounded up, so du and
        du --apparent-size differ only by that rounding: for every file
        blocks*512 - size is in [0, 512), directories take no blocks."""
        scope = self.rsync_user()
        with h.Mount(EMU) as m:
            root = m.path(scope.relpath)
            sizes = blocks = nfiles = 0
            for rel, st in ut.walk_stats(root).items():
                self.assertNotIsInstance(st, OSError, rel)
                if stat.S_ISDIR(st.st_mode):
                    self.assertEqual(st.st_blocks, 0, rel)
                    continue
                self.assertEqual(st.st_blocks, (st.st_size + 511) // 512,
                                 '%s: size %d, blocks %d'
                                 % (rel, st.st_size, st.st_blocks))
                sizes += st.st_size
                blocks += st.st_blocks
                nfiles += 1
            r1 = ut.sh('du -s -B1 %s' % ut.q(root))
            r2 = ut.sh('du -s -B1 --apparent-size %s' % ut.q(root))
            r3 = ut.sh('du -sb %s' % ut.q(root))
            for r in (r1, r2, r3):
                self.assertEqual(r.returncode, 0, ut.describe(r))
            disk, apparent, b = (int(r.stdout.split()[0])
                                 for r in (r1, r2, r3))
            self.assertEqual(apparent, sizes)
            self.assertEqual(b, sizes)
            self.assertEqual(disk, blocks * 512)
            self.assertGreaterEqual(disk - apparent, 0)
            self.assertLess(disk - apparent, 512 * nfiles)


class MetadataTest(h.TreeCase):
    """One mount for the class: the first user's and first team's scopes
    crawled once, then xattrs, st_nlink and statfs looked at."""

    @classmethod
    def setUpClass(cls):
        cls.exp = EMU.expected()
        cls.uscope = cls.exp.user_scope(cls.exp.users[0])
        cls.tscope = cls.exp.team_scope(cls.exp.teams[0])
        cls.broken = cls.exp.broken_atts([cls.uscope, cls.tscope])
        cls.mnt = h.Mount(EMU, expect=h.broken_log_res(cls.broken))
        cls.mnt.start()
        try:
            for s in (cls.uscope, cls.tscope):
                for d, _, _ in os.walk(cls.mnt.path(s.relpath)):
                    pass
        except BaseException:
            cls.mnt.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.mnt.unmount()
        finally:
            cls.mnt.cleanup()

    def test_message_xattrs(self):
        """Every message file of two scopes: listxattr and getxattr give
        exactly the documented user.teamsfs.* attributes with the values
        of the message (sender, created, modified, type, deleted, web_url,
        id); deleted is "yes" for a message with a deletedDateTime."""
        m = self.mnt
        seen_deleted = seen_system = 0
        for scope in (self.uscope, self.tscope):
            for rel, msg in sorted(scope.files().items()):
                want = ut.message_xattrs(msg)
                got = ut.xattrs(m.path(rel))
                self.assertEqual(got, want, rel)
                self.assertTrue(set(got) <= set(ut.MSG_XATTRS), rel)
                seen_deleted += got['user.teamsfs.deleted'] == b'yes'
                seen_system += 'user.teamsfs.sender' not in got
        self.assertGreater(seen_deleted, 0, 'no deleted message looked at')
        self.assertGreater(seen_system, 0, 'no message without a sender')
        # getfattr -d, as a person types it, on one container
        rel, msg = sorted(self.uscope.files().items())[0]
        cdir = m.path(os.path.dirname(rel))
        r = ut.sh('cd %s && getfattr -d --absolute-names -- *.json'
                  % ut.q(cdir))
        self.assertEqual(r.returncode, 0, ut.describe(r))
        self.assertEqual(r.stderr, b'', ut.describe(r))
        dumped = ut.parse_getfattr(os.fsdecode(r.stdout))
        c = self.uscope.containers[os.path.basename(cdir)]
        want = {n: ut.message_xattrs(mm) for n, mm in c.named.items()}
        self.assertEqual({k: v for k, v in dumped.items() if k in want},
                         want)
        self.assertEqual(set(dumped) - set(want),
                         {n for n in dumped if h.NOID_RE.match(n)})

    def test_attachment_xattrs(self):
        """Attachments: user.teamsfs.kind, .content_type, .id and .url
        (the file's URL; for hosted contents the Graph URL teamsfs uses)."""
        broken = {rel for rel, _, _, _ in self.broken}
        kinds = set()
        for rel, (a, msg) in sorted(self.uscope.att_files().items()):
            if rel in broken:
                continue
            got = ut.xattrs(self.mnt.path(rel))
            dec = {k: v.decode('utf-8', 'surrogateescape')
                   for k, v in got.items()}
            self.assertTrue(set(dec) <= {
                'user.teamsfs.kind', 'user.teamsfs.content_type',
                'user.teamsfs.id', 'user.teamsfs.url'}, rel)
            self.assertEqual(dec.get('user.teamsfs.kind'), a.kind, rel)
            kinds.add(a.kind)
            if a.id is not None:
                self.assertEqual(dec.get('user.teamsfs.id'), a.id, rel)
            if a.kind == h.ATT_REFERENCE:
                self.assertEqual(dec.get('user.teamsfs.url'), a.source, rel)
                self.assertEqual(dec.get('user.teamsfs.content_type'),
                                 a.content_type, rel)
            elif a.kind == h.ATT_HOSTED:
                self.assertEqual(dec.get('user.teamsfs.url'),
                                 self.mnt.graph_url + '/' + a.source, rel)
            else:
                self.assertEqual(dec.get('user.teamsfs.content_type'),
                                 a.item.get('contentType'), rel)
        self.assertEqual(kinds, {h.ATT_REFERENCE, h.ATT_HOSTED,
                                 h.ATT_INLINE})

    def test_owner_and_container_xattrs(self):
        """User and team directories: .id and .display_name; chat and
        channel directories: .id (the raw Graph id, not the file name) and
        the chat's type, topic and members or the channel's name and
        membership."""
        m = self.mnt
        for u in self.exp.tenant['users']:
            self.assertEqual(ut.xattrs(m.path('users', h.fs_name(u['id']))),
                             {'user.teamsfs.id': u['id'].encode(),
                              'user.teamsfs.display_name':
                              u['displayName'].encode()}, u['id'])
        for t in self.exp.tenant['teams']:
            self.assertEqual(ut.xattrs(m.path('teams', h.fs_name(t['id']))),
                             {'user.teamsfs.id': t['id'].encode(),
                              'user.teamsfs.display_name':
                              t['displayName'].encode()}, t['id'])
        for scope in (self.uscope, self.tscope):
            for cname, c in sorted(scope.containers.items()):
                if c.raw is None:
                    continue
                self.assertEqual(
                    ut.xattrs(m.path(scope.relpath, cname)),
                    self.container_xattrs(scope, c.raw), cname)
        r = ut.sh('getfattr -d --absolute-names %s' % ut.q(
            m.path('users', h.fs_name(self.exp.users[0]))))
        self.assertEqual(r.returncode, 0, ut.describe(r))
        self.assertIn(b'user.teamsfs.display_name=', r.stdout)

    def container_xattrs(self, scope, raw):
        """The documented attributes of a chat or channel directory: its
        id, and what the chats list (type, topic, members) or allChannels
        (name, membership) says of it."""
        want = {'user.teamsfs.id': h.id_bytes(raw)}
        kind, owner_id = None, None
        for u in self.exp.tenant['users']:
            if scope.relpath == 'users/%s/chats' % h.fs_name(u['id']):
                kind, owner_id = 'u', u['id']
        for t in self.exp.tenant['teams']:
            if scope.relpath == 'teams/%s/channels' % h.fs_name(t['id']):
                kind, owner_id = 't', t['id']
        if kind == 'u':
            for chat in self.exp.tenant['chats'].get(owner_id, []):
                if chat['id'] != raw:
                    continue
                want['user.teamsfs.chat_type'] = chat['chatType'].encode()
                if isinstance(chat.get('topic'), str):
                    want['user.teamsfs.topic'] = chat['topic'].encode()
                names = [mb['displayName'] for mb in chat.get('members', [])
                         if isinstance(mb.get('displayName'), str)]
                if 'members' in chat:
                    want['user.teamsfs.members'] = ', '.join(names).encode()
        elif kind == 't':
            for ch in self.exp.tenant['channels'].get(owner_id, []):
                if ch['id'] != raw:
                    continue
                want['user.teamsfs.display_name'] = ch['displayName'].encode()
                want['user.teamsfs.membership_type'] = \
                    ch['membershipType'].encode()
        return want

    def test_other_dirs_have_no_xattrs(self):
        """Directories without attributes list none, without an error:
        listxattr gives [], getfattr -d prints nothing and exits 0, and a
        named attribute is ENODATA (not ENOTSUP)."""
        m = self.mnt
        att_dir = None
        for c in self.uscope.containers.values():
            if c.attdirs:
                att_dir = os.path.join(self.uscope.relpath, c.name,
                                       sorted(c.attdirs)[0])
                break
        self.assertIsNotNone(att_dir)
        upn = os.listdir(m.path('by-name', 'users'))[0]
        paths = ['', 'users', 'teams', self.uscope.relpath,
                 self.tscope.relpath, att_dir, 'by-name',
                 'by-name/users', 'by-name/teams',
                 os.path.join('by-name', 'users', upn)]
        for rel in paths:
            with self.subTest(path=rel):
                p = m.path(rel) if rel else m.mnt
                self.assertEqual(os.listxattr(p), [])
                with self.assertRaises(OSError) as cm:
                    os.getxattr(p, 'user.teamsfs.id')
                self.assertEqual(cm.exception.errno, errno.ENODATA)
                r = ut.sh('getfattr -d --absolute-names %s' % ut.q(p))
                self.assertEqual((r.returncode, r.stdout, r.stderr),
                                 (0, b'', b''), ut.describe(r))
        # a by-name link itself (not followed)
        link = os.path.join(m.path('by-name', 'users', upn),
                            os.listdir(m.path('by-name', 'users', upn))[0])
        self.assertEqual(os.listxattr(link, follow_symlinks=False), [])

    def test_unsupported_namespaces(self):
        """Security labels and ACLs are not supported: a security.*,
        system.* or trusted.* name is EOPNOTSUPP (ENOTSUP) on files and
        directories, so GNU ls -l asks once for the mount instead of twice
        per file; user.teamsfs.* still answer and another user.* name is
        ENODATA."""
        m = self.mnt
        cont = max((c for c in self.uscope.containers.values()),
                   key=lambda c: len(c.named))
        self.assertGreater(len(cont.named), 5, 'no container to list')
        cdir = m.path(self.uscope.relpath, cont.name)
        name, msg = sorted(cont.named.items())[0]
        f = os.path.join(cdir, name)
        for p in (f, cdir, m.path('users'), m.mnt):
            for n in ('security.selinux', 'system.posix_acl_access',
                      'system.posix_acl_default', 'trusted.teamsfs.id'):
                with self.subTest(path=p, name=n):
                    with self.assertRaises(OSError) as cm:
                        os.getxattr(p, n)
                    self.assertEqual(cm.exception.errno, errno.EOPNOTSUPP)
            with self.assertRaises(OSError) as cm:
                os.getxattr(p, 'user.other')
            self.assertEqual(cm.exception.errno, errno.ENODATA)
        self.assertEqual(os.getxattr(f, 'user.teamsfs.id'),
                         ut.message_xattrs(msg)['user.teamsfs.id'])
        # ls -l: the label and the ACL are asked of the first file only
        trace = os.path.join(self.mnt.dir, 'ls.strace')
        r = ut.sh('strace -f -qq -e trace=getxattr,lgetxattr -o %s '
                  'ls -l %s' % (ut.q(trace), ut.q(cdir)))
        self.assertEqual(r.returncode, 0, ut.describe(r))
        self.assertEqual(r.stderr, b'', ut.describe(r))
        self.assertEqual(len(r.stdout.splitlines()),
                         1 + len(os.listdir(cdir)))
        with open(trace) as t:
            calls = [ln for ln in t if 'xattr(' in ln]
        self.assertLessEqual(len(calls), 3, ''.join(calls))

    def test_nlink(self):
        """st_nlink of directories: 2 + subdirectories (root 6: users,
        teams, by-name, transcripts; /users 2 + users; a user 3; a scope
        2 + containers; a container 2 + attachments directories)."""
        m = self.mnt
        self.assertEqual(os.stat(m.mnt).st_nlink, 6)
        self.assertEqual(os.stat(m.path('users')).st_nlink,
                         2 + len(self.exp.users))
        self.assertEqual(os.stat(m.path('teams')).st_nlink,
                         2 + len(self.exp.teams))
        for u in self.exp.users:
            self.assertEqual(os.stat(m.path('users', h.fs_name(u)))
                             .st_nlink, 3, u)
        for scope in (self.uscope, self.tscope):
            self.assertEqual(os.stat(m.path(scope.relpath)).st_nlink,
                             2 + len(scope.containers), scope.relpath)
            owner = os.path.dirname(m.path(scope.relpath))
            for d, dirs, files in os.walk(owner):
                st = os.lstat(d)
                self.assertEqual(st.st_nlink, 2 + len(dirs),
                                 '%s: %d subdirectories'
                                 % (os.path.relpath(d, m.mnt), len(dirs)))
                for f in files:
                    p = os.path.join(d, f)
                    if os.path.relpath(p, m.mnt) in {
                            rel for rel, _, _, _ in self.broken}:
                        continue
                    self.assertEqual(os.lstat(p).st_nlink, 1, p)
        # what find relies on: -type d without stat agrees with nlink
        r = ut.sh('find %s -type d | wc -l' % ut.q(m.path(
            self.uscope.relpath)))
        self.assertEqual(int(r.stdout), 1 + len(self.uscope.containers) +
                         sum(len(c.all_attdirs())
                             for c in self.uscope.containers.values()))

    def test_statfs(self):
        """statfs: name length 255, f_files = messages stored (the two
        crawled scopes), blocks = the cache's size."""
        sv = os.statvfs(self.mnt.mnt)
        self.assertEqual(sv.f_namemax, 255)
        self.assertEqual(sv.f_files, self.uscope.file_count() +
                         self.tscope.file_count())
        self.assertGreater(sv.f_blocks, 0)
        self.assertGreater(sv.f_bsize, 0)
        r = ut.sh('stat -f -c %%l %s' % ut.q(self.mnt.mnt))
        self.assertEqual(r.stdout.strip(), b'255')
        r = ut.sh('df -i %s' % ut.q(self.mnt.mnt))
        self.assertEqual(r.returncode, 0, ut.describe(r))


class InodeTest(h.TreeCase):
    """Inode numbers come from paths: the same after a remount on the same
    cache and on another cache after a fresh crawl; ctime stays while a
    file is unchanged."""

    def setUp(self):
        EMU.clear_faults()
        self.exp = EMU.expected()
        self.tmp = tempfile.mkdtemp(prefix='teamsfs-ut-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def snap(self, m, scopes):
        for rel in ('users', 'teams', 'by-name/users', 'by-name/teams'):
            os.listdir(m.path(rel))
        out = {}
        for rel in ('', 'users', 'teams', 'by-name', 'by-name/users',
                    'by-name/teams'):
            st = os.lstat(m.path(rel) if rel else m.mnt)
            out[rel or '.'] = st
        # Links to transcripts appear as scopes get crawled (os.walk stats
        # the links it meets, which crawls): they are not compared here.
        bn = ut.walk_stats(m.path('by-name'), m.mnt)
        out.update({rel: st for rel, st in bn.items()
                    if not rel.endswith(('.html', '.txt'))})
        for s in scopes:
            out.update(ut.walk_stats(os.path.dirname(m.path(s.relpath)),
                                     m.mnt))
            top = 'users' if s.kind == 'chats' else 'teams'
            out.update(ut.walk_stats(m.path('transcripts', top,
                                            h.fs_name(s.owner)), m.mnt))
        return {rel: (('error', st.errno) if isinstance(st, OSError) else
                      (st.st_ino, stat.S_IFMT(st.st_mode), st.st_size,
                       st.st_mtime_ns, st.st_ctime_ns, st.st_nlink))
                for rel, st in out.items()}

    def test_inodes_stable(self):
        scopes = [self.exp.user_scope(self.exp.users[0]),
                  self.exp.team_scope(self.exp.teams[0])]
        broken = self.exp.broken_atts(scopes)
        allow = h.broken_log_res(broken)
        cache1 = os.path.join(self.tmp, 'cache1')
        cache2 = os.path.join(self.tmp, 'cache2')
        with h.Mount(EMU, cache_dir=cache1, expect=allow) as m:
            # the lists first: their fetch sets the times of the top
            for rel in ('users', 'teams', 'by-name/users', 'by-name/teams'):
                os.listdir(m.path(rel))
            udir = os.path.dirname(m.path(scopes[0].relpath))
            before = os.stat(udir)
            first = self.snap(m, scopes)
            after = os.stat(udir)
            self.assertEqual(before.st_ctime_ns, after.st_ctime_ns,
                             'ctime of a user directory moved in the crawl')
            self.assertEqual(before.st_ino, after.st_ino)
            again = self.snap(m, scopes)
            self.assertEqual(again, first, 'second look, same mount')
        with h.Mount(EMU, cache_dir=cache1, expect=allow) as m:
            EMU.clear_requests()
            second = self.snap(m, scopes)
            self.assertEqual([r['path'] for r in ut.getall_requests(EMU)],
                             [], 'remount on the cache crawled again')
        self.assert_same(first, second, 'remount on the same cache',
                         all_fields=True)
        with h.Mount(EMU, cache_dir=cache2, expect=allow) as m:
            third = self.snap(m, scopes)
        self.assert_same(first, third, 'fresh crawl into another cache',
                         all_fields=False)

    def assert_same(self, a, b, what, all_fields):
        self.assertEqual(sorted(a), sorted(b), what + ': other names')
        inos = {}
        for rel in sorted(a):
            x, y = a[rel], b[rel]
            if x[0] == 'error':
                self.assertEqual(x, y, '%s: %s' % (what, rel))
                continue
            self.assertEqual(x[0], y[0], '%s: inode of %s' % (what, rel))
            inos.setdefault(x[0], []).append(rel)
            list_timed = rel.split('/')[0] in ('.', 'by-name') or \
                rel in ('users', 'teams')
            if all_fields:
                self.assertEqual(x, y, '%s: (ino, type, size, mtime, '
                                 'ctime, nlink) of %s' % (what, rel))
            elif not list_timed:
                # mtime and size come from the messages; the ctime of a
                # user/team directory and its scope is the list's time
                is_owner = len(rel.split('/')) <= 3
                self.assertEqual(x[1:4], y[1:4], '%s: type, size, mtime '
                                 'of %s' % (what, rel))
                if not is_owner:
                    self.assertEqual(x[4], y[4], '%s: ctime of %s'
                                     % (what, rel))
                self.assertEqual(x[5], y[5], '%s: nlink of %s' % (what, rel))
        dup = {i: r for i, r in inos.items() if len(r) > 1}
        self.assertEqual(dup, {}, what + ': one inode for several paths')


class ProbeTest(h.TreeCase):
    """Names file managers probe for: ENOENT at once, no request, no
    crawl; `ls -la` of the top levels crawls nothing."""

    def setUp(self):
        EMU.clear_faults()
        self.exp = EMU.expected()

    def test_probe_names_cause_no_requests(self):
        uscope = self.exp.user_scope(self.exp.users[0])
        crawled = h.fs_name(self.exp.users[0])
        other = h.fs_name(self.exp.users[1])
        team = h.fs_name(self.exp.teams[1])
        with h.Mount(EMU, expect=h.broken_log_res(
                self.exp.broken_atts([uscope]))) as m:
            # what must exist first (lists, one crawled scope, names)
            for c in uscope.containers.values():
                if c.attdirs and c.raw:
                    break
            cdir = os.path.join('users', crawled, 'chats', c.name)
            adir = os.path.join(cdir, sorted(c.attdirs)[0])
            upn = sorted(os.listdir(m.path('by-name', 'users')))[0]
            os.listdir(m.path('by-name', 'users', upn))
            tname = sorted(os.listdir(m.path('by-name', 'teams')))[0]
            os.listdir(m.path(cdir))
            os.listdir(m.path(adir))
            os.stat(m.path('users', other, 'chats'))
            os.stat(m.path('teams', team, 'channels'))
            levels = ['', 'users', 'teams', os.path.join('users', crawled),
                      os.path.join('users', crawled, 'chats'), cdir, adir,
                      os.path.join('users', other),
                      os.path.join('users', other, 'chats'),
                      os.path.join('teams', team),
                      os.path.join('teams', team, 'channels'),
                      'by-name', 'by-name/users', 'by-name/teams',
                      os.path.join('by-name', 'users', upn),
                      os.path.join('by-name', 'teams', tname)]
            EMU.clear_requests()
            for rel in levels:
                for name in ut.PROBES:
                    p = os.path.join(m.path(rel) if rel else m.mnt, name)
                    with self.subTest(path=os.path.join(rel, name)):
                        with self.assertRaises(OSError) as cm:
                            os.lstat(p)
                        self.assertEqual(cm.exception.errno, errno.ENOENT)
                        with self.assertRaises(OSError) as cm:
                            open(p, 'rb')
                        self.assertEqual(cm.exception.errno, errno.ENOENT)
            reqs = EMU.requests()
            self.assertEqual([r['path'] for r in reqs], [],
                             'probe names caused requests')
            # the uncrawled scopes stay uncrawled
            self.assertFalse(h.scope_requests(reqs, self.exp.user_scope(
                self.exp.users[1])))

    def test_ls_la_top_levels_start_no_crawl(self):
        user = h.fs_name(self.exp.users[0])
        with h.Mount(EMU) as m:
            EMU.clear_requests()
            for rel in ('', 'users', os.path.join('users', user), 'teams',
                        os.path.join('teams', h.fs_name(self.exp.teams[0]))):
                r = ut.sh('ls -la %s' % ut.q(m.path(rel) if rel else m.mnt))
                self.assertEqual(r.returncode, 0, ut.describe(r))
                self.assertEqual(r.stderr, b'', ut.describe(r))
            r = ut.sh('ls -la %s' % ut.q(m.path('users', user)))
            self.assertIn(b' chats\n', r.stdout)
            crawls = [r['path'] for r in ut.getall_requests(EMU)]
            self.assertEqual(crawls, [], 'ls -la crawled a scope')
            paths = [r['path'] for r in ut.graph_requests(EMU)]
            self.assertTrue(all(re.match(r'^/v1\.0/(users|teams)(\?|$)', p)
                                for p in paths), paths)


class DirOffsetTest(h.TreeCase):
    """Directory offsets are stable cookies: small getdents buffers,
    lseek to a cookie, telldir/seekdir, interleaved readers and a refresh
    in the middle of a listing neither skip nor repeat entries.  Uses an
    emulator of its own (it adds a message)."""

    @classmethod
    def setUpClass(cls):
        cls.emu = h.Emulator().start()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def biggest_container(self, exp):
        scope = exp.user_scope(exp.users[0])
        c = max(scope.containers.values(), key=lambda c: c.entry_count())
        self.assertGreater(c.entry_count(), 100)
        return scope, c

    def test_small_buffers_cookies_and_seekdir(self):
        exp = self.emu.expected()
        scope, c = self.biggest_container(exp)
        with h.Mount(self.emu) as m:
            d = m.path(scope.relpath, c.name)
            ref = os.listdir(d)
            self.assertEqual(len(ref), len(set(ref)))
            self.assertEqual(len(ref), c.entry_count())
            want = sorted(ref + ['.', '..'])
            # one entry per call (or two): every name once
            for bufsize in (64, 128, 300, 4096):
                fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    ents = ut.read_all_getdents(fd, bufsize)
                finally:
                    os.close(fd)
                names = [os.fsdecode(e[3]) for e in ents]
                self.assertEqual(sorted(names), want, 'bufsize %d' % bufsize)
                offs = [e[1] for e in ents]
                self.assertEqual(len(offs), len(set(offs)),
                                 'repeated d_off cookies')
            # lseek to every 17th cookie: the rest of the listing follows
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            try:
                ents = ut.read_all_getdents(fd, 200)
                order = [e[3] for e in ents]
                for i in range(0, len(ents), 17):
                    os.lseek(fd, ents[i][1], os.SEEK_SET)
                    rest = [e[3] for e in ut.read_all_getdents(fd, 150)]
                    self.assertEqual(rest, order[i + 1:],
                                     'after cookie of entry %d' % i)
                os.lseek(fd, 0, os.SEEK_SET)
                self.assertEqual([e[3] for e in ut.read_all_getdents(
                    fd, 4096)], order)
            finally:
                os.close(fd)
            # telldir/seekdir of the C library
            with ut.LibcDir(d) as dd:
                got = []
                marks = []
                while True:
                    pos = dd.tell()
                    n = dd.read()
                    if n is None:
                        break
                    got.append(n)
                    marks.append(pos)
                self.assertEqual(sorted(os.fsdecode(x) for x in got), want)
                for i in (0, 1, 5, len(got) // 2, len(got) - 3):
                    dd.seek(marks[i])
                    again = [dd.read() for _ in range(3)]
                    self.assertEqual(again, got[i:i + 3],
                                     'seekdir to telldir of entry %d' % i)
            # interleaved: two descriptors and a scandir, in turns
            fd1 = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            fd2 = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            try:
                a, b, s = [], [], []
                it = os.scandir(d)
                done = [False, False, False]
                while not all(done):
                    if not done[0]:
                        x = ut.getdents(fd1, 100)
                        done[0] = not x
                        a += [e[3] for e in x]
                    if not done[1]:
                        x = ut.getdents(fd2, 333)
                        done[1] = not x
                        b += [e[3] for e in x]
                    if not done[2]:
                        e = next(it, None)
                        done[2] = e is None
                        if e is not None:
                            s.append(e.name)
                            e.stat(follow_symlinks=False)
                it.close()
            finally:
                os.close(fd1)
                os.close(fd2)
            self.assertEqual(sorted(os.fsdecode(x) for x in a), want)
            self.assertEqual(sorted(os.fsdecode(x) for x in b), want)
            self.assertEqual(sorted(s), sorted(ref))

    def test_listing_interrupted_by_refresh(self):
        """Half a listing, then a new message in that chat and `teamsfs
        refresh` of it, then the rest: the old entries once each; the
        refresh asked Graph ($filter) and a new listing shows the new
        message.  (An emulator of its own: the message stays out of the
        other tests.)"""
        with h.Emulator() as emu:
            exp = emu.expected()
            scope, c = self.biggest_container(exp)
            with h.Mount(emu) as m:
                d = m.path(scope.relpath, c.name)
                old = set(os.listdir(d))
                fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    first = []
                    while len(first) < len(old) // 2:
                        first += [e[3] for e in ut.getdents(fd, 128)]
                    status, _, data = h.http(
                        'POST', emu.url + '/_emulator/messages',
                        body={'chatId': c.raw, 'body': 'added mid-listing'})
                    self.assertEqual(status // 100, 2, data)
                    new = json.loads(data)
                    emu.clear_requests()
                    r = subprocess.run([h.TEAMSFS_BIN, 'refresh', d],
                                       capture_output=True, text=True,
                                       env=h.child_env(), timeout=60)
                    self.assertEqual(r.returncode, 0, ut.describe(r))
                    refreshed = [x['path'] for x in emu.requests()
                                 if h.is_getall(x)]
                    rest = [e[3] for e in ut.read_all_getdents(fd, 128)]
                finally:
                    os.close(fd)
                names = [os.fsdecode(x) for x in first + rest]
                names = [n for n in names if n not in ('.', '..')]
                self.assertEqual(len(names), len(set(names)),
                                 'entries repeated across the refresh')
                self.assertEqual(old - set(names), set(),
                                 'entries skipped across the refresh')
                self.assertTrue(set(names) - old <= {h.msg_name(new['id'])})
                self.assertTrue(
                    any(re.search(r'(?i)(\$|%24)filter=', p)
                        for p in refreshed),
                    '`teamsfs refresh %s` exited 0 but made no '
                    'getAllMessages request with $filter; requests: %r'
                    % (d, refreshed))
                self.assertIn(h.msg_name(new['id']), os.listdir(d))


if __name__ == '__main__':
    unittest.main()
