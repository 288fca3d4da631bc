#!/usr/bin/python3
"""The Debian package (dist/CMakeLists.txt), built by cpack from the build directory under test,
installed on this machine with apt-get, used, and purged:

- its control data: the shared libraries' packages (dpkg-shlibdeps) and the tools as
  Depends/Recommends, /etc/metastack/metastack.toml a conffile, the maintainer scripts;
- installed: `metastack --version` from /usr/bin, the metastack system user and group, the
  store's directory owned by them, the man page, the units verifying against the installed
  binary and man page;
- metastack.service run as its unit says (ExecStart= with the installed configuration, its
  User=, Group= and capabilities, in a private mount and network namespace standing in for
  systemd's): READY=1, the daemon's uid and capabilities are the unit's, /healthz answers, a
  listener opens on port 80 in a namespace, the store is created, ExecReload= reloads,
  SIGTERM stops it with status 0;
- what an operator does next: one edit of the installed configuration file (the admin token,
  [proxy] manage = true), the service started as its unit runs it, a router, network and
  instance created through the admin API, the router's namespace and a guest behind it made
  after that: the guest fetches its meta_data.json through 169.254.169.254, with no other
  command (no systemd here: the unit's ExecStart= as systemd would run it);
- purged: the files, the store, the user and the group are gone.

The package is removed whatever happens. Refuses to run where metastack is already installed
(or its user exists), so as not to take a real installation with it. Needs root.

Usage: test_package.py --metastack PATH --build-dir DIR"""
import configparser
import json
import grp
import os
import pathlib
import pwd
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

from guestnet import Tenant, guest_behind, namespace, served_json
from harness import Notifications, metastack_binary, stop_process


BUILD = None
UNIT_DIR = pathlib.Path('/lib/systemd/system')
UNITS = ['metastack.service', 'metastack-api.service', 'metastack-agent.service',
         'metastack-proxy.service']
# What image builders copy into guest images (docs/guest.md); not units of this host.
GUEST_FILES = ['metastack-guest', 'metastack-guest.service', 'metastack-guest-network.service',
               'metastack-guest.init']
CAP_BITS = {'CAP_NET_BIND_SERVICE': 10, 'CAP_NET_ADMIN': 12, 'CAP_NET_RAW': 13,
            'CAP_SYS_ADMIN': 21}
APT = ['apt-get', '-y', '-q', '-o', 'DPkg::Lock::Timeout=300']


def run(argv, **kw):
    kw.setdefault('timeout', 300)
    done = subprocess.run(argv, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        raise AssertionError(f'{shlex.join(argv)} exited {done.returncode}:\n'
                             f'{done.stdout}\n{done.stderr}')
    return done.stdout


def installed():
    done = subprocess.run(['dpkg-query', '-W', '-f=${Status}', 'metastack'],
                          capture_output=True, text=True)
    return 'installed' in done.stdout


def purge():
    """Removes the package and its data: apt-get, or dpkg when apt cannot."""
    if subprocess.run(APT + ['remove', '--purge', 'metastack'], capture_output=True,
                      timeout=300).returncode != 0:
        subprocess.run(['dpkg', '--purge', 'metastack'], capture_output=True, timeout=300)


def unit_service(path):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read_string(pathlib.Path(path).read_text())
    return dict(parser['Service'])


def proc_status(pid):
    return dict(line.split(':\t', 1) for line in
                pathlib.Path(f'/proc/{pid}/status').read_text().splitlines() if ':\t' in line)


class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError('test_package installs a package: run it as root')
        if installed():
            raise AssertionError('the metastack package is installed on this machine; this test '
                                 'installs and purges its own: remove it first '
                                 '(apt-get remove --purge metastack)')
        for what, exists in (('user', lambda: pwd.getpwnam('metastack')),
                             ('group', lambda: grp.getgrnam('metastack'))):
            try:
                exists()
            except KeyError:
                continue
            raise AssertionError(f'a {what} named metastack exists; purging the package would '
                                 'remove it: remove it first')
        cls.work = pathlib.Path(tempfile.mkdtemp(prefix=f'metastack-package-{os.getpid()}-'))
        cls.work.chmod(0o755)  # apt's _apt user reads the .deb, the daemon the notify socket
        # The man page is built beside the binary (target metastack_man); cpack packs what the
        # build directory has. Compressed with zstd, faster than the release package's xz.
        run(['cmake', '--build', BUILD, '--target', 'metastack_man'], timeout=600)
        run(['cpack', '-G', 'DEB', '--config', f'{BUILD}/CPackConfig.cmake', '-B', str(cls.work),
             '-D', 'CPACK_DEBIAN_COMPRESSION_TYPE=zstd'], timeout=600)
        debs = list(cls.work.glob('metastack_*.deb'))
        if len(debs) != 1:
            raise AssertionError(f'cpack made {debs} in {cls.work}')
        cls.deb = debs[0]

    @classmethod
    def tearDownClass(cls):
        if installed():
            purge()
        shutil.rmtree(cls.work, ignore_errors=True)

    def field(self, name):
        return run(['dpkg-deb', '-f', str(self.deb), name]).strip()

    def test_control_data(self):
        version = run([metastack_binary(), '--version']).split()[-1]
        self.assertEqual(self.deb.name, f'metastack_{version}_amd64.deb')
        depends = [d.strip().split()[0] for d in self.field('Depends').split(',')]
        # From dpkg-shlibdeps (the libraries the binary links) and from the package's own list.
        for package in ('libc6', 'libstdc++6', 'libsystemd0', 'libssl3', 'libsqlite3-0', 'libpq5',
                        'iproute2', 'iptables'):
            self.assertIn(package, depends)
        self.assertEqual(self.field('Recommends'), 'dnsmasq-base')
        control = self.work / 'control'
        run(['dpkg-deb', '-e', str(self.deb), str(control)])
        self.assertEqual((control / 'conffiles').read_text().split(),
                         ['/etc/metastack/metastack.toml'])
        for script in ('postinst', 'prerm', 'postrm'):
            self.assertTrue(os.access(control / script, os.X_OK), script)
            run(['sh', '-n', str(control / script)])
        files = run(['dpkg-deb', '-c', str(self.deb)])
        for path in ['./usr/bin/metastack', './usr/bin/metastack-server',
                     './etc/metastack/metastack.toml',
                     './usr/share/man/man1/metastack.1.gz', './usr/share/doc/metastack/README.md',
                     './usr/share/doc/metastack/deploy.md', './usr/share/doc/metastack/guest.md'] + \
                    [f'./usr/lib/systemd/system/{u}' for u in UNITS] + \
                    [f'./usr/lib/metastack/guest/{f}' for f in GUEST_FILES]:
            self.assertIn(' ' + path + '\n', files)

    def test_install_run_and_purge(self):
        try:
            run(APT + ['install', '--no-install-recommends', str(self.deb)], timeout=600)
            self.check_installed()
            self.check_serve_as_the_unit_runs_it()
            self.check_an_operator_serves_a_router_made_after_start()
        finally:
            purge()
        self.assertFalse(installed())
        for path in ['/usr/bin/metastack', '/usr/bin/metastack-server', '/etc/metastack',
                     '/var/lib/metastack',
                     '/run/metastack', '/usr/share/doc/metastack',
                     '/usr/share/man/man1/metastack.1.gz', '/usr/lib/metastack'] + \
                    [str(UNIT_DIR / u) for u in UNITS]:
            self.assertFalse(os.path.lexists(path), f'{path} is left after the purge')
        self.assertRaises(KeyError, pwd.getpwnam, 'metastack')
        self.assertRaises(KeyError, grp.getgrnam, 'metastack')

    def check_installed(self):
        # The guest side for image builders: its binary runs (--version) from where it ships.
        self.assertEqual(run(['/usr/lib/metastack/guest/metastack-guest', '--version']).strip(),
                         'metastack-guest ' + self.field('Version'))
        version = run(['/usr/bin/metastack', '--version']).strip()
        self.assertEqual(version, 'metastack ' + self.field('Version'))
        user = pwd.getpwnam('metastack')
        self.assertLess(user.pw_uid, 1000)  # a system user
        self.assertEqual(user.pw_shell, '/usr/sbin/nologin')
        self.assertEqual(grp.getgrgid(user.pw_gid).gr_name, 'metastack')
        state = os.stat('/var/lib/metastack')
        self.assertEqual((state.st_uid, state.st_mode & 0o7777), (user.pw_uid, 0o750))
        self.assertEqual(run(['man', '-w', 'metastack']).strip(),
                         '/usr/share/man/man1/metastack.1.gz')
        warnings = subprocess.run(['man', '--warnings', '-l', '/usr/share/man/man1/metastack.1.gz'],
                                  capture_output=True, text=True, env=dict(os.environ,
                                                                           MANWIDTH='100'))
        self.assertEqual(warnings.returncode, 0)
        self.assertEqual(warnings.stderr, '')
        self.assertIn('metastack serve', warnings.stdout)
        # The installed units against the installed binary, and man:metastack(1) found.
        done = subprocess.run(['systemd-analyze', 'verify', *[str(UNIT_DIR / u) for u in UNITS]],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual((done.returncode, done.stdout + done.stderr), (0, ''))

    def start_as_the_unit(self, tag):
        """metastack.service's ExecStart= as systemd would run it: the installed configuration,
        the unit's User=, Group= and capabilities, NOTIFY_SOCKET and WATCHDOG_USEC set, its
        RuntimeDirectory= a tmpfs, in a mount namespace of its own (slave: namespaces that
        `ip netns add` mounts later are seen there) and a network namespace of its own (the
        installed configuration's ports, 8776, meet nothing else on this machine). Returns
        (unit, process, notifications); the caller stops the process (before the package is
        purged: its user cannot be removed while it runs)."""
        unit = unit_service(UNIT_DIR / 'metastack.service')
        caps = unit['AmbientCapabilities'].split()
        self.assertEqual(caps, unit['CapabilityBoundingSet'].split())
        setpriv = ['setpriv', f'--reuid={unit["User"]}', f'--regid={unit["Group"]}',
                   '--init-groups', '--no-new-privs',
                   '--inh-caps=-all,' + ','.join('+' + c[4:].lower() for c in caps),
                   '--ambient-caps=-all,' + ','.join('+' + c[4:].lower() for c in caps),
                   '--bounding-set=-all,' + ','.join('+' + c[4:].lower() for c in caps)]
        os.makedirs('/run/metastack', exist_ok=True)
        inside = ('ip link set lo up && mount -t tmpfs -o mode=0755 metastack /run/metastack && '
                  f'chown {unit["User"]}:{unit["Group"]} /run/metastack && '
                  'export WATCHDOG_PID=$$ && exec "$@"')
        notify = Notifications(self.work / f'notify-{tag}.sock', mode=0o777)
        self.addCleanup(notify.close)
        env = dict(os.environ, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC='2000000')
        log_path = self.work / f'serve-{tag}.log'
        log = open(log_path, 'wb')
        self.addCleanup(log.close)
        proc = subprocess.Popen(['unshare', '--mount', '--net', '--propagation', 'slave', '--',
                                 'sh', '-c', inside, 'sh', *setpriv, '--',
                                 *shlex.split(unit['ExecStart'])],
                                env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        proc.log_path = log_path
        return unit, proc, notify

    def with_log(self, proc, error):
        return AssertionError(f'{error}\nmetastack serve\'s log:\n'
                              f'{proc.log_path.read_text(errors="replace")}')

    def check_serve_as_the_unit_runs_it(self):
        # A DHCP namespace for a listener on 169.254.169.254:80: setns (CAP_SYS_ADMIN) and a
        # port below 1024 (CAP_NET_BIND_SERVICE) as the unit's user.
        netns = f'mspkg-{os.getpid()}'
        run(['ip', 'netns', 'add', netns])
        self.addCleanup(subprocess.run, ['ip', 'netns', 'delete', netns], capture_output=True)
        unit, proc, notify = self.start_as_the_unit('unit')
        caps = unit['AmbientCapabilities'].split()
        try:
            ready = notify.wait(lambda m: m.get('READY') == '1', 60, 'READY=1', proc)
            self.assertEqual(ready['MAINPID'], str(proc.pid))
            notify.wait(lambda m: m.get('WATCHDOG') == '1', 5, 'WATCHDOG=1', proc)
            status = proc_status(proc.pid)
            uid = pwd.getpwnam(unit['User']).pw_uid
            self.assertEqual(status['Uid'].split(), [str(uid)] * 4)
            mask = sum(1 << CAP_BITS[c] for c in caps)
            for field in ('CapAmb', 'CapBnd', 'CapEff'):
                self.assertEqual(int(status[field], 16), mask, field)
            healthz = run(['nsenter', f'--net=/proc/{proc.pid}/ns/net', 'curl', '-sS',
                           '--max-time', '10', 'http://127.0.0.1:8776/healthz'])
            self.assertIn('ok', healthz.lower())
            run(['nsenter', f'--mount=/proc/{proc.pid}/ns/mnt', '/usr/bin/metastack',
                 'proxy-ctl', 'add', '--name', 'pkg', '--netns', netns, '--kind', 'network',
                 '--id', '5e7c1d2a-0b1c-4d2e-8f3a-4b5c6d7e8f90'])
            listening = run(['ip', 'netns', 'exec', netns, 'ss', '-ltnH'])
            self.assertIn('169.254.169.254:80 ', listening)
            db = os.stat('/var/lib/metastack/metastack.db')
            self.assertEqual(db.st_uid, uid)
            reload = unit['ExecReload'].replace('$MAINPID', str(proc.pid))
            run(shlex.split(reload))
            notify.wait(lambda m: m.get('RELOADING') == '1', 20, 'RELOADING=1', proc)
            notify.wait(lambda m: m.get('READY') == '1', 20, 'READY=1 after the reload', proc)
            proc.send_signal(signal.SIGTERM)
            notify.wait(lambda m: m.get('STOPPING') == '1', 20, 'STOPPING=1')
            self.assertEqual(proc.wait(30), 0)
        except AssertionError as e:
            raise self.with_log(proc, e) from None
        finally:
            stop_process(proc)

    def check_an_operator_serves_a_router_made_after_start(self):
        """What an operator does after `apt-get install`: edit the one configuration file (the
        admin API's token, [proxy] manage), start the service, create a router, a network and
        an instance through the admin API; the router's namespace appears later (Neutron's L3
        agent, or the operator, makes it), and a guest behind it fetches its metadata, with no
        other command."""
        config = pathlib.Path('/etc/metastack/metastack.toml')
        text = config.read_text()
        for old, new in (('# token-file = "/etc/metastack/admin-token"',
                          'token-file = "/etc/metastack/admin-token"'),
                         ('manage = false', 'manage = true')):
            self.assertEqual(text.count(old), 1, f'{old!r} in the installed {config}')
            text = text.replace(old, new)
        config.write_text(text)
        token = pathlib.Path('/etc/metastack/admin-token')
        token.write_text(secrets.token_hex(24))
        token.chmod(0o640)
        os.chown(token, 0, grp.getgrnam('metastack').gr_gid)

        _, proc, notify = self.start_as_the_unit('operator')
        try:
            notify.wait(lambda m: m.get('READY') == '1', 60, 'READY=1', proc)
            tenant = Tenant(7, True, ip='10.0.0.5')
            def admin(*args):
                run(['nsenter', f'--net=/proc/{proc.pid}/ns/net', '/usr/bin/metastack', *args,
                     '--url', 'http://127.0.0.1:8776', '--token-file', str(token)])
            doc = self.work / 'instance.json'
            doc.write_text(json.dumps(tenant.doc))
            admin('router', 'create', tenant.router, '--project', tenant.project)
            admin('network', 'create', tenant.network, '--router', tenant.router)
            admin('instance', 'create', '-f', str(doc))
            # The router's namespace, named as Neutron names it, and a guest behind it: made
            # after the service started and after the router was created.
            guest = guest_behind(namespace(f'qrouter-{tenant.router}'), tenant.mac, tenant.ip,
                                 'pkg')
            meta = served_json(guest)
            self.assertEqual((meta['uuid'], meta['name']), (tenant.uuid, tenant.hostname))
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(30), 0)
        except AssertionError as e:
            raise self.with_log(proc, e) from None
        finally:
            stop_process(proc)
            token.unlink()  # the operator's file: a purge leaves it (and /etc/metastack) behind


if __name__ == '__main__':
    metastack_binary()
    if '--build-dir' in sys.argv:
        i = sys.argv.index('--build-dir')
        BUILD = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    else:
        BUILD = str(pathlib.Path(metastack_binary()).resolve().parents[2])
    unittest.main(verbosity=2)
