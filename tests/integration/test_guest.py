#!/usr/bin/python3
"""metastack-guest, the guest side, reads what metastack builds and serves and applies it.

Run:  /usr/bin/python3 tests/integration/test_guest.py --metastack BINARY [--guest BINARY]

Every run applies into a temporary root (--root) holding a minimal image's /etc: passwd, hosts,
/etc/systemd and /etc/network. Checked after each: /etc/hostname and /etc/hosts, root's
authorized_keys (existing key kept, none twice), the injected files, the user-data script run
once in the root, vendor data kept, the networkd and ifupdown files naming the port's MAC and
address, the state file; a second run changes nothing.

Sources:
* config drives read in place from image files: our ISO and VFAT (`metastack configdrive
  build`), genisoimage (as Nova runs it) and mkfs.vfat + mcopy of the tree `metastack render`
  writes, and our NoCloud seed;
* a real block device: the ISO on a loop device, found by its label with no --drive;
* the metadata service: `metastack serve` behind a router namespace, metastack-guest in the
  guest's namespace finding 169.254.169.254 by default;
* bad metadata (malformed JSON, a missing uuid, an injected file escaping the root, a service
  that does not answer): a clear error, an exit status that says which, and the root untouched;
* cloud-init (Debian's package) reading the same drive: the same host name, keys and files.

Needs root (loop devices, namespaces).
"""
import base64
import copy
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import unittest

from guestnet import (RUN, Tenant, check, cleanup, curl, in_ns, router_topology, run,
                      served_json, wait_for)
from harness import ROOT, Daemon, guest_binary, metastack_binary

METASTACK = metastack_binary()
GUEST = guest_binary()
MAC = 'fa:16:3e:12:34:56'
OLD_KEY = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7old admin@old'
KEYS = {'mykey': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd8ePkl4iZ0Qm5a2Fj1nLq0m3 alice@laptop',
        'second': OLD_KEY}


def document(**changes):
    doc = json.loads((ROOT / 'examples' / 'instance.json').read_text())
    doc.update(public_keys=KEYS, user_data='#!/bin/sh\necho "ran in $PWD" >> ran.log\n',
               files=[{'path': '/etc/motd', 'contents': 'Welcome to web-01\n'},
                      {'path': '/opt/app/conf.d/app.ini', 'contents': '[app]\nport = 80\n'}])
    doc.update(changes)
    return doc


def make_root(parent):
    """A minimal image's tree: root's passwd entry and an old authorized key."""
    root = pathlib.Path(tempfile.mkdtemp(prefix='root-', dir=parent))
    (root / 'etc/systemd').mkdir(parents=True)
    (root / 'etc/network').mkdir(parents=True)
    (root / 'etc/passwd').write_text('root:x:0:0:root:/root:/bin/sh\n')
    (root / 'etc/hosts').write_text('127.0.0.1\tlocalhost\n')
    (root / 'root/.ssh').mkdir(parents=True, mode=0o700)
    (root / 'root/.ssh/authorized_keys').write_text(OLD_KEY + '\n')
    return root


def snapshot(root):
    """{relative path: sha256 or 'dir' or link target} of everything under `root`."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = pathlib.Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = 'link:' + os.readlink(p)
            elif p.is_dir():
                out[rel] = 'dir'
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def nics_dir(parent, nics):
    """A stand-in for /sys/class/net: NAME/address for each (name, mac)."""
    d = pathlib.Path(tempfile.mkdtemp(prefix='net-', dir=parent))
    for name, mac in nics:
        (d / name).mkdir()
        (d / name / 'address').write_text(mac + '\n')
    return d


def guest(*args, ns=None, timeout=60):
    cmd = [GUEST, *map(str, args)]
    return in_ns(ns, *cmd, timeout=timeout) if ns else run(*cmd, timeout=timeout)


class Applied:
    """Checks shared by every source."""

    def assert_applied(self, root, doc, proc, files=True):
        """`files`: whether injected files come with this source (as Nova, a config drive
        carries them and the metadata service does not)."""
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        host = doc['hostname'].split('.')[0]
        self.assertEqual((root / 'etc/hostname').read_text(), host + '\n')
        self.assertIn('127.0.1.1\t', (root / 'etc/hosts').read_text())
        self.assertEqual((root / 'root/.ssh/authorized_keys').read_text().splitlines(),
                         [OLD_KEY] + [k for k in doc['public_keys'].values() if k != OLD_KEY])
        self.assertEqual((root / 'root/.ssh/authorized_keys').stat().st_mode & 0o777, 0o600)
        for f in doc['files']:
            if not files:
                self.assertFalse((root / f['path'].lstrip('/')).exists(), f['path'])
                continue
            self.assertEqual((root / f['path'].lstrip('/')).read_text(), f['contents'])
            self.assertEqual((root / f['path'].lstrip('/')).stat().st_mode & 0o777, 0o660)
        self.assertEqual((root / 'ran.log').read_text(), f'ran in {root}\n')
        state = root / 'var/lib/metastack-guest'
        self.assertEqual((state / 'instance-id').read_text(), doc['uuid'] + '\n')
        self.assertEqual((state / 'user-data').read_text(), doc['user_data'])
        self.assertEqual((state / 'user-data.status').read_text(), '0\n')
        networkd = ''.join(p.read_text() for p in (root / 'etc/systemd/network').iterdir())
        self.assertIn(MAC, networkd.lower())
        self.assertIn('10.0.0.5/24', networkd)
        interfaces = (root / 'etc/network/interfaces').read_text()
        self.assertIn('eth0', interfaces)
        self.assertIn('10.0.0.5', interfaces)

    def assert_second_run_changes_nothing(self, root, *args, ns=None):
        before = snapshot(root)
        proc = guest(*args, '--root', root, ns=ns)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn('was applied already', proc.stdout)
        self.assertEqual(snapshot(root), before)


def setUpModule():
    global TMP, NICS
    if os.geteuid() != 0:
        raise unittest.SkipTest('needs root (loop devices, namespaces)')
    TMP = pathlib.Path(tempfile.mkdtemp(prefix='metastack-guest-it-'))
    cleanup(shutil.rmtree, TMP, ignore_errors=True)
    NICS = nics_dir(TMP, [('eth0', MAC)])


class Drives(unittest.TestCase, Applied):
    @classmethod
    def setUpClass(cls):
        cls.doc = document()
        doc_path = TMP / 'instance.json'
        doc_path.write_text(json.dumps(cls.doc))
        cls.tree = TMP / 'tree'
        check(METASTACK, 'render', doc_path, '--out', cls.tree)
        cls.images = {}
        for fmt in ('iso', 'vfat'):
            out = TMP / f'ours.{fmt}'
            check(METASTACK, 'configdrive', 'build', '-f', doc_path, '--format', fmt, '-o', out)
            cls.images['ours-' + fmt] = out
        out = TMP / 'genisoimage.iso'
        check('genisoimage', '-o', out, '-ldots', '-allow-lowercase', '-allow-multidot', '-l',
              '-publisher', 'metastack', '-quiet', '-J', '-r', '-V', 'config-2', cls.tree)
        cls.images['genisoimage'] = out
        out = TMP / 'mkfs.vfat'
        check('mkfs.vfat', '-n', 'config-2', '-C', out, '16384')
        check('mcopy', '-s', '-i', out, *[str(p) for p in cls.tree.iterdir()], '::')
        cls.images['mkfs.vfat'] = out
        cls.nocloud = TMP / 'seed.iso'
        check(METASTACK, 'configdrive', 'build', '-f', doc_path, '--format', 'nocloud', '-o',
              cls.nocloud)

    def apply(self, *args):
        root = make_root(TMP)
        proc = guest(*args, '--root', root, '--sys-class-net', NICS)
        return root, proc

    def test_each_image(self):
        for name, image in self.images.items():
            with self.subTest(image=name):
                root, proc = self.apply('--source', 'config-drive', '--drive', image)
                self.assert_applied(root, self.doc, proc)
                self.assertIn('config drive', proc.stdout)
                self.assert_second_run_changes_nothing(root, '--drive', image)

    def test_directory_tree(self):
        root, proc = self.apply('--drive', self.tree)
        self.assert_applied(root, self.doc, proc)

    def test_dry_run_prints_and_writes_nothing(self):
        root = make_root(TMP)
        before = snapshot(root)
        proc = guest('--drive', self.images['ours-iso'], '--root', root, '--dry-run',
                     '--sys-class-net', NICS)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn('would write /etc/hostname (7 bytes, mode 0644)', proc.stdout)
        self.assertIn('would run /var/lib/metastack-guest/user-data.script', proc.stdout)
        self.assertEqual(snapshot(root), before)

    def test_block_device_found_by_label(self):
        loop = check('losetup', '--find', '--show', '--read-only',
                     self.images['ours-iso']).strip()
        cleanup(run, 'losetup', '-d', loop)
        # Only this loop device is offered, so a drive another test attached is never read.
        sys_block = pathlib.Path(tempfile.mkdtemp(prefix='block-', dir=TMP))
        name = os.path.basename(loop)
        (sys_block / name).symlink_to(f'/sys/class/block/{name}')
        root, proc = self.apply('--sys-block', sys_block, '--source', 'config-drive')
        self.assert_applied(root, self.doc, proc)
        self.assertIn(loop, proc.stdout)

    def test_nocloud_seed(self):
        root, proc = self.apply('--source', 'nocloud', '--nocloud-drive', self.nocloud)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual((root / 'etc/hostname').read_text(), 'web-01\n')
        self.assertEqual((root / 'root/.ssh/authorized_keys').read_text().splitlines(),
                         [OLD_KEY, KEYS['mykey']])
        self.assertEqual((root / 'var/lib/metastack-guest/instance-id').read_text(),
                         self.doc['uuid'] + '\n')
        self.assertTrue((root / 'var/lib/metastack-guest/network-config').exists())

    def test_no_drive_anywhere(self):
        empty = pathlib.Path(tempfile.mkdtemp(prefix='block-', dir=TMP))
        root = make_root(TMP)
        before = snapshot(root)
        proc = guest('--source', 'config-drive,nocloud', '--sys-block', empty, '--root', root)
        self.assertEqual(proc.returncode, 3, proc.stdout + proc.stderr)
        self.assertIn('metastack-guest: no metadata source found (tried: config-drive (no drive '
                      'labelled config-2); nocloud (no drive labelled cidata))', proc.stderr)
        self.assertEqual(snapshot(root), before)


class BadMetadata(unittest.TestCase):
    """A drive (as a directory tree) whose metadata is wrong: exit 1, the error, no change."""

    def attempt(self, meta_text, **extra):
        tree = pathlib.Path(tempfile.mkdtemp(prefix='bad-', dir=TMP))
        (tree / 'openstack/latest').mkdir(parents=True)
        (tree / 'openstack/latest/meta_data.json').write_text(meta_text)
        for rel, text in extra.items():
            (tree / 'openstack' / rel).parent.mkdir(parents=True, exist_ok=True)
            (tree / 'openstack' / rel).write_text(text)
        root = make_root(TMP)
        before = snapshot(root)
        proc = guest('--drive', tree, '--root', root)
        self.assertEqual(snapshot(root), before)
        return proc

    def test_each(self):
        good = {'uuid': 'c5d3f6b1-0000-4000-8000-000000000001', 'hostname': 'ok',
                'public_keys': {'k': KEYS['mykey']}}
        cases = [
            ('{"uuid": ', {}, 'openstack/latest/meta_data.json: malformed JSON'),
            (json.dumps({'hostname': 'x'}), {},
             'openstack/latest/meta_data.json: uuid: missing or not a string'),
            (json.dumps(dict(good, files=[{'path': '/../../../etc/evil',
                                           'content_path': '/content/0000'}])),
             {'content/0000': 'x'}, '/../../../etc/evil: path escapes the root'),
            (json.dumps(dict(good, files=[{'path': '/etc/x', 'content_path': '/content/0007'}])),
             {}, 'openstack/content/0007: missing'),
            (json.dumps(good), {'latest/network_data.json': '{"links": ['},
             'openstack/latest/network_data.json: malformed JSON'),
            (json.dumps(dict(good, hostname='a b')), {}, 'hostname: not a valid host name'),
        ]
        for meta, extra, error in cases:
            with self.subTest(error=error):
                proc = self.attempt(meta, **extra)
                self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
                self.assertEqual(proc.stderr.strip().splitlines()[-1], 'metastack-guest: ' + error)

    def test_service_that_does_not_answer(self):
        root = make_root(TMP)
        before = snapshot(root)
        # A port nothing listens on: refused at once, tried twice.
        proc = guest('--source', 'service', '--url', 'http://127.0.0.1:9', '--attempts', 2,
                     '--retry-delay', 0.01, '--root', root)
        self.assertEqual(proc.returncode, 3, proc.stdout + proc.stderr)
        self.assertIn('no metadata source found (tried: http://127.0.0.1:9', proc.stderr)
        self.assertEqual(snapshot(root), before)

    def test_bad_flags(self):
        proc = guest('--source', 'floppy')
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--source: unknown source 'floppy' (config-drive, service or nocloud)",
                      proc.stderr)
        proc = guest('--network', 'wifi', '--drive', '/nonexistent')
        self.assertEqual(proc.returncode, 2)
        self.assertIn('--network: one of auto, networkd, ifupdown, both, none', proc.stderr)


class Service(unittest.TestCase, Applied):
    """The metadata service: serve behind a router namespace, the guest in its own."""

    @classmethod
    def setUpClass(cls):
        tenant = Tenant(1, True)
        # A real RSA key (PEM private half, which openssl reads) for --set-password.
        cls.rsa = TMP / 'rsa'
        check('ssh-keygen', '-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-C',
              'rsa@test', '-f', cls.rsa)
        doc = document(public_keys={'rsa': (TMP / 'rsa.pub').read_text().strip(), **KEYS})
        doc.update(uuid=tenant.uuid, project_id=tenant.project, hostname='svc-guest')
        port = doc['ports'][0]
        port.update(mac=MAC, network_id=tenant.network, router_id=tenant.router)
        tenant.doc = doc
        tenant.mac = MAC
        cls.doc = doc
        store = f'sqlite:{TMP / "service.db"}'
        cls.store = store
        tenant.create(store, TMP)
        cls.guest_ns, router = router_topology(tenant, tag='mg')
        cls.router, cls.qr = router, f'qr-mg{tenant.n}-{RUN}'
        ready = TMP / 'serve.ready'
        serve = Daemon(['serve', '--store', store, '--admin-listen', '',
                        '--agent-socket', TMP / 'agent.sock', '--control', TMP / 'proxy.sock',
                        '--threads', 1, '--ready-file', ready],
                       log=TMP / 'serve.log', ready_file=ready, timeout=30)
        cleanup(lambda: serve.stop(timeout=10))
        serve.start()
        check(METASTACK, 'proxy-ctl', '--control', TMP / 'proxy.sock', 'add', '--name', router,
              '--netns', router, '--kind', 'router', '--id', tenant.router)
        served_json(cls.guest_ns)

    def test_from_the_guest_namespace(self):
        root = make_root(TMP)
        # No --url: 169.254.169.254 first, as on a real guest.
        proc = guest('--source', 'service', '--root', root, '--sys-class-net', NICS,
                     ns=self.guest_ns)
        self.assert_applied(root, self.doc, proc, files=False)
        self.assertIn('service: trying http://169.254.169.254', proc.stdout)
        self.assert_second_run_changes_nothing(root, '--source', 'service', ns=self.guest_ns)

    def test_set_password(self):
        """--set-password as cloudbase-init: a generated password in /etc/shadow, posted to the
        service encrypted with the first ssh-rsa key; the key's owner decrypts it (as `nova
        get-password` does) and it is the password /etc/shadow now checks. The instance requires
        session tokens meanwhile: the password's GET and POST carry the guest's token."""
        uuid = self.doc['uuid']
        check(METASTACK, 'instance', 'set-http-tokens', uuid, 'required', '--store', self.store)
        self.addCleanup(check, METASTACK, 'instance', 'set-http-tokens', uuid, '--unset',
                        '--store', self.store)
        url = 'http://169.254.169.254/openstack/2013-04-04/password'
        wait_for(lambda: curl(self.guest_ns, url)[1] == 401, 'tokens to be required')
        token = in_ns(self.guest_ns, 'curl', '-sSf', '-X', 'PUT', '-H',
                      'X-aws-ec2-metadata-token-ttl-seconds: 60',
                      'http://169.254.169.254/latest/api/token').stdout
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)
            import crypt  # Python's own check of the hash (deprecated in 3.11, present)
        root = make_root(TMP)
        (root / 'etc/shadow').write_text('root:*:19000:0:99999:7:::\n')
        (root / 'etc/shadow').chmod(0o640)
        proc = guest('--source', 'service', '--root', root, '--set-password', '--sys-class-net',
                     NICS, ns=self.guest_ns)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn('password: generated for root, to be posted encrypted with key rsa@test',
                      proc.stdout)
        status, body = curl(self.guest_ns, url, f'X-aws-ec2-metadata-token: {token}')[1:]
        self.assertEqual(status, 200)
        encrypted = TMP / 'password.bin'
        encrypted.write_bytes(base64.b64decode(body))
        password = check('openssl', 'pkeyutl', '-decrypt', '-inkey', self.rsa, '-pkeyopt',
                         'rsa_padding_mode:pkcs1', '-in', encrypted)
        self.assertRegex(password, r'^[A-Za-z0-9]{20}$')
        hashed = (root / 'etc/shadow').read_text().split(':')[1]
        self.assertEqual(crypt.crypt(password, hashed), hashed)
        self.assertEqual((root / 'etc/shadow').stat().st_mode & 0o777, 0o640)
        # Posted once: a second instance boot (another root) changes no password.
        again = make_root(TMP)
        (again / 'etc/shadow').write_text('root:*:19000:0:99999:7:::\n')
        proc = guest('--source', 'service', '--root', again, '--set-password', '--sys-class-net',
                     NICS, ns=self.guest_ns)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn('has one posted already', proc.stdout)
        self.assertEqual((again / 'etc/shadow').read_text(), 'root:*:19000:0:99999:7:::\n')

    def test_over_ipv6_link_local(self):
        """fe80::a9fe:a9fe on the guest's interface, routed to the router's link-local address
        (as radvd would advertise it); the service finds the instance by the MAC in the guest's
        link-local address."""
        from test_ipv6_guests import link_local
        gateway = link_local(self.router, self.qr)
        link_local(self.guest_ns, 'eth0')
        check('ip', '-n', self.guest_ns, '-6', 'route', 'replace', 'fe80::a9fe:a9fe/128', 'via',
              gateway, 'dev', 'eth0')
        root = make_root(TMP)
        url = 'http://[fe80::a9fe:a9fe%eth0]'
        proc = guest('--source', 'service', '--url', url, '--root', root, '--sys-class-net',
                     NICS, ns=self.guest_ns)
        self.assert_applied(root, self.doc, proc, files=False)
        self.assertIn(f'instance {self.doc["uuid"]} from metadata service {url}', proc.stdout)


class InQemu(unittest.TestCase):
    """A real kernel (QEMU, Debian's cloud kernel, a busybox initramfs): metastack-guest finds
    the drive attached to the guest by its label among the kernel's block devices and reads it
    in place, ISO 9660 on an IDE CD-ROM and VFAT on an IDE disk, as Nova attaches them."""
    MODULES = ['ata_piix', 'sr_mod', 'sd_mod']

    @classmethod
    def setUpClass(cls):
        import qemu_guest
        cls.qemu = qemu_guest
        cls.vm = qemu_guest.Guest.find()
        if cls.vm is None:
            raise AssertionError(qemu_guest.Guest.missing_reason())
        cls.doc = document()
        doc_path = TMP / 'qemu.json'
        doc_path.write_text(json.dumps(cls.doc))
        init = qemu_guest.INIT_PROLOGUE + '''dmesg -n 1
i=0
while [ ! -e /sys/class/block/sr0 ] && [ ! -e /sys/class/block/sda ] && [ $i -lt 100 ]; do
  sleep 0.1; i=$((i+1))
done
''' + qemu_guest.guest_apply('--source config-drive') + 'poweroff -f\n'
        work = tempfile.mkdtemp(prefix='qemu-', dir=TMP)
        initrd = cls.vm.build_initramfs(work, init, cls.MODULES, binaries=[GUEST])
        cls.running = {}
        for fmt, drive in (('iso', 'media=cdrom,if=ide'), ('vfat', 'format=raw,if=ide')):
            image = TMP / f'qemu.{fmt}'
            check(METASTACK, 'configdrive', 'build', '-f', doc_path, '--format', fmt, '-o', image)
            vm = cls.vm.start(initrd, drives=[['-drive', f'file={image},{drive}']])
            cleanup(vm.kill)
            cls.running[fmt] = vm
        # The busybox init script as an image runs it: every source, applied to the guest's own
        # root (the initramfs), its running host name set.
        script = (ROOT / 'dist/guest/metastack-guest.init').read_text()
        init = qemu_guest.INIT_PROLOGUE + '''dmesg -n 1
mkdir -p /etc/init.d /etc/systemd /root
echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd
cat > /etc/init.d/S45metastack-guest <<'SCRIPT'
''' + script + '''SCRIPT
chmod 755 /etc/init.d/S45metastack-guest
i=0
while [ ! -e /sys/class/block/sr0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo "=====BEGIN init====="
METASTACK_GUEST=/bin/metastack-guest /etc/init.d/S45metastack-guest start
echo "=====STATUS $?====="
echo "=====HOSTNAME $(hostname)====="
cat /root/.ssh/authorized_keys /var/lib/metastack-guest/instance-id
echo "=====END init====="
poweroff -f
'''
        work = tempfile.mkdtemp(prefix='qemu-init-', dir=TMP)
        initrd = cls.vm.build_initramfs(work, init, cls.MODULES, binaries=[GUEST])
        vm = cls.vm.start(initrd, drives=[['-drive', f'file={TMP / "qemu.iso"},media=cdrom,if=ide']])
        cleanup(vm.kill)
        cls.running['init'] = vm

    def test_init_script(self):
        result = self.running['init'].wait(240)
        out = result.between('=====BEGIN init=====', '=====END init=====')
        self.assertIsNotNone(out, result.output)
        self.assertIn('metastack-guest: applied\n=====STATUS 0=====', out)
        self.assertIn('=====HOSTNAME web-01=====', out)
        self.assertIn(KEYS['mykey'] + '\n' + OLD_KEY + '\n' + self.doc['uuid'], out)

    def test_each_drive(self):
        for fmt, device in (('iso', '/dev/sr0'), ('vfat', '/dev/sda')):
            with self.subTest(drive=fmt):
                result = self.running[fmt].wait(240)
                guest_out = result.between('=====BEGIN guest=====', '=====END guest=====')
                self.assertIn('=====GUEST STATUS 0=====', result.output.replace('\r\n', '\n'),
                              result.output)

                def file(path):
                    text = result.between(f'=====BEGIN file {path}=====',
                                          f'=====END file {path}=====')
                    self.assertIsNotNone(text, f'{path} not written:\n{result.output}')
                    return text[:-1] if text.endswith('\n') else text
                self.assertIn(f'config drive {device}', guest_out)
                self.assertEqual(file('/etc/hostname'), 'web-01')
                self.assertEqual(file('/root/.ssh/authorized_keys').splitlines(),
                                 list(KEYS.values()))
                self.assertEqual(file('/etc/motd'), 'Welcome to web-01')
                self.assertEqual(file('/var/lib/metastack-guest/instance-id'), self.doc['uuid'])
                self.assertIn('ran in /tmp/root', file('/ran.log'))
                # No NIC in this guest: networkd's file (matched by MAC) is written; ifupdown,
                # which names the NIC, is left out and says why.
                self.assertIn('[Match]\nMACAddress=fa:16:3e:12:34:56', result.output.replace('\r\n', '\n'))
                self.assertIn('Address=10.0.0.5/24', result.output)
                self.assertIn('network: ifupdown configuration not written: ', guest_out)


class Ec2OnlyService(unittest.TestCase):
    """A service with only the EC2 tree (404 under /openstack), which grants IMDSv2 session
    tokens and requires one: metastack-guest asks for a token first and reads the EC2 tree."""

    def test_ec2_tree_with_a_session_token(self):
        import http.server
        import threading
        token = 'tok-' + RUN
        files = {'/latest/meta-data/instance-id': 'i-0000abcd',
                 '/latest/meta-data/local-hostname': 'ec2-host.internal',
                 '/latest/meta-data/public-keys': '0=mykey',
                 '/latest/meta-data/public-keys/0/openssh-key': KEYS['mykey'] + '\n',
                 '/latest/user-data': '#cloud-config\n'}
        seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self, status, body=b''):
                self.send_response(status)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self):
                seen.append(('PUT', self.path, self.headers.get('X-aws-ec2-metadata-token-ttl-seconds')))
                self.answer(200, token.encode()) if self.path == '/latest/api/token' else self.answer(404)

            def do_GET(self):
                seen.append(('GET', self.path, self.headers.get('X-aws-ec2-metadata-token')))
                if self.headers.get('X-aws-ec2-metadata-token') != token:
                    return self.answer(401)
                body = files.get(self.path)
                self.answer(200, body.encode()) if body is not None else self.answer(404)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.shutdown)
        root = make_root(TMP)
        proc = guest('--source', 'service', '--url', f'http://127.0.0.1:{server.server_port}',
                     '--root', root)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn('has no OpenStack tree; reading its EC2 tree', proc.stdout)
        self.assertEqual((root / 'etc/hostname').read_text(), 'ec2-host\n')
        self.assertEqual((root / 'root/.ssh/authorized_keys').read_text().splitlines(),
                         [OLD_KEY, KEYS['mykey']])
        self.assertEqual((root / 'var/lib/metastack-guest/instance-id').read_text(), 'i-0000abcd\n')
        self.assertEqual(seen[0][:2], ('PUT', '/latest/api/token'))
        self.assertTrue(all(h == token for m, _, h in seen[1:]), seen)


class SameAsCloudInit(unittest.TestCase):
    """cloud-init's ConfigDrive datasource and metastack-guest read one drive: the same host
    name, SSH keys, injected files, user data, instance id and network configuration (what
    cloud-init's networkd and eni renderers configure from it, compared as
    test_guest_network_vs_cloudinit compares them, which covers many more network shapes)."""

    def test_drive(self):
        from unittest import mock
        from cloudinit import helpers
        from cloudinit.sources import DataSourceConfigDrive as configdrive_ds
        doc = document(hostname='cmp-01', public_keys={'a': KEYS['mykey'], 'b': 'ssh-rsa BBBB b@c'})
        doc_path = TMP / 'cmp.json'
        doc_path.write_text(json.dumps(doc))
        cloud = TMP / 'cmp-cloud'
        drive = cloud / 'seed' / 'config_drive'
        check(METASTACK, 'render', doc_path, '--out', drive)
        paths = helpers.Paths({'cloud_dir': str(cloud), 'run_dir': str(cloud / 'run')})
        ds = configdrive_ds.DataSourceConfigDrive({}, None, paths)
        with mock.patch.object(configdrive_ds, 'write_injected_files') as write_files:
            self.assertTrue(ds.get_data())
        ci_files = write_files.call_args_list[0].args[0]

        root = make_root(TMP)
        (root / 'root/.ssh/authorized_keys').unlink()
        proc = guest('--drive', drive, '--root', root, '--network', 'both', '--sys-class-net',
                     NICS)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual((root / 'etc/hostname').read_text().strip(),
                         ds.get_hostname().hostname)
        self.assertIn(ds.get_hostname(fqdn=True).hostname, (root / 'etc/hosts').read_text())
        self.assertEqual((root / 'root/.ssh/authorized_keys').read_text().splitlines(),
                         ds.get_public_ssh_keys())
        self.assertEqual({p: (root / p.lstrip('/')).read_bytes() for p in ci_files},
                         {p: c.encode() if isinstance(c, str) else c for p, c in ci_files.items()})
        self.assertEqual((root / 'var/lib/metastack-guest/user-data').read_bytes(),
                         ds.userdata_raw if isinstance(ds.userdata_raw, bytes)
                         else ds.userdata_raw.encode())
        self.assertEqual((root / 'var/lib/metastack-guest/instance-id').read_text().strip(),
                         ds.get_instance_id())
        # The network: cloud-init's renderers on the drive's network_data.json (its network
        # stage, the guest's NIC eth0), read back into what each configures.
        import test_guest_network_vs_cloudinit as compare
        theirs = TMP / 'cmp-cloud-init-network'
        theirs.mkdir()
        network_data = json.loads((drive / 'openstack/latest/network_data.json').read_text())
        compare.render_cloudinit(network_data, {MAC: 'eth0'}, theirs)
        self.assertEqual(compare.networkd_config(root), compare.networkd_config(theirs))
        self.assertEqual(compare.eni_config(root), compare.eni_config(theirs))


if __name__ == '__main__':
    unittest.main()
