#!/usr/bin/python3
"""An instance from flags, as `nova boot` takes them: `metastack configdrive build` and
`metastack instance create` (apps/metastack/instance_flags.h, docs/instance-format.md).

Run:  /usr/bin/python3 tests/integration/test_configdrive_flags.py --metastack BINARY
Debian's /usr/bin/python3 is required: cloud-init is imported from its dist-packages.

The one-line seed of the issue (`configdrive build --hostname web-01 --ssh-key id.pub
--user-data cloud.yaml -o seed.iso`) is read by cloud-init's own ConfigDrive and NoCloud
datasources (get_data on the unpacked image as their seed directory: this machine's kernel
cannot mount ISO9660; test_configdrive_images.py mounts drives in a QEMU guest).
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from cloudinit import helpers
from cloudinit.sources import DataSourceConfigDrive as configdrive_ds
from cloudinit.sources import DataSourceNoCloud as nocloud_ds

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import metastack_binary  # noqa: E402

METASTACK = None
UUID_RE = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$')
EXAMPLE = str(pathlib.Path(__file__).resolve().parents[2] / 'examples' / 'instance.json')
USER_DATA = '#cloud-config\nruncmd: [[touch, /tmp/flags]]\n'


def run(*args, check=True):
    p = subprocess.run([METASTACK, *map(str, args)], capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f'{args} -> {p.returncode}\n{p.stdout}{p.stderr}')
    return p


def unpack(image, dest):
    """The image's files, by xorriso (ISO9660 with Rock Ridge)."""
    subprocess.run(['xorriso', '-osirrox', 'on', '-indev', str(image), '-extract', '/',
                    str(dest)], check=True, capture_output=True)
    for root, dirs, files in os.walk(dest):
        for n in dirs + files:
            os.chmod(os.path.join(root, n), 0o755)
    return dest


def read_iso_file(image, path):
    return subprocess.run(['isoinfo', '-i', str(image), '-R', '-x', path], check=True,
                          capture_output=True).stdout


class FlagsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = pathlib.Path(self.tmp.name)
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'op@laptop', '-f',
                        self.dir / 'id'], check=True)
        self.key = (self.dir / 'id.pub').read_text().strip()
        (self.dir / 'cloud.yaml').write_text(USER_DATA)

    def tearDown(self):
        self.tmp.cleanup()

    def one_line_seed(self, *extra):
        out = self.dir / 'seed.iso'
        r = run('configdrive', 'build', '--hostname', 'web-01', '--ssh-key', self.dir / 'id.pub',
                '--user-data', self.dir / 'cloud.yaml', '-o', out, *extra)
        self.assertRegex(r.stdout, UUID_RE)  # the generated instance id, printed
        return out, r.stdout.strip()

    def paths(self, name):
        return helpers.Paths({'cloud_dir': str(self.dir / name / 'cloud'),
                              'run_dir': str(self.dir / name / 'run')})

    def test_one_line_seed_read_by_cloudinit_configdrive(self):
        image, uuid = self.one_line_seed()
        paths = self.paths('cd')
        unpack(image, pathlib.Path(paths.seed_dir) / 'config_drive')
        ds = configdrive_ds.DataSourceConfigDrive({}, None, paths)
        self.assertTrue(ds.get_data())
        self.assertEqual(ds.get_instance_id(), uuid)
        self.assertEqual(ds.get_hostname().hostname, 'web-01')
        self.assertEqual(ds.get_public_ssh_keys(), [self.key])
        self.assertEqual(ds.get_userdata_raw(), USER_DATA.encode())
        md = json.loads(read_iso_file(image, '/openstack/latest/meta_data.json'))
        self.assertEqual((md['name'], md['project_id'], md['public_keys']),
                         ('web-01', 'default', {'id': self.key}))

    def test_one_line_seed_read_by_cloudinit_nocloud(self):
        image, uuid = self.one_line_seed('--format', 'nocloud')
        paths = self.paths('nc')
        unpack(image, pathlib.Path(paths.seed_dir) / 'nocloud')
        ds = nocloud_ds.DataSourceNoCloud({}, None, paths)
        self.assertTrue(ds.get_data())
        self.assertEqual(ds.get_instance_id(), uuid)
        self.assertEqual(ds.get_hostname().hostname, 'web-01')
        self.assertEqual(ds.get_public_ssh_keys(), [self.key])
        self.assertEqual(ds.get_userdata_raw(), USER_DATA.encode())

    def test_every_flag_reaches_the_drive(self):
        (self.dir / 'motd').write_text('hello\n')
        (self.dir / 'vendor.json').write_text('{"cloud-init": "#cloud-config\\n"}')
        uuid = '5a7c3e1d-9b2f-4c8e-a6d4-1f0e2b3c4d5e'
        out = self.dir / 'd.iso'
        r = run('configdrive', 'build', '--uuid', uuid, '--name', 'Web Server 1', '--project',
                'p1', '--availability-zone', 'az-2', '--key-name', f'ops={self.dir}/id.pub',
                '--meta', 'role=web', '--meta', 'tier=front', '--file', f'/etc/motd={self.dir}/motd',
                '--vendor-data', self.dir / 'vendor.json', '--nic',
                'net=n1,mac=fa:16:3e:00:00:01,ip=192.0.2.10/24,gw=192.0.2.1,dns=192.0.2.53,mtu=1400',
                '--nic', 'ip=198.51.100.7/24,dhcp', '--seed', 's', '-o', out)
        self.assertEqual(r.stdout, '')  # the uuid was given: nothing to print
        md = json.loads(read_iso_file(out, '/openstack/latest/meta_data.json'))
        self.assertEqual(md['uuid'], uuid)
        self.assertEqual(md['name'], 'Web Server 1')
        self.assertEqual(md['hostname'], 'web-server-1.novalocal')  # Nova's sanitize_hostname
        self.assertEqual(md['availability_zone'], 'az-2')
        self.assertEqual(md['public_keys'], {'ops': self.key})
        self.assertEqual(md['meta'], {'role': 'web', 'tier': 'front'})
        self.assertEqual(md['files'], [{'path': '/etc/motd', 'content_path': '/content/0000'}])
        self.assertEqual(read_iso_file(out, '/openstack/content/0000'), b'hello\n')
        self.assertEqual(json.loads(read_iso_file(out, '/openstack/latest/vendor_data.json')),
                         {'cloud-init': '#cloud-config\n'})
        net = json.loads(read_iso_file(out, '/openstack/latest/network_data.json'))
        self.assertEqual([(link['ethernet_mac_address'], link['mtu']) for link in net['links']],
                         [('fa:16:3e:00:00:01', 1400), (net['links'][1]['ethernet_mac_address'],
                                                        None)])
        self.assertRegex(net['links'][1]['ethernet_mac_address'], r'^fa:16:3e(:[0-9a-f]{2}){3}$')
        self.assertNotEqual(net['links'][0]['id'], net['links'][1]['id'])
        self.assertEqual([(n['type'], n.get('ip_address')) for n in net['networks']],
                         [('ipv4', '192.0.2.10'), ('ipv4_dhcp', None)])
        self.assertEqual(net['networks'][0]['routes'][0]['gateway'], '192.0.2.1')
        self.assertEqual(net['services'], [{'type': 'dns', 'address': '192.0.2.53'}])
        # Same flags, same --uuid and --seed: the same drive.
        again = self.dir / 'again.iso'
        run('configdrive', 'build', '--uuid', uuid, '--name', 'Web Server 1', '--project', 'p1',
            '--availability-zone', 'az-2', '--key-name', f'ops={self.dir}/id.pub', '--meta',
            'role=web', '--meta', 'tier=front', '--file', f'/etc/motd={self.dir}/motd',
            '--vendor-data', self.dir / 'vendor.json', '--nic',
            'net=n1,mac=fa:16:3e:00:00:01,ip=192.0.2.10/24,gw=192.0.2.1,dns=192.0.2.53,mtu=1400',
            '--nic', 'ip=198.51.100.7/24,dhcp', '--seed', 's', '-o', again)
        self.assertEqual(out.read_bytes(), again.read_bytes())

    def test_flags_override_the_document(self):
        out = self.dir / 'o.iso'
        run('configdrive', 'build', '-f', EXAMPLE, '--hostname', 'db-02', '--meta', 'role=db',
            '-o', out)
        md = json.loads(read_iso_file(out, '/openstack/latest/meta_data.json'))
        base = json.loads(pathlib.Path(EXAMPLE).read_text())
        self.assertEqual(md['uuid'], base['uuid'])
        self.assertEqual(md['hostname'], 'db-02.novalocal')
        self.assertEqual(md['meta'], {**base['meta'], 'role': 'db'})
        self.assertEqual(md['public_keys'], base['public_keys'])

    def test_network_data_round_trip(self):
        """A drive's network_data.json given back as --network-data renders the same file."""
        first = self.dir / 'first.iso'
        run('configdrive', 'build', '-f', EXAMPLE, '-o', first)
        original = read_iso_file(first, '/openstack/latest/network_data.json')
        (self.dir / 'net.json').write_bytes(original)
        doc = json.loads(pathlib.Path(EXAMPLE).read_text())
        doc.pop('ports')
        (self.dir / 'bare.json').write_text(json.dumps(doc))
        second = self.dir / 'second.iso'
        run('configdrive', 'build', '-f', self.dir / 'bare.json', '--network-data',
            self.dir / 'net.json', '-o', second)
        self.assertEqual(json.loads(read_iso_file(second, '/openstack/latest/network_data.json')),
                         json.loads(original))

    def test_errors_name_the_flag_and_write_nothing(self):
        out = self.dir / 'never.iso'
        cases = [
            (['--hostname', 'web_01'], 'metastack: --hostname: not a valid hostname: web_01\n'),
            (['--ssh-key', self.dir / 'nope.pub'],
             f'metastack: --ssh-key {self.dir}/nope.pub: cannot read: No such file or directory\n'),
            (['--meta', 'novalue'], 'metastack: --meta: expected KEY=VALUE: novalue\n'),
            (['--nic', 'ip=10.0.0.5'],
             'metastack: --nic ip=10.0.0.5: expected ip=ADDRESS/PREFIX: 10.0.0.5\n'),
            (['--nic', 'dhcp'], 'metastack: --nic dhcp: dhcp needs the address the DHCP server '
                                'hands out: ip=ADDRESS/PREFIX\n'),
            (['--nic', 'ip=10.0.0.5/24,speed=10'],
             'metastack: --nic ip=10.0.0.5/24,speed=10: unknown item speed (net, id, mac, ip, gw, '
             'dns, mtu, dhcp)\n'),
            (['--uuid', 'xyz'], 'metastack: --uuid: not a UUID: xyz\n'),
            (['--file', 'etc/motd=' + str(self.dir / 'cloud.yaml')],
             'metastack: --file (files[0].path): not an absolute path\n'),
        ]
        for flags, message in cases:
            with self.subTest(flags=flags):
                r = run('configdrive', 'build', *flags, '-o', out, check=False)
                self.assertEqual((r.returncode, r.stdout, r.stderr), (1, '', message))
                self.assertFalse(out.exists())
        r = run('configdrive', 'build', '-o', out, check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn('or the instance as flags', r.stderr)

    def test_instance_create_from_flags(self):
        store = f'sqlite:{self.dir}/store.db'
        uuid = 'c0ffee11-2222-4333-8444-555566667777'
        run('network', 'create', 'net-1', '--project', 'p1', '--store', store)
        run('instance', 'create', '--uuid', uuid, '--hostname', 'app-01', '--project', 'p1',
            '--ssh-key', self.dir / 'id.pub', '--user-data', self.dir / 'cloud.yaml', '--nic',
            'net=net-1,ip=10.1.0.5/24,gw=10.1.0.1', '--store', store)
        shown = json.loads(run('instance', 'show', uuid, '--store', store).stdout)['instance']
        self.assertEqual((shown['hostname'], shown['project_id'], shown['public_keys'],
                          shown['user_data']), ('app-01', 'p1', {'id': self.key}, USER_DATA))
        self.assertEqual(shown['ports'][0]['subnets'][0]['ip_address'], '10.1.0.5')
        ports = run('port', 'list', '--store', store).stdout
        self.assertIn('10.1.0.5', ports)
        r = run('instance', 'create', '--hostname', 'app-02', '--nic', 'net=missing,ip=10.2.0.5/24',
                '--store', store, check=False)
        self.assertEqual((r.returncode, r.stderr),
                         (1, 'metastack: ports[0].network_id: unknown network missing\n'))


if __name__ == '__main__':
    METASTACK = metastack_binary()
    unittest.main(verbosity=2)
