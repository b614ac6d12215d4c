"""Issue 5: running teamsfs like a service.

--help and --version, the man page, the systemd unit (systemd-analyze
verify), the fstab line and mount.fuse3 / `mount -t fuse.teamsfs`,
allow_other only when asked, and logging (no secret at -d; one line per
warning or error).
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import harness as h
import usertools as ut

REPO = h.REPO
MAN = os.path.join(REPO, 'doc', 'teamsfs.1')
UNIT = os.path.join(REPO, 'contrib', 'systemd', 'teamsfs.service')
FSTAB = os.path.join(REPO, 'contrib', 'fstab.example')
# util-linux mount(8) runs its helpers without the caller's PATH
STD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

EMU = None


def setUpModule():
    global EMU
    EMU = h.sample_emulator()


def readme_options():
    """Option names from the README's option table."""
    with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    return sorted(set(re.findall(r'^\| `([a-z_]+)(?:=[^`]*)?` \|', text,
                                 re.M)))


def mount_options(path):
    with open('/proc/mounts') as f:
        for line in f:
            fields = line.split()
            if len(fields) > 3 and fields[1].encode().decode(
                    'unicode_escape') == path:
                return fields[2], fields[3].split(',')
    return None


def pids_with_arg(arg):
    """Processes whose argv holds arg (a unique temporary path of ours)."""
    out = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if os.fsencode(arg) in argv:
            out.append(int(pid))
    return out


class CommandLineTest(unittest.TestCase):
    def run_bin(self, *args):
        return subprocess.run([h.TEAMSFS_BIN] + list(args),
                              capture_output=True, text=True,
                              env=h.child_env(), timeout=30,
                              stdin=subprocess.DEVNULL)

    def test_help(self):
        for flag in ('--help', '-h'):
            r = self.run_bin(flag)
            self.assertEqual(r.returncode, 0, ut.describe(r))
            self.assertRegex(r.stdout, r'^usage: teamsfs ', ut.describe(r))
            self.assertEqual(r.stderr, '')
            for cmd in ('sync', 'status', 'refresh'):
                self.assertRegex(r.stdout, r'(?m)^usage: teamsfs %s ' % cmd)
            for opt in readme_options():
                self.assertRegex(r.stdout, r'(?m)^\s+%s(=|\s)' % opt,
                                 '--help lacks %s' % opt)

    def test_version(self):
        for flag in ('--version', '-V'):
            r = self.run_bin(flag)
            self.assertEqual(r.returncode, 0, ut.describe(r))
            self.assertRegex(r.stdout, r'^teamsfs \d+\.\d+\.\d+\n$')
            self.assertEqual(r.stderr, '')

    def test_man_page_renders(self):
        env = h.child_env({'MANWIDTH': '80', 'MAN_KEEP_FORMATTING': ''})
        r = subprocess.run(['man', '-l', MAN], capture_output=True,
                           text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, ut.describe(r))
        self.assertEqual(r.stderr, '', ut.describe(r))
        for section in ('NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS',
                        'COMMANDS', 'EXIT STATUS'):
            self.assertRegex(r.stdout, r'(?m)^%s$' % section)
        text = re.sub(r'\s+', ' ', r.stdout.replace('\u2010 ', '')
                      .replace('- ', '-'))
        for opt in readme_options():
            self.assertIn(opt, text, 'the man page lacks ' + opt)
        w = subprocess.run(['man', '--warnings', '-l', MAN],
                           capture_output=True, text=True, env=env,
                           timeout=60)
        if 'unrecognized option' in w.stderr or \
                'invalid option' in w.stderr:
            self.skipTest('man has no --warnings')
        self.assertEqual(w.returncode, 0, ut.describe(w))
        self.assertEqual(w.stderr, '', 'groff warnings:\n' + w.stderr)
        with open(os.path.join(REPO, 'meson.build')) as f:
            self.assertRegex(f.read(), r"install_man\('doc/teamsfs\.1'\)")

    def test_systemd_unit_verifies(self):
        tool = shutil.which('systemd-analyze')
        if not tool:
            self.skipTest('systemd-analyze is not installed (package '
                          'systemd); the unit was not verified')
        tmp = tempfile.mkdtemp(prefix='teamsfs-ut-')
        try:
            with open(UNIT) as f:
                unit = f.read()
            m = re.search(r'(?m)^ExecStart=(\S+)', unit)
            self.assertTrue(m, 'no ExecStart line')
            unit = unit.replace('ExecStart=' + m.group(1),
                                'ExecStart=' + h.TEAMSFS_BIN)
            # the secret comes as a credential, never in argv
            self.assertRegex(unit, r'(?m)^LoadCredential=')
            self.assertIn('client_secret_file=${CREDENTIALS_DIRECTORY}/',
                          unit)
            self.assertNotRegex(unit, r'client_secret=')
            path = os.path.join(tmp, 'teamsfs.service')
            with open(path, 'w') as f:
                f.write(unit)
            # Documentation=man:teamsfs(1): let it find the page
            os.makedirs(os.path.join(tmp, 'man', 'man1'))
            os.symlink(MAN, os.path.join(tmp, 'man', 'man1', 'teamsfs.1'))
            r = subprocess.run([tool, 'verify', path], capture_output=True,
                               text=True, timeout=60,
                               env=h.child_env({'MANPATH': os.path.join(
                                   tmp, 'man')}))
            self.assertEqual((r.returncode, r.stderr), (0, ''),
                             ut.describe(r))
        finally:
            shutil.rmtree(tmp, True)


class MountHelperTest(unittest.TestCase):
    """mount.fuse3 (what `mount -t fuse.teamsfs` and fstab run) and
    allow_other."""

    def setUp(self):
        EMU.clear_faults()
        self.tmp = tempfile.mkdtemp(prefix='teamsfs-ut-')
        self.mnt = os.path.join(self.tmp, 'mnt')
        os.mkdir(self.mnt)
        self.bin = os.path.join(self.tmp, 'bin')
        os.mkdir(self.bin)
        os.symlink(h.TEAMSFS_BIN, os.path.join(self.bin, 'teamsfs'))
        self.cache = ut.Cache(EMU, self.tmp)
        self.addCleanup(self.cleanup)

    def cleanup(self):
        if mount_options(self.mnt):
            subprocess.run(['fusermount3', '-u', '-z', self.mnt],
                           capture_output=True)
        for pid in pids_with_arg(self.mnt):
            os.kill(pid, 9)
        shutil.rmtree(self.tmp, True)

    def fstab_options(self):
        """The options of contrib/fstab.example, with this test's values."""
        with open(FSTAB) as f:
            lines = [l for l in f if l.strip() and not l.startswith('#')]
        self.assertEqual(len(lines), 1, lines)
        source, target, fstype, opts, _, _ = lines[0].split()
        self.assertEqual(fstype, 'fuse.teamsfs')
        ours = {'tenant': EMU.tenant_id, 'client_id': EMU.client_id,
                'client_secret_file': self.cache.secret_file,
                'cache_dir': self.cache.cache_dir}
        out = []
        for o in opts.split(','):
            k = o.split('=', 1)[0]
            out.append('%s=%s' % (k, ours[k]) if k in ours else o)
        self.assertEqual(sorted(set(ours) - {o.split('=')[0] for o in out}),
                         [])
        out += ['graph_url=' + EMU.graph_url, 'token_url=' + EMU.token_url]
        return source, fstype, ','.join(out)

    def mounted_and_unmounted(self, r):
        self.assertEqual(r.returncode, 0, ut.describe(r))
        got = mount_options(self.mnt)
        self.assertTrue(got, 'not mounted:\n' + ut.describe(r))
        fstype, opts = got
        self.assertEqual(fstype, 'fuse.teamsfs')
        self.assertIn('ro', opts)
        self.assertNotIn('allow_other', opts)
        self.assertEqual(sorted(os.listdir(self.mnt)), h.ROOT_NAMES)
        users = os.listdir(os.path.join(self.mnt, 'users'))
        self.assertEqual(sorted(users), sorted(
            h.fs_name(u) for u in EMU.expected().users))
        daemons = pids_with_arg(self.mnt)
        self.assertEqual(len(daemons), 1, 'teamsfs daemons: %r' % daemons)
        u = subprocess.run(['umount', self.mnt], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(u.returncode, 0, ut.describe(u))
        self.assertIsNone(mount_options(self.mnt))
        ut.wait_until(lambda: not pids_with_arg(self.mnt), 20, 0.1,
                      'the teamsfs daemon to exit after umount')

    def test_mount_fuse3_with_the_fstab_line(self):
        """mount.fuse3 SOURCE MNT -t fuse.teamsfs -o <fstab options>, the
        way mount(8) runs it for the fstab line (noauto and _netdev
        included): mounts (daemonised, read-only, private), umount
        unmounts and the daemon exits."""
        helper = shutil.which('mount.fuse3', path=STD_PATH)
        if not helper:
            self.skipTest('mount.fuse3 (Debian package fuse3) is missing')
        source, fstype, opts = self.fstab_options()
        env = h.child_env({'PATH': self.bin + ':' + STD_PATH})
        r = subprocess.run([helper, source, self.mnt, '-t', fstype,
                            '-o', opts], capture_output=True, text=True,
                           env=env, timeout=60, stdin=subprocess.DEVNULL)
        self.mounted_and_unmounted(r)

    def test_mount_t_fuse_teamsfs(self):
        """`mount -t fuse.teamsfs teamsfs MNT -o ...` through mount(8)."""
        found = shutil.which('teamsfs', path=STD_PATH)
        if not found:
            self.skipTest(
                'mount(8) (util-linux) runs mount.fuse3 without the '
                "caller's PATH, so it finds teamsfs only in the standard "
                'directories (%s); a symlink in a temporary directory on '
                'PATH is not found there ("/bin/sh: 1: teamsfs: not '
                'found", exit 127) and installing one system-wide is '
                'outside this test; see test_mount_fuse3_with_the_fstab_'
                'line for the helper itself' % STD_PATH)
        r = subprocess.run(['mount', '-t', 'fuse.teamsfs', 'teamsfs',
                            self.mnt, '-o', self.cache.options()],
                           capture_output=True, text=True,
                           env=h.child_env(), timeout=60)
        self.mounted_and_unmounted(r)

    def test_allow_other_only_when_asked(self):
        with h.Mount(EMU) as m:
            fstype, opts = mount_options(m.mnt)
            self.assertEqual(fstype, 'fuse.teamsfs')
            self.assertNotIn('allow_other', opts)
        with h.Mount(EMU, options=['allow_other']) as m:
            fstype, opts = mount_options(m.mnt)
            self.assertIn('allow_other', opts)


class LoggingTest(unittest.TestCase):
    SECRET = 'ut-S3cr3t-7fQz9WkL2'

    def test_no_secret_in_debug_log(self):
        """-d (libfuse debug too) through sign-in, a crawl, attachments
        and /by-name: the log holds neither the secret nor a token."""
        tmp = tempfile.mkdtemp(prefix='teamsfs-ut-')
        try:
            sf = os.path.join(tmp, 'emu-secret')
            with open(sf, 'w') as f:
                f.write(self.SECRET + '\n')
            with h.Emulator('--client-secret-file', sf,
                            secret=self.SECRET) as emu:
                exp = emu.expected()
                scope = exp.user_scope(exp.users[0])
                broken = exp.broken_atts([scope])
                with h.Mount(emu, debug=True,
                             expect=h.broken_log_res(broken)) as m:
                    for d, _, fs in os.walk(m.path(scope.relpath)):
                        for f in fs[:3]:
                            try:
                                h.read_file(os.path.join(d, f))
                            except OSError:
                                pass
                    ut.sh('ls -lR %s' % ut.q(m.path('by-name', 'users')))
                    log = m.log_text()
                self.assertGreater(len(log.splitlines()), 100,
                                   'the -d log is nearly empty')
                self.assertNotIn(self.SECRET, log)
                self.assertNotRegex(log, r'(?i)access_token')
                self.assertNotRegex(log, r'(?i)bearer\s+\S{8,}')
                self.assertNotRegex(log, r'(?i)client_secret=\S')
                self.assertNotRegex(log, r'tempauth=\S')
        finally:
            shutil.rmtree(tmp, True)

    def test_error_is_one_line(self):
        """A Graph error whose message has line breaks: one log line with
        the code and the whole message; every line of the log (no -d) is a
        leveled teamsfs line."""
        exp = EMU.expected()
        scope = exp.user_scopes_by_size()[-2]
        EMU.clear_faults()
        EMU.fault(h.fault_match_for(scope), 403, 'Forbidden',
                  message='Access denied.\nSecond line\r\nthird line')
        try:
            with h.Mount(EMU, expect=[r'Forbidden']) as m:
                with self.assertRaises(PermissionError):
                    os.listdir(m.path(scope.relpath))
                lines = m.log_lines()
        finally:
            EMU.clear_faults()
        for l in lines:
            self.assertRegex(l, h.LOG_LINE_RE, 'a log line that is not '
                             'one leveled line: %r' % l)
        errors = [l for l in lines if l.startswith('teamsfs: error: ')]
        self.assertEqual(len(errors), 1, lines)
        self.assertIn('Forbidden', errors[0])
        for part in ('Access denied.', 'Second line', 'third line'):
            self.assertIn(part, errors[0])


if __name__ == '__main__':
    unittest.main()
