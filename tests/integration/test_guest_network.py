#!/usr/bin/python3
"""A real guest kernel on the network asks the metadata service for its own instance.

Run:  /usr/bin/python3 tests/integration/test_guest_network.py --metastack BINARY

Debian's cloud kernel boots under QEMU (qemu_guest.py: TCG, a busybox initramfs) with a
virtio-net NIC whose MAC is its port's, on a tap in a "network" namespace where a bridge joins
it to the network's other ports. Two networks, one guest each, booted in parallel:

  DHCP:    tap -- bridge -- veth --> qdhcp-<network> (10.61.0.2/24; serve puts
           169.254.169.254/32 on the port and starts a dnsmasq with the store's host entry for
           the guest's port and option 121)
           The guest's busybox udhcpc takes its lease and the option-121 route to
           169.254.169.254 via 10.61.0.2, where serve's network listener answers.
  Router:  tap -- bridge -- veth --> qrouter-<router> (qr- interface 10.62.0.1/24;
           serve installs the REDIRECT of 169.254.169.254:80 to 9697, where its router listener
           answers). The guest's address and default route are static (kernel
           command line).

Each guest fetches /openstack/latest/meta_data.json, /openstack/latest/user_data and
/latest/meta-data/instance-id with busybox wget and prints them on its serial console; they must
be its own instance's (uuid, hostname, user data, EC2 id), as must serve's access log. Then
metastack-guest (the guest side, in the initramfs) applies the instance from the service into a
tree and prints what it wrote: its own host name, keys, instance id, and its user data run. The DHCP
guest's lease must be its port's address, and each guest's routes what its network hands out.

The metastack side is one `metastack serve --manage` (start_metastack()): the store names the
router and the isolated network, the namespaces carry the names Neutron gives them, and serve
sets up each (router rules; DHCP address and dnsmasq) and opens its listener, with no other
command.

Needs root, QEMU (qemu-system-x86), Debian's cloud kernel (linux-image-cloud-amd64) and a static
busybox (busybox-static): without those the test fails (scripts/setup.sh installs them). Names
carry this run's id; everything is removed at exit, also on failure.
"""
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import unittest

import qemu_guest
from guestnet import RUN, Tenant, check, cleanup, namespace, wait_for
from harness import Daemon, guest_binary, unix_get

METADATA = 'http://169.254.169.254'
PATHS = ['/openstack/latest/meta_data.json', '/openstack/latest/user_data',
         '/latest/meta-data/instance-id']
BOOT_TIMEOUT = 240  # seconds per guest: ~10 s alone, far more on a loaded machine


class Env:
    tmp = None
    dhcp = router = None  # Tenants
    serve = None
    guests = {}  # 'dhcp' / 'router' -> qemu_guest.RunningGuest


def bridged_network(tag):
    """A network namespace holding a bridge and a tap for the guest, both up; returns
    (namespace, bridge, tap)."""
    ns = namespace(f'msn{tag}-{RUN}')
    bridge, tap = f'br{tag}-{RUN}', f'tap{tag}-{RUN}'
    check('ip', '-n', ns, 'link', 'add', bridge, 'type', 'bridge')
    check('ip', '-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap')
    check('ip', '-n', ns, 'link', 'set', tap, 'master', bridge, 'up')
    check('ip', '-n', ns, 'link', 'set', bridge, 'up')
    return ns, bridge, tap


def plug(net, bridge, outside, peer_ns, inside, address):
    """A veth from `bridge` in `net` (its end named `outside`) to interface `inside` with
    `address` (CIDR) in `peer_ns`."""
    check('ip', 'link', 'add', outside, 'netns', net, 'type', 'veth', 'peer', 'name', inside,
          'netns', peer_ns)
    check('ip', '-n', net, 'link', 'set', outside, 'master', bridge, 'up')
    check('ip', '-n', peer_ns, 'addr', 'add', address, 'dev', inside)
    check('ip', '-n', peer_ns, 'link', 'set', inside, 'up')


def start_metastack(dhcp_tenant, router_tenant):
    """The metastack side of both paths: one `serve --manage` on the store, nothing else. It
    finds the isolated network's DHCP namespace (qdhcp-<network>) and the router's namespace
    (qrouter-<router>) by the names Neutron gives them, and sets each up from what the store
    knows: in the first the metadata address on the DHCP port and a dnsmasq leasing the guest
    its port's address with option 121, in the second the metadata rules; a listener in each.
    Returns serve's Daemon (stopped at exit) once both namespaces are served."""
    ready = Env.tmp / 'serve.ready'
    serve = Daemon(['serve', '--store', Env.store, '--admin-listen', '',
                    '--agent-socket', Env.tmp / 'agent.sock', '--control', Env.tmp / 'proxy.sock',
                    '--manage', '--dhcp-server', 'dnsmasq',
                    '--dhcp-state-dir', Env.tmp / 'managed-dhcp',
                    '--threads', 1, '--access-log', '--ready-file', ready],
                   log=Env.tmp / 'serve.log', ready_file=ready, timeout=30)
    cleanup(lambda: serve.stop(timeout=10))
    serve.start()
    names = {f'qdhcp-{dhcp_tenant.network}', f'qrouter-{router_tenant.router}'}

    def both_served():
        answer = unix_get(Env.tmp / 'proxy.sock', '/listeners')
        if answer is None or answer[0] != 200:
            return False
        return names <= {listener['name'] for listener in json.loads(answer[1])['listeners']}
    wait_for(both_served, 'serve --manage to serve both namespaces', timeout=30)
    return serve


def setUpModule():
    if os.geteuid() != 0:
        raise unittest.SkipTest('needs root')
    guest = qemu_guest.Guest.find()
    if guest is None:
        raise AssertionError(qemu_guest.Guest.missing_reason())
    tmp = tempfile.TemporaryDirectory(prefix='metastack-guestnet-')
    cleanup(tmp.cleanup)
    Env.tmp = pathlib.Path(tmp.name)
    Env.tmp.chmod(0o755)  # dnsmasq runs as nobody
    Env.store = f'sqlite:{Env.tmp / "metastack.db"}'

    Env.dhcp = Tenant(1, False, ip='10.61.0.5', cidr='10.61.0.0/24', gateway='10.61.0.1')
    Env.router = Tenant(2, True, ip='10.62.0.5', cidr='10.62.0.0/24', gateway='10.62.0.1')
    for t in (Env.dhcp, Env.router):
        t.create(Env.store, Env.tmp)

    # DHCP: the network's bridge, the guest's tap and the DHCP port in qdhcp-<network>.
    dhcp_net, dhcp_bridge, dhcp_tap = bridged_network('d')
    qdhcp = namespace(f'qdhcp-{Env.dhcp.network}')
    plug(dhcp_net, dhcp_bridge, f'vd-{RUN}', qdhcp, f'ns-{RUN}', '10.61.0.2/24')
    # Router: the network's bridge, the guest's tap and the router's qr- port in
    # qrouter-<router>.
    router_net, router_bridge, router_tap = bridged_network('r')
    qrouter = namespace(f'qrouter-{Env.router.router}')
    plug(router_net, router_bridge, f'vr-{RUN}', qrouter, f'qr-{RUN}', '10.62.0.1/24')

    Env.serve = start_metastack(Env.dhcp, Env.router)

    # One initramfs for both: the kernel command line tells static from DHCP.
    # After the fetches, metastack-guest applies the instance from the service into a tree.
    init = qemu_guest.network_init(METADATA, PATHS, then=qemu_guest.guest_apply(
        '--source service --network none --attempts 3'))
    initrd = guest.build_initramfs(str(Env.tmp), init, qemu_guest.NETWORK_MODULES,
                                   binaries=[guest_binary()])
    for key, net, tap, tenant, append in (
            ('dhcp', dhcp_net, dhcp_tap, Env.dhcp, qemu_guest.network_append()),
            ('router', router_net, router_tap, Env.router,
             qemu_guest.network_append(tenant_address(Env.router), Env.router.gateway))):
        running = guest.start(initrd, nics=[qemu_guest.Nic(tap, tenant.mac)], netns=net,
                              append=append)
        cleanup(running.kill)
        Env.guests[key] = running


def tenant_address(tenant):
    return f'{tenant.ip}/{tenant.cidr.split("/")[1]}'


def routes(text):
    """busybox `ip -4 route` lines, whitespace-normalised and sorted."""
    return sorted(' '.join(line.split()) for line in text.splitlines() if line.strip())


class GuestTest:
    KEY = None

    @classmethod
    def setUpClass(cls):
        try:
            cls.result = Env.guests[cls.KEY].wait(BOOT_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f'the {cls.KEY} guest did not power off within {BOOT_TIMEOUT} '
                                 f's; its console:\n{e.output}')
        print(f'\n{cls.KEY} guest: {cls.result.seconds:.1f} s from QEMU start to power-off',
              file=sys.stderr)

    def tenant(self):
        return getattr(Env, self.KEY)

    def section(self, name):
        text = self.result.between(f'=====BEGIN {name}=====', f'=====END {name}=====')
        self.assertIsNotNone(text, f'no {name} on the console:\n{self.result.output}')
        return text

    def fetched(self, path):
        status = f'=====WGET {path} 0====='
        self.assertIn(status, self.result.output.replace('\r\n', '\n'),
                      f'wget {path} failed; console:\n{self.result.output}')
        return self.section(path)

    def test_powered_off_cleanly(self):
        self.assertEqual(self.result.returncode, 0, self.result.output)

    def test_reads_its_own_instance(self):
        t = self.tenant()
        md = json.loads(self.fetched(PATHS[0]))
        self.assertEqual((md['uuid'], md['hostname'], md['name'], md['project_id']),
                         (t.uuid, f'{t.hostname}.novalocal', t.hostname, t.project))
        self.assertEqual(self.fetched(PATHS[1]), t.user_data)
        self.assertEqual(self.fetched(PATHS[2]), t.doc['ec2']['instance_id'])

    def test_metastack_guest_applied_its_own_instance(self):
        t = self.tenant()
        self.assertIn('=====GUEST STATUS 0=====', self.result.output.replace('\r\n', '\n'),
                      self.section('guest'))
        self.assertIn('instance ' + t.uuid + ' from metadata service http://169.254.169.254',
                      self.section('guest'))
        self.assertEqual(self.section('file /etc/hostname').strip(), t.hostname)
        self.assertEqual(self.section('file /var/lib/metastack-guest/instance-id').strip(), t.uuid)
        self.assertEqual(self.section('file /root/.ssh/authorized_keys').split('\n')[:-1],
                         list(t.keys.values()))
        self.assertEqual(self.section('file /var/lib/metastack-guest/user-data.status').strip(),
                         '0')
        self.assertIn(f'tenant {t.n}', self.section('guest'))

    def test_serve_saw_the_guest_through_its_listener(self):
        t = self.tenant()
        listener = f'network {t.network}' if self.KEY == 'dhcp' else f'router {t.router}'
        want = {(f'listener="{listener}"', f'client={t.ip}', f'instance={t.uuid}',
                 'method=GET', f'path={path}', 'status=200') for path in PATHS}

        def logged():
            seen = set()
            for line in Env.serve.log_text().splitlines():
                if ' access: ' in line:
                    fields = line.split(' access: ', 1)[1].rsplit(' ', 1)[0]  # less ms=
                    seen.add(tuple(re.findall(r'\w+=(?:"[^"]*"|\S+)', fields)))
            return want <= seen
        # The proxy logs a request once it has answered it: the line may trail the answer.
        try:
            wait_for(logged, 'the access log', timeout=5)
        except AssertionError:
            self.fail(f'serve logged no {sorted(want)}; its log:\n{Env.serve.log_text()}')


class DhcpGuestTest(GuestTest, unittest.TestCase):
    KEY = 'dhcp'

    def test_lease_and_routes(self):
        t = self.tenant()
        self.assertEqual(self.section('lease'), tenant_address(t))
        self.assertEqual(routes(self.section('routes')), [
            '10.61.0.0/24 dev eth0 scope link src 10.61.0.5',
            '169.254.169.254 via 10.61.0.2 dev eth0',
            'default via 10.61.0.1 dev eth0'])


class RouterGuestTest(GuestTest, unittest.TestCase):
    KEY = 'router'

    def test_static_address_and_default_route(self):
        self.assertEqual(routes(self.section('routes')), [
            '10.62.0.0/24 dev eth0 scope link src 10.62.0.5',
            'default via 10.62.0.1 dev eth0'])


if __name__ == '__main__':
    unittest.main(verbosity=2)
