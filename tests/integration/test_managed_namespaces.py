#!/usr/bin/python3
"""`metastack serve --manage`: the namespaces served from the store, as an operator runs it.

Run:  /usr/bin/python3 tests/integration/test_managed_namespaces.py --metastack BINARY

One `serve` started with --manage before anything exists, on a SQLite file; routers, networks
and instances created through the admin API (the CLI with --url --token-file) or by the CLI
directly on the same file (--store: the change feed crosses processes); real namespaces (named
by formats that carry this run's pid), real iptables and dnsmasq, a guest namespace behind each
router or DHCP namespace that fetches /openstack/latest/meta_data.json from 169.254.169.254.
Checked:
* a router created after start, its namespace after that: served (rules, listener), the guest
  fetches its document; the namespace deleted: the listener goes; re-created: it comes back;
  the router deleted: none of our rules remain and the listener goes;
* the reverse order (namespace first, router later), with the CLI on the SQLite file;
* an isolated network's DHCP namespace: 169.254.169.254/32 on the DHCP port, a dnsmasq with
  the port's static host and option 121 in its opts file, refreshed when a port is added; a
  guest with a static address and a host route fetches its document;
* a restart of serve: nothing duplicated (each rule listed once), still serving;
* a broken DHCP namespace (no IPv4 interface) reported once and counted, the others served; a
  router of another host not served, and served once assigned here.

Needs root. Every namespace, process and file is named with this run's pid and removed in
cleanups that run even when an assertion fails.
"""
import json
import os
import pathlib
import re
import shutil
import tempfile
import time
import unittest
import urllib.request

import guestnet
from guestnet import RUN, Tenant, check, cleanup, curl, run
from harness import Daemon, metastack_binary, unix_get

METASTACK = metastack_binary()
HOST = f'node-{RUN}'
ROUTER_NS = f'mm{RUN}r-{{id}}'
NETWORK_NS = f'mm{RUN}d-{{id}}'
DOC = '/openstack/latest/meta_data.json'
METADATA = f'http://169.254.169.254{DOC}'


def router_ns(router):
    return ROUTER_NS.replace('{id}', router)


def network_ns(network):
    return NETWORK_NS.replace('{id}', network)


def wait_for(predicate, what, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f'timed out waiting for {what}; serve log:\n{SERVE.log_text()[-4000:]}')


def namespace(name):
    """`ip netns add NAME`, removed at the end of the module (if still there)."""
    check('ip', 'netns', 'add', name)
    cleanup(remove_namespace, name)
    check('ip', '-n', name, 'link', 'set', 'lo', 'up')
    return name


def remove_namespace(name):
    for pid in run('ip', 'netns', 'pids', name).stdout.split():
        run('kill', '-9', pid)
    run('ip', 'netns', 'del', name)


def guest_behind(tenant, ns, peer, address, route):
    """A guest namespace joined to `ns` by a veth whose end in `ns` is `peer` (with `address`);
    the guest gets the tenant's MAC and IP and `route` (ip route add ARGS...)."""
    guest = guestnet.veth_guest(f'mmg{tenant.n}-{RUN}', ns, peer, tenant.mac, address)
    check('ip', '-n', guest, 'addr', 'add', f'{tenant.ip}/24', 'dev', 'eth0')
    check('ip', '-n', guest, 'route', 'add', *route)
    return guest


def router_namespace(tenant):
    """The router's namespace (as Neutron's L3 agent makes it) and a guest behind a qr- port."""
    ns = namespace(router_ns(tenant.router))
    guest = guest_behind(tenant, ns, f'qr-{tenant.n}{RUN}', '10.0.0.1/24',
                         ['default', 'via', '10.0.0.1'])
    return ns, guest


def dhcp_namespace(tenant, with_address=True):
    """The network's DHCP namespace with its tap port 10.0.0.2/24 (or no address at all), and a
    guest whose static address reaches 169.254.169.254 via the DHCP port (option 121's route)."""
    ns = namespace(network_ns(tenant.network))
    cleanup(run, METASTACK, 'net', 'dhcp-teardown', '--netns', ns, '--state-dir', STATE_DIR)
    guest = guest_behind(tenant, ns, f'tap{tenant.n}{RUN}',
                         '10.0.0.2/24' if with_address else None,
                         ['169.254.169.254/32', 'via', '10.0.0.2'])
    return ns, guest


def our_rules(ns):
    """The lines of ours in the namespace's IPv4 and IPv6 tables, as iptables-save prints them,
    each prefixed with its tool and table ("iptables-save nat: -A PREROUTING ...")."""
    lines = []
    for tool in ('iptables-save', 'ip6tables-save'):
        table = ''
        for line in run('ip', 'netns', 'exec', ns, tool).stdout.splitlines():
            if line.startswith('*'):
                table = line[1:]
            elif 'metastack' in line:
                lines.append(f'{tool} {table}: {line}')
    return lines


def listeners():
    answer = unix_get(CONTROL, '/listeners')
    return {l['name']: l for l in json.loads(answer[1])['listeners']} if answer else {}


def http_get(port, path):
    with urllib.request.urlopen(f'http://127.0.0.1:{port}{path}', timeout=5) as r:
        return r.read().decode()


def metric(name, labels):
    text = http_get(SERVE.ports()['ops'], '/metrics')
    series = name + ('{' + labels + '}' if labels else '')
    m = re.search(r'^' + re.escape(series) + r' (\S+)$', text, re.M)
    return float(m.group(1)) if m else None


def resyncs():
    return metric('metastack_managed_resyncs_total', '') or 0


def after_resyncs(n):
    """Waits until the manager has made `n` more full resyncs (it has looked at everything)."""
    start = resyncs()
    wait_for(lambda: resyncs() >= start + n, f'{n} resyncs')


def cli(*args):
    """The CLI against serve's admin API."""
    return check(METASTACK, *args, '--url', f'http://127.0.0.1:{SERVE.ports()["admin"]}',
                 '--token-file', TOKEN)


def create_instance(tenant, direct=False):
    path = TMP / f'instance-{tenant.n}.json'
    path.write_text(json.dumps(tenant.doc))
    if direct:
        check(METASTACK, 'instance', 'create', '-f', path, '--store', STORE)
    else:
        cli('instance', 'create', '-f', path)


def fetches_own_document(guest, tenant):
    rc, status, body = curl(guest, METADATA)
    return rc == 0 and status == 200 and json.loads(body)['uuid'] == tenant.uuid


def start_serve():
    global SERVE
    SERVE = Daemon(['serve', '--config', CONFIG], log=TMP / 'serve.log', ready_file=READY,
                   timeout=30)
    SERVE.start()


def setUpModule():
    global TMP, STORE, TOKEN, CONTROL, READY, CONFIG, STATE_DIR
    if os.geteuid() != 0:
        raise unittest.SkipTest('needs root (namespaces, iptables, dnsmasq)')
    TMP = pathlib.Path(tempfile.mkdtemp(prefix='metastack-managed-'))
    TMP.chmod(0o755)  # dnsmasq, as nobody, re-reads its files under here on SIGHUP
    cleanup(shutil.rmtree, TMP, ignore_errors=True)
    STORE = f'sqlite:{TMP / "store.db"}'
    TOKEN = TMP / 'token'
    TOKEN.write_text('managed-test-token-0123456789\n')
    CONTROL = TMP / 'proxy.sock'  # these three as guestnet.managed_config names them
    READY = TMP / 'ready.json'
    STATE_DIR = TMP / 'dhcp'
    CONFIG = TMP / 'metastack.toml'
    CONFIG.write_text(guestnet.managed_config(
        TMP, STORE, HOST, ROUTER_NS, NETWORK_NS, 'dnsmasq',
        admin=f'\n[admin]\nlisten = "127.0.0.1:0"\ntoken-file = "{TOKEN}"\n'))
    start_serve()


def tearDownModule():
    """Before the module's cleanups: serve stops first, then each DHCP namespace's dnsmasq is
    torn down and the namespaces deleted, so nothing it would still act on goes under it."""
    SERVE.stop(timeout=15)


class ManagedTest(unittest.TestCase):
    def test_1_router_then_namespace_then_delete(self):
        """The operator's order: serve runs, the router is created, then its namespace."""
        t = Tenant(1, routed=True)
        name = router_ns(t.router)
        cli('router', 'create', t.router, '--project', t.project)
        cli('network', 'create', t.network, '--router', t.router)
        create_instance(t)
        self.assertNotIn(name, listeners())  # no namespace yet: nothing to serve

        ns, guest = router_namespace(t)
        wait_for(lambda: name in listeners(), f'the listener in {ns}')
        self.assertEqual(listeners()[name]['origin'], 'managed')
        self.assertEqual(listeners()[name]['port'], 9697)
        self.assertTrue(our_rules(ns))
        wait_for(lambda: fetches_own_document(guest, t), 'the guest to fetch its document')

        # proxy-ctl cannot close it: it follows the store.
        r = run(METASTACK, 'proxy-ctl', '--control', CONTROL, 'remove', name)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('namespace manager', r.stderr)

        # The namespace goes: so does the listener (it would hold the namespace alive).
        remove_namespace(ns)
        wait_for(lambda: name not in listeners(), 'the listener to close with its namespace')
        # It comes back, and is served again.
        remove_namespace(guest)
        ns, guest = router_namespace(t)
        wait_for(lambda: name in listeners(), 'the listener in the new namespace')
        wait_for(lambda: fetches_own_document(guest, t), 'the guest to fetch again')

        # The router deleted: no rule of ours left, listener closed; the guest gets nothing.
        cli('instance', 'delete', t.uuid)
        cli('network', 'delete', t.network)
        cli('router', 'delete', t.router)
        wait_for(lambda: name not in listeners(), 'the listener to close with its router')
        wait_for(lambda: not our_rules(ns), 'the rules to go')
        rc, _, _ = curl(guest, METADATA, max_time=2)
        self.assertNotEqual(rc, 0)

    def test_2_namespace_then_router_by_the_cli_on_the_file(self):
        """The reverse order; the store edited by another process (the feed crosses them)."""
        t = Tenant(2, routed=True)
        name = router_ns(t.router)
        ns, guest = router_namespace(t)
        after_resyncs(2)  # a namespace nobody asked for is not served
        self.assertNotIn(name, listeners())
        self.assertFalse(our_rules(ns))
        t.create(STORE, TMP)  # router, network, instance with --store on serve's file
        wait_for(lambda: name in listeners(), f'the listener in {ns}')
        wait_for(lambda: fetches_own_document(guest, t), 'the guest to fetch its document')

    def test_3_isolated_network(self):
        """A network without a router: its DHCP namespace, with our dnsmasq."""
        t = Tenant(3, routed=False)
        name = network_ns(t.network)
        cli('network', 'create', t.network)
        create_instance(t)
        ns, guest = dhcp_namespace(t)
        wait_for(lambda: name in listeners(), f'the listener in {ns}')
        listener = listeners()[name]
        self.assertEqual((listener['kind'], listener['address'], listener['port']),
                         ('network', '169.254.169.254', 80))
        addresses = check('ip', '-n', ns, '-o', '-4', 'addr', 'show', 'dev', f'tap{t.n}{RUN}')
        self.assertIn('169.254.169.254/32', addresses)
        files = STATE_DIR / ns
        self.assertEqual((files / 'host').read_text(), f'{t.mac},{t.ip}\n')
        opts = (files / 'opts').read_text()
        self.assertIn('option:classless-static-route,169.254.169.254/32,10.0.0.2,0.0.0.0/0,'
                      '10.0.0.1', opts)
        pid = int((files / 'pid').read_text())
        self.assertIn(f'--pid-file={files / "pid"}',
                      pathlib.Path(f'/proc/{pid}/cmdline').read_text().replace('\0', ' '))
        wait_for(lambda: fetches_own_document(guest, t), 'the guest to fetch its document')

        # A second guest's port on the network: its host line is added, same dnsmasq.
        other = Tenant(33, routed=False, ip='10.0.0.6', behind=t)
        create_instance(other, direct=True)
        wait_for(lambda: f'{other.mac},10.0.0.6' in (files / 'host').read_text(),
                 'the new port in the hosts file')
        self.assertEqual(int((files / 'pid').read_text()), pid)

        # The network attached to a router: not isolated any more, so no longer served here.
        router = f'a0a0{RUN}-3'
        cli('router', 'create', router)
        cli('network', 'set-router', t.network, router)
        wait_for(lambda: name not in listeners(), 'the DHCP listener to close')
        wait_for(lambda: not files.exists(), 'the DHCP setup to be undone')
        self.assertNotIn('169.254.169.254/32',
                         check('ip', '-n', ns, '-o', '-4', 'addr', 'show'))
        self.assertFalse(pathlib.Path(f'/proc/{pid}').exists() and
                         'dnsmasq' in pathlib.Path(f'/proc/{pid}/cmdline').read_text())

    def test_4_restart_duplicates_nothing(self):
        t = Tenant(4, routed=True)
        name = router_ns(t.router)
        t.create(STORE, TMP)
        ns, guest = router_namespace(t)
        wait_for(lambda: name in listeners(), f'the listener in {ns}')
        before = our_rules(ns)
        self.assertEqual(len(before), len(set(before)))
        SERVE.stop(timeout=15)
        self.assertEqual(our_rules(ns), before)  # left in place across the restart
        start_serve()
        wait_for(lambda: name in listeners(), 'the listener after the restart')
        after = our_rules(ns)
        self.assertEqual(sorted(after), sorted(before))  # reinstalled over, each line once
        wait_for(lambda: fetches_own_document(guest, t), 'the guest to fetch after the restart')

    def test_5_broken_namespace_and_other_hosts(self):
        broken = Tenant(5, routed=False)
        cli('network', 'create', broken.network)
        bad_ns, _ = dhcp_namespace(broken, with_address=False)  # no IPv4 address on its port
        foreign = Tenant(6, routed=True)
        cli('router', 'create', foreign.router, '--host', f'elsewhere-{RUN}')
        foreign_ns = namespace(router_ns(foreign.router))
        good = Tenant(7, routed=True)
        good.create(STORE, TMP)
        good_ns, guest = router_namespace(good)
        wait_for(lambda: fetches_own_document(guest, good), 'the good router to be served')

        failures = lambda: metric('metastack_managed_failures_total', 'kind="network"') or 0
        wait_for(lambda: failures() >= 3, 'the broken namespace to be retried at resyncs')
        error = (f'network {broken.network} (netns {bad_ns}): netns {bad_ns}: no interface '
                 'named tap* has an IPv4 address')
        self.assertEqual(SERVE.log_text().count(error), 1, SERVE.log_text()[-3000:])
        health = json.loads(http_get(SERVE.ports()['ops'], '/healthz'))
        self.assertEqual(health['managed']['host'], HOST)
        self.assertGreaterEqual(health['managed']['failed'], 1)
        self.assertEqual(metric('metastack_managed_namespaces', 'kind="network",state="failed"'),
                         1)
        self.assertNotIn(network_ns(broken.network), listeners())

        # Another host's router: nothing in its namespace, until it is assigned here.
        after_resyncs(1)
        self.assertNotIn(router_ns(foreign.router), listeners())
        self.assertFalse(our_rules(foreign_ns))
        cli('router', 'set-host', foreign.router, HOST)
        wait_for(lambda: router_ns(foreign.router) in listeners(), 'the router assigned here')
        self.assertTrue(our_rules(foreign_ns))
        cli('router', 'set-host', foreign.router, f'elsewhere-{RUN}')
        wait_for(lambda: router_ns(foreign.router) not in listeners(), 'the router moved away')
        wait_for(lambda: not our_rules(foreign_ns), 'its rules to go')
        self.assertTrue(fetches_own_document(guest, good))

        # The broken namespace repaired: served at the next resync.
        check('ip', '-n', bad_ns, 'addr', 'add', '10.0.0.2/24', 'dev', f'tap{broken.n}{RUN}')
        wait_for(lambda: network_ns(broken.network) in listeners(), 'the repaired namespace')
        self.assertIn(f'serving network {broken.network} (netns {bad_ns}) again',
                      SERVE.log_text())


if __name__ == '__main__':
    unittest.main(verbosity=2)
