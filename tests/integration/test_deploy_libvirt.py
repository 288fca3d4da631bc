#!/usr/bin/python3
"""docs/deploy.md, recipe 1 (a libvirt/KVM host with a flat network, without Neutron), run as
written on a simulated host: a network namespace holding a bridge named virbr0 (192.168.122.1,
the guests' gateway, as libvirt's default network) and a guest namespace on it with the
example instance's MAC and address. Every command of the recipe runs inside the host namespace,
in private /var/lib and /run (doc_commands.enter_sandbox), but `virsh`, which needs libvirtd:
for those, the XML the recipe wrote is put into a minimal domain as the recipe says and checked
with virt-xml-validate. While the recipe's `serve` runs, the guest fetches its metadata from
169.254.169.254, and an address no port has gets 404.

Run (as root):  /usr/bin/python3 tests/integration/test_deploy_libvirt.py --metastack BINARY
"""
import json
import os
import pathlib
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, metastack_binary  # noqa: E402
import doc_commands  # noqa: E402
import libvirt_domain  # noqa: E402
from guestnet import check, curl, namespace, RUN  # noqa: E402

METASTACK = metastack_binary()
RECIPE = 'Recipe 1: a libvirt/KVM host with a flat or bridged network, without Neutron'
FLAT = json.loads((ROOT / 'examples' / 'flat-instance.json').read_text())
PORT = FLAT['ports'][0]
GUEST_IP = PORT['subnets'][0]['ip_address']
IMAGES = pathlib.Path('/var/lib/libvirt/images') / FLAT['hostname']


class DeployLibvirtTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix='metastack-deploy-'))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        # The host: a bridge named as libvirt's, with its address; the guest on it.
        self.host = namespace(f'msdh-{RUN}')
        self.guest = namespace(f'msdg-{RUN}')
        check('ip', '-n', self.host, 'link', 'add', 'virbr0', 'type', 'bridge')
        check('ip', '-n', self.host, 'addr', 'add', '192.168.122.1/24', 'dev', 'virbr0')
        check('ip', '-n', self.host, 'link', 'set', 'virbr0', 'up')
        check('ip', 'link', 'add', 'eth0', 'netns', self.guest, 'type', 'veth', 'peer', 'name',
              'vnet0', 'netns', self.host)
        check('ip', '-n', self.host, 'link', 'set', 'vnet0', 'master', 'virbr0', 'up')
        check('ip', '-n', self.guest, 'link', 'set', 'eth0', 'address', PORT['mac'], 'up')
        check('ip', '-n', self.guest, 'addr', 'add', f'{GUEST_IP}/24', 'dev', 'eth0')
        check('ip', '-n', self.guest, 'route', 'add', 'default', 'via', '192.168.122.1')

    def guest_fetches_its_metadata(self):
        code, status, body = curl(self.guest, 'http://169.254.169.254/openstack/latest/'
                                  'meta_data.json')
        self.assertEqual((code, status), (0, 200), body)
        self.assertEqual(json.loads(body)['uuid'], FLAT['uuid'])
        self.assertEqual(curl(self.guest, 'http://169.254.169.254/latest/meta-data/local-ipv4'),
                         (0, 200, GUEST_IP))
        # Another address on the bridge is no instance's: refused, not someone else's metadata.
        check('ip', '-n', self.guest, 'addr', 'add', '192.168.122.11/24', 'dev', 'eth0')
        r = check('ip', 'netns', 'exec', self.guest, 'curl', '-s', '-o', '/dev/null', '-w',
                  '%{http_code}', '--interface', '192.168.122.11', '--max-time', '5',
                  'http://169.254.169.254/openstack/latest/meta_data.json')
        self.assertEqual(r, '404')

    def test_recipe_runs_as_written(self):
        cmds, runner = doc_commands.reader(ROOT, 'docs/deploy.md', RECIPE, METASTACK, self.tmp,
                                           prefix=['ip', 'netns', 'exec', self.host],
                                           skip=lambda c: c.startswith('virsh '))
        self.assertGreaterEqual(len(cmds), 7, cmds)
        runner.run_all(cmds, then=self.guest_fetches_its_metadata)
        self.assertEqual([c.split()[:2] for _, c in runner.skipped],
                         [['virsh', 'attach-device']])
        # What virsh would have been given: the domain, with the recipe's XML, is libvirt's.
        domain = libvirt_domain.merge(libvirt_domain.minimal_domain(FLAT['hostname'],
                                                                    FLAT['uuid']),
                                      (IMAGES / 'disk.xml').read_text(),
                                      (IMAGES / 'sysinfo.xml').read_text())
        self.assertEqual(domain.find('devices/disk/source').get('file'),
                         str(IMAGES / 'disk.config'))
        ok, out = libvirt_domain.validate(libvirt_domain.write(domain, self.tmp / 'domain.xml'))
        self.assertTrue(ok, out)


if __name__ == '__main__':
    doc_commands.enter_sandbox(METASTACK, net=False)
    unittest.main()
