#!/usr/bin/python3
"""Guests that reach metadata over IPv6, at fe80::a9fe:a9fe, as Neutron serves it.

Run:  /usr/bin/python3 tests/integration/test_ipv6_guests.py --metastack BINARY

One `serve` with `[proxy] manage` on a SQLite file, as test_managed_namespaces runs it. Each
guest is a namespace whose eth0 has the tenant's MAC and, at first, only its IPv6 link-local
address (EUI-64 of the MAC): no IPv4 address, so no route to 169.254.169.254. It fetches
http://[fe80::a9fe:a9fe%eth0]/:
* behind a router namespace: our rules redirect [fe80::a9fe:a9fe]:80 arriving on qr- ports to
  the listener on [::]:9697 (the guest's route to fe80::a9fe:a9fe/128 via the router's
  link-local address is the one radvd advertises under Neutron; the test adds it);
* on an isolated network, from its DHCP namespace: fe80::a9fe:a9fe/64 on the DHCP port and a
  listener bound to [fe80::a9fe:a9fe%<port>]:80 there;
* on a flat network, from `metastack api` identifying callers by their source address, listening
  on [fe80::a9fe:a9fe%flat0]:80 in a host namespace;
* in separate processes set up by hand (`net dhcp-setup`, `proxy-ctl add` of a listener on
  fe80::a9fe:a9fe%<tap>, proxy -> agent -> the API's signed listener, whose check that the
  instance owns the forwarded address accepts the guest's link-local address).
In each the caller is found by the MAC its link-local address carries (as Neutron's agent finds
it); the guest's instance, never another tenant's with the same IPv4 address. Also checked: the
EC2 tree over IPv6, cloud-init's OpenStack datasource with metadata_urls set to the IPv6 address,
and the same guest given an IPv4 address as well getting the same instance over both.

Needs root. Every namespace, process and file is named with this run's pid and removed in
cleanups that run even when an assertion fails.
"""
import ctypes
import json
import os
import pathlib
import shutil
import tempfile
import unittest

from guestnet import (PYTHON, RUN, Tenant, accepting, check, cleanup, curl, in_ns,
                      managed_config, namespace, run, veth_guest, wait_for)
from harness import Daemon, metastack_binary, unix_get

METASTACK = metastack_binary()
HERE = pathlib.Path(__file__).resolve().parent
ROUTER_NS = f'v6{RUN}r-{{id}}'
NETWORK_NS = f'v6{RUN}d-{{id}}'
DOC = '/openstack/latest/meta_data.json'
V6 = 'http://[fe80::a9fe:a9fe%25eth0]'  # curl's spelling of the zone (RFC 6874)
V4 = 'http://169.254.169.254'

# cloud-init's whole OpenStack datasource in the guest, with metadata_urls = [argv[1]].
DATASOURCE = r'''
import json, sys
sys.path.insert(0, sys.argv[2])
from api_service import cloudinit_datasource
found, ds, network = cloudinit_datasource(sys.argv[1], {sys.argv[3]: 'eth0'})
print(json.dumps({'found': found, 'uuid': ds.metadata.get('uuid') if found else None,
                  'instance_id': ds.get_instance_id() if found else None,
                  'nics': [c['name'] for c in (network or {}).get('config', [])
                           if c.get('type') == 'physical']}))
'''


def link_local(ns, dev):
    """The link-local address of `dev` in `ns` once duplicate address detection is over."""
    found = {}

    def usable():
        out = check('ip', '-n', ns, '-o', '-6', 'addr', 'show', 'dev', dev, 'scope', 'link')
        for line in out.splitlines():
            if 'tentative' not in line and 'fe80::' in line:
                found['address'] = line.split()[3].split('/')[0]
                return True
        return False
    wait_for(usable, f'the link-local address of {dev} in {ns}')
    return found['address']


def eui64(mac):
    """The EUI-64 link-local address of `mac`, as the kernel forms it."""
    b = [int(x, 16) for x in mac.split(':')]
    b[0] ^= 2
    groups = [b[0] << 8 | b[1], b[2] << 8 | 0xff, 0xfe << 8 | b[3], b[4] << 8 | b[5]]
    return 'fe80::' + ':'.join(f'{g:x}' for g in groups)


def v6_guest(tenant, ns, peer, address=None):
    """A guest namespace joined to `ns` by a veth (its end there is `peer`, up, with `address`
    if given); the guest's eth0 has the tenant's MAC and only its link-local address."""
    guest = veth_guest(f'v6g{tenant.n}-{RUN}', ns, peer, tenant.mac, address)
    address = link_local(guest, 'eth0')
    assert address == eui64(tenant.mac), (address, tenant.mac)
    return guest


def no_ipv4(guest):
    return check('ip', '-n', guest, '-o', '-4', 'addr', 'show', 'dev', 'eth0') == ''


def fetch(guest, url, path=DOC, timeout=20):
    """(status, body) of `url`+`path` from `guest` once it answers 200 (the namespace may still
    be being set up); the failure names the last answer."""
    last = {}

    def served():
        last['answer'] = curl(guest, url + path)
        return last['answer'][1] == 200
    try:
        wait_for(served, f'{guest} to be served {url}{path}', timeout=timeout)
    except AssertionError as e:
        raise AssertionError(f'{e}; last answer {last.get("answer")}; serve log:\n'
                             f'{SERVE.log_text()[-3000:]}') from None
    return last['answer'][2]


def datasource(guest, url, mac):
    r = in_ns(guest, PYTHON, '-c', DATASOURCE, url, HERE, mac,
              env={**os.environ, 'METASTACK_BIN': METASTACK})
    if r.returncode != 0:
        raise AssertionError(f'cloud-init datasource in {guest}: {r.stderr[-3000:]}')
    return json.loads(r.stdout)


def enter(ns):
    """A preexec_fn that moves the child into network namespace `ns` (setns(2))."""
    libc = ctypes.CDLL(None, use_errno=True)
    path = f'/run/netns/{ns}'

    def preexec():
        fd = os.open(path, os.O_RDONLY)
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), f'setns {path}')
        os.close(fd)
    return preexec


def setUpModule():
    global TMP, STORE, SERVE
    if os.geteuid() != 0:
        raise unittest.SkipTest('needs root (namespaces, ip6tables)')
    if not os.path.exists('/proc/sys/net/ipv6'):
        raise unittest.SkipTest('the kernel has no IPv6')
    TMP = pathlib.Path(tempfile.mkdtemp(prefix='metastack-v6-'))
    cleanup(shutil.rmtree, TMP, ignore_errors=True)
    STORE = f'sqlite:{TMP / "store.db"}'
    config = TMP / 'metastack.toml'
    config.write_text(managed_config(TMP, STORE, f'v6-{RUN}', ROUTER_NS, NETWORK_NS, 'none'))
    SERVE = Daemon(['serve', '--config', config], log=TMP / 'serve.log',
                   ready_file=TMP / 'ready.json', timeout=30).start()


def tearDownModule():
    SERVE.stop(timeout=15)


class Ipv6GuestTest(unittest.TestCase):
    def check_instance(self, guest, tenant, url):
        doc = json.loads(fetch(guest, url))
        self.assertEqual((doc['uuid'], doc['hostname']),
                         (tenant.uuid, f'{tenant.hostname}.novalocal'))
        self.assertEqual(fetch(guest, url, '/latest/meta-data/instance-id'),
                         f'i-{tenant.n:08x}')
        self.assertEqual(fetch(guest, url, '/latest/meta-data/local-hostname'),
                         f'{tenant.hostname}.novalocal')

    def test_behind_a_router(self):
        t = Tenant(1, routed=True)
        # Another tenant with the same IPv4 address behind another router: never served here.
        other = Tenant(11, routed=True)
        t.create(STORE, TMP)
        other.create(STORE, TMP)
        router = namespace(ROUTER_NS.replace('{id}', t.router))
        qr = f'qr-v6{RUN}'
        guest = v6_guest(t, router, qr)
        gateway = link_local(router, qr)
        check('ip', '-n', guest, '-6', 'route', 'add', 'fe80::a9fe:a9fe/128', 'via', gateway,
              'dev', 'eth0')
        self.assertTrue(no_ipv4(guest))
        self.check_instance(guest, t, V6)
        found = datasource(guest, 'http://[fe80::a9fe:a9fe%eth0]', t.mac)
        self.assertEqual(found, {'found': True, 'uuid': t.uuid, 'instance_id': t.uuid,
                                 'nics': ['eth0']})

        # Dual-stack: the same guest with its IPv4 address gets the same instance over both.
        check('ip', '-n', router, 'addr', 'add', '10.0.0.1/24', 'dev', qr)
        check('ip', '-n', guest, 'addr', 'add', f'{t.ip}/24', 'dev', 'eth0')
        check('ip', '-n', guest, 'route', 'add', 'default', 'via', '10.0.0.1')
        self.assertEqual(json.loads(fetch(guest, V4))['uuid'], t.uuid)
        self.assertEqual(json.loads(fetch(guest, V6))['uuid'], t.uuid)

    def test_isolated_network_dhcp_namespace(self):
        t = Tenant(2, routed=False)
        t.create(STORE, TMP)
        ns = namespace(NETWORK_NS.replace('{id}', t.network))
        tap = f'tap{RUN}'
        guest = v6_guest(t, ns, tap, '10.0.0.2/24')
        self.assertTrue(no_ipv4(guest))
        self.check_instance(guest, t, V6)
        addresses = check('ip', '-n', ns, '-o', '-6', 'addr', 'show', 'dev', tap)
        self.assertIn('fe80::a9fe:a9fe/64', addresses)
        listeners = json.loads(unix_get(TMP / 'proxy.sock', '/listeners')[1])['listeners']
        self.assertIn((f'{ns}@v6', f'fe80::a9fe:a9fe%{tap}', 80),
                      [(l['name'], l['address'], l['port']) for l in listeners])
        found = datasource(guest, 'http://[fe80::a9fe:a9fe%eth0]', t.mac)
        self.assertEqual(found, {'found': True, 'uuid': t.uuid, 'instance_id': t.uuid,
                                 'nics': ['eth0']})

        # The network attached to a router: no longer served here, the address goes too.
        router = f'a0a0{RUN}-2'
        check(METASTACK, 'router', 'create', router, '--store', STORE)
        check(METASTACK, 'network', 'set-router', t.network, router, '--store', STORE)
        wait_for(lambda: 'fe80::a9fe:a9fe' not in check('ip', '-n', ns, '-o', '-6', 'addr',
                                                        'show', 'dev', tap),
                 'the IPv6 metadata address to go')
        rc, status, _ = curl(guest, V6 + DOC, max_time=2)
        self.assertNotEqual((rc, status), (0, 200))

    def test_flat_network_source_address(self):
        t = Tenant(3, routed=False)
        t.create(STORE, TMP)
        host = namespace(f'v6h{RUN}')
        guest = v6_guest(t, host, 'flat0')
        check('ip', '-n', host, 'addr', 'add', 'fe80::a9fe:a9fe/64', 'dev', 'flat0', 'nodad')
        check('ip', '-n', host, 'addr', 'add', '169.254.169.254/32', 'dev', 'flat0')
        check('ip', '-n', host, 'addr', 'add', '10.0.0.1/24', 'dev', 'flat0')
        ready = TMP / 'flat-ready.json'
        api = Daemon(['api', '--store', STORE, '--network', t.network,
                      '--source-listen', '[fe80::a9fe:a9fe%flat0]:80',
                      '--source-listen', '169.254.169.254:80', '--ready-file', ready],
                     log=TMP / 'flat-api.log', ready_file=ready, preexec_fn=enter(host)).start()
        self.addCleanup(api.stop)
        self.assertTrue(no_ipv4(guest))
        self.check_instance(guest, t, V6)
        check('ip', '-n', guest, 'addr', 'add', f'{t.ip}/24', 'dev', 'eth0')
        check('ip', '-n', guest, 'route', 'add', '169.254.169.254/32', 'via', '10.0.0.1')
        self.assertEqual(json.loads(fetch(guest, V4))['uuid'], t.uuid)
        # A guest on the link whose MAC no port has: 404, not someone else's instance.
        check('ip', '-n', guest, 'link', 'set', 'eth0', 'down')
        check('ip', '-n', guest, 'link', 'set', 'eth0', 'address', 'fa:16:3e:77:77:77', 'up')
        link_local(guest, 'eth0')
        rc, status, _ = curl(guest, V6 + DOC)
        self.assertEqual((rc, status), (0, 404))

    def test_separate_processes_by_hand(self):
        """The operator's manual path, in separate processes: `net dhcp-setup` in a DHCP
        namespace, `proxy-ctl add` of the IPv6 listener, proxy -> agent -> signed API."""
        t = Tenant(4, routed=False)
        t.create(STORE, TMP)
        ns = namespace(f'v6m{RUN}')
        tap = f'tapm{RUN}'
        guest = v6_guest(t, ns, tap, '10.0.0.2/24')
        state = TMP / 'manual-dhcp'
        self.addCleanup(run, METASTACK, 'net', 'dhcp-teardown', '--netns', ns, '--state-dir',
                        state)
        check(METASTACK, 'net', 'dhcp-setup', '--netns', ns, '--interface', tap, '--dhcp-ip',
              '10.0.0.2', '--subnet', t.cidr, '--gateway', t.gateway, '--state-dir', state)
        self.assertIn('fe80::a9fe:a9fe/64',
                      check('ip', '-n', ns, '-o', '-6', 'addr', 'show', 'dev', tap))
        secret = TMP / 'secret'
        secret.write_text('ipv6-guests-shared-secret-0123456789\n')
        api_ready, sock, control = TMP / 'm-api.json', TMP / 'm-agent.sock', TMP / 'm-proxy.sock'
        daemons = [Daemon(['api', '--store', STORE, '--signed-listen', '127.0.0.1:0',
                           '--admin-listen', '', '--secret-file', secret, '--ready-file',
                           api_ready], log=TMP / 'm-api.log', ready_file=api_ready)]
        daemons[0].start()
        self.addCleanup(daemons[0].stop)
        api_url = f'http://127.0.0.1:{daemons[0].ports()["signed"][0]}'
        for args, log, sock_path in (
                (['agent', '--store', STORE, '--api-url', api_url, '--agent-socket', sock,
                  '--secret-file', secret], 'm-agent.log', sock),
                (['proxy', '--agent', f'unix:{sock}', '--control', control], 'm-proxy.log',
                 control)):
            d = Daemon(args, log=TMP / log, ready=lambda p=sock_path: accepting(p)).start()
            self.addCleanup(d.stop)
        for name, address in ((f'qdhcp-{t.network}', '169.254.169.254'),
                              (f'qdhcp-{t.network}-v6', f'fe80::a9fe:a9fe%{tap}')):
            check(METASTACK, 'proxy-ctl', '--control', control, 'add', '--name', name, '--netns',
                  ns, '--kind', 'network', '--id', t.network, '--address', address)
        self.assertTrue(no_ipv4(guest))
        self.check_instance(guest, t, V6)


if __name__ == '__main__':
    unittest.main()
