#!/usr/bin/python3
"""docs/deploy.md, recipe 2 (an OpenStack network node: metastack's agent and proxy in place of
neutron-metadata-agent and haproxy, in front of Nova's own nova-api-metadata), run as written on
a simulated network node. Nova is Debian's python3-nova metadata handler served as
nova-api-metadata serves it (nova_reference.py --serve) on 127.0.0.1:8775, with the recipe's
shared secret, and `controller` names it (/etc/hosts). Every shell command of the recipe runs in
order, in private /etc, /var/lib and /run and a network namespace of its own
(doc_commands.enter_sandbox), but `systemctl`/`chgrp metastack` (no systemd, no package here);
its TOML block is written where it says. While the recipe's agent and proxy run, the test makes
the router's namespace (qrouter-<router id>, as Neutron's L3 agent would, after the proxy
started) and a guest behind it, which must get Nova's answer for its instance through
169.254.169.254; an address no port has gets no one's metadata.

Run (as root):  /usr/bin/python3 tests/integration/test_deploy_network_node.py --metastack BINARY
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, metastack_binary  # noqa: E402
import doc_commands  # noqa: E402
from guestnet import check, curl, guest_behind, namespace, served_json, wait_for  # noqa: E402

METASTACK = metastack_binary()
RECIPE = 'Recipe 2: an OpenStack network node, in place of neutron-metadata-agent and haproxy'
EXAMPLE = ROOT / 'examples' / 'instance.json'
DOC = json.loads(EXAMPLE.read_text())
PORT = DOC['ports'][0]
GUEST_IP = PORT['subnets'][0]['ip_address']
SECRET = 'METADATA_SECRET'  # the recipe's placeholder, written to /etc/metastack/secret
PYTHON = '/usr/bin/python3'


class DeployNetworkNodeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix='metastack-deploy-nn-'))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        with open('/etc/hosts', 'a') as hosts:  # the sandbox's own /etc
            hosts.write('127.0.0.1 controller\n')
        port_file = self.tmp / 'nova.port'
        log = open(self.tmp / 'nova.log', 'wb')
        self.addCleanup(log.close)
        nova = subprocess.Popen([PYTHON, str(ROOT / 'tests' / 'integration' / 'nova_reference.py'),
                                 str(EXAMPLE), '--shared-secret', SECRET, '--serve',
                                 str(port_file), '--port', '8775'],
                                stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: (nova.kill(), nova.wait()))
        wait_for(lambda: port_file.exists() or nova.poll() is not None,
                 'nova-api-metadata (nova_reference.py --serve)', timeout=60)
        self.assertIsNone(nova.poll(), (self.tmp / 'nova.log').read_text())

    def guest_gets_novas_answer(self):
        # Neutron's L3 agent makes the router's namespace: after metastack started.
        guest = guest_behind(namespace(f'qrouter-{PORT["router_id"]}'), PORT['mac'], GUEST_IP,
                             'nn')
        meta = served_json(guest)
        self.assertEqual((meta['uuid'], meta['name']), (DOC['uuid'], DOC['name']))
        self.assertEqual(curl(guest, 'http://169.254.169.254/latest/meta-data/local-ipv4'),
                         (0, 200, GUEST_IP))
        # Another address behind the router is no instance's: never reaches Nova.
        check('ip', '-n', guest, 'addr', 'add', '10.0.0.99/24', 'dev', 'eth0')
        r = check('ip', 'netns', 'exec', guest, 'curl', '-s', '-o', '/dev/null', '-w',
                  '%{http_code}', '--interface', '10.0.0.99', '--max-time', '5',
                  'http://169.254.169.254/openstack/latest/meta_data.json')
        self.assertEqual(r, '404')

    def test_recipe_runs_as_written(self):
        steps, runner = doc_commands.reader(ROOT, 'docs/deploy.md', RECIPE, METASTACK, self.tmp)
        runner.run_all(steps, then=self.guest_gets_novas_answer)
        # Every step ran (the two daemons among them), none skipped.
        self.assertEqual((len(runner.ran) + 2, runner.skipped), (len(steps), []))
        self.assertIn('manage = true', pathlib.Path('/etc/metastack/metastack.toml').read_text())


if __name__ == '__main__':
    doc_commands.enter_sandbox(METASTACK, net=True, etc=True)
    unittest.main()
