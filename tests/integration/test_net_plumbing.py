#!/usr/bin/python3
"""`metastack net` against the real thing: network namespaces joined by veth pairs, iptables
(nft and legacy), dnsmasq and busybox udhcpc.

Router: a guest behind a qr- interface reaches 169.254.169.254:80 (and [fe80::a9fe:a9fe]:80)
through the REDIRECT to the proxy port, and the proxy port itself is dropped, over IPv4 and over
the router's IPv6 link-local and global addresses; teardown leaves foreign rules alone.
DHCP: a guest takes a lease from the dnsmasq `dhcp-setup` starts, gets the option-121 host
route to the DHCP port and reaches a server on 169.254.169.254:80 in the DHCP namespace.

Needs root. Every namespace, process and file is created with this run's unique names and
removed in cleanups that run even when an assertion fails."""
import json
import os
import pathlib
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from harness import metastack_binary

ROOT = pathlib.Path(__file__).resolve().parents[2]
METASTACK = metastack_binary()
RUN = f'{os.getpid() % 100000:05d}'
GUEST_MAC = 'fa:16:3e:00:02:05'

# A one-answer-per-connection HTTP server: argv = host port body. Prints "ready" once listening.
SERVER = r'''
import socket, sys
host, port, body = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
family = socket.AF_INET6 if ':' in host else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if family == socket.AF_INET6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind((host, port))
s.listen(16)
print('ready', flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(5)
    try:
        data = b''
        while b'\r\n\r\n' not in data:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        c.sendall(b'HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n' % len(body) + body)
    except OSError:
        pass
    c.close()
'''

# busybox udhcpc's hook, doing what a guest's network scripts do with a lease. $staticroutes is
# option 121 as "dest/len gw dest/len gw ..." (only when asked for with -O staticroutes).
UDHCPC_SCRIPT = r'''#!/bin/sh
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip addr replace "$ip/$mask" dev "$interface"
    if [ -n "$router" ]; then ip route replace default via "${router%% *}" dev "$interface"; fi
    set -- $staticroutes
    while [ $# -ge 2 ]; do
      ip route replace "$1" via "$2" dev "$interface"
      shift 2
    done
    printf '%s\n%s\n%s\n' "$ip" "$router" "$staticroutes" > "$LEASE_OUT"
    ;;
esac
exit 0
'''


def run(*args, timeout=30, env=None):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def check(*args, **kw):
    r = run(*args, **kw)
    if r.returncode != 0:
        raise AssertionError(f'{" ".join(map(str, args))}: exit {r.returncode}: {r.stderr}')
    return r.stdout


def metastack(*args):
    return run(METASTACK, 'net', *args)


def curl(ns, url, max_time=5):
    """(exit code, body) of a GET from inside `ns`; 28 is curl's timeout."""
    r = run('ip', 'netns', 'exec', ns, 'curl', '-gsS', '--max-time', max_time, url,
            timeout=max_time + 10)
    return r.returncode, r.stdout


def backend_works(backend):
    """iptables-legacy needs the kernel's legacy tables; probe in a scratch namespace."""
    if not shutil.which(f'iptables-{backend}'):
        return False
    ns = f'msprobe{RUN}'
    if run('ip', 'netns', 'add', ns).returncode != 0:
        return False
    try:
        return all(run('ip', 'netns', 'exec', ns, f'{tool}-{backend}', '-t', 'nat', '-S').returncode
                   == 0 for tool in ('iptables', 'ip6tables'))
    finally:
        run('ip', 'netns', 'del', ns)


class NetTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest('needs root')
        tmp = tempfile.TemporaryDirectory(prefix='metastack-net-')
        self.addCleanup(tmp.cleanup)
        self.tmp = pathlib.Path(tmp.name)
        self.tmp.chmod(0o755)  # dnsmasq, as nobody, re-reads its files under here on SIGHUP
        self.state_dir = self.tmp / 'state'

    def namespace(self, role):
        name = f'ms{role}{RUN}'
        check('ip', 'netns', 'add', name)

        def remove():
            # Whatever still runs inside (a server left by a failed assertion) goes first.
            pids = run('ip', 'netns', 'pids', name).stdout.split()
            for pid in pids:
                run('kill', '-9', pid)
            run('ip', 'netns', 'del', name)
        self.addCleanup(remove)
        check('ip', '-n', name, 'link', 'set', 'lo', 'up')
        # Addresses usable at once, without duplicate address detection's wait.
        check('ip', 'netns', 'exec', name, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0',
              'net.ipv6.conf.default.accept_dad=0')
        return name

    def link(self, ns_a, name_a, ns_b, name_b):
        check('ip', 'link', 'add', name_a, 'netns', ns_a, 'type', 'veth',
              'peer', 'name', name_b, 'netns', ns_b)

    def serve(self, ns, host, port, body):
        p = subprocess.Popen(['ip', 'netns', 'exec', ns, sys.executable, '-c', SERVER,
                              host, str(port), body],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def stop():
            p.kill()
            p.wait()
            p.stdout.close()
            p.stderr.close()
        self.addCleanup(stop)
        ready, _, _ = select.select([p.stdout], [], [], 10)
        self.assertTrue(ready and p.stdout.readline().strip() == 'ready',
                        f'server did not start: {p.stderr.read() if p.poll() is not None else ""}')
        return p


V6_RULES = [
    ':metastack-PREROUTING - [0:0]',
    '-A PREROUTING -j metastack-PREROUTING',
    '-A metastack-PREROUTING -d fe80::a9fe:a9fe/128 -i qr-+ -p tcp -m tcp --dport 80 '
    '-j MARK --set-xmark 0x1/0xffff',
    ':metastack-PREROUTING - [0:0]',
    '-A PREROUTING -j metastack-PREROUTING',
    '-A metastack-PREROUTING -d fe80::a9fe:a9fe/128 -i qr-+ -p tcp -m tcp --dport 80 '
    '-j REDIRECT --to-ports 9697',
    ':metastack-FORWARD - [0:0]',
    ':metastack-INPUT - [0:0]',
    ':metastack-scope - [0:0]',
    '-A INPUT -j metastack-INPUT',
    '-A FORWARD -j metastack-FORWARD',
    '-A metastack-FORWARD -j metastack-scope',
    '-A metastack-INPUT -m mark --mark 0x1/0xffff -j ACCEPT',
    '-A metastack-INPUT -p tcp -m tcp --dport 9697 -j DROP',
    '-A metastack-scope -m mark --mark 0x1/0xffff -j DROP',
]
V4_RULES = [r.replace('fe80::a9fe:a9fe/128', '169.254.169.254/32') for r in V6_RULES]


class RouterTest(NetTest):
    def ours(self, router, tool):
        saved = check('ip', 'netns', 'exec', router, f'{tool}-save')
        return sorted(line for line in saved.splitlines() if 'metastack' in line)

    def router_case(self, backend):
        guest, router = self.namespace('g'), self.namespace('r')
        qr = f'qr-{RUN}'
        self.link(guest, 'eth0', router, qr)
        check('ip', '-n', router, 'addr', 'add', '10.50.0.1/24', 'dev', qr)
        for addr in ('fe80::1/64', 'fd50::1/64'):
            check('ip', '-n', router, 'addr', 'add', addr, 'dev', qr, 'nodad')
        check('ip', '-n', router, 'link', 'set', qr, 'up')
        check('ip', '-n', guest, 'addr', 'add', '10.50.0.5/24', 'dev', 'eth0')
        for addr in ('fe80::5/64', 'fd50::5/64'):
            check('ip', '-n', guest, 'addr', 'add', addr, 'dev', 'eth0', 'nodad')
        check('ip', '-n', guest, 'link', 'set', 'eth0', 'up')
        check('ip', '-n', guest, 'route', 'add', 'default', 'via', '10.50.0.1')
        # The guest reaches fe80::a9fe:a9fe through the router, as Neutron's router answers
        # neighbour discovery for it.
        mac = json.loads(check('ip', '-n', router, '-j', 'link', 'show', qr))[0]['address']
        check('ip', '-n', guest, '-6', 'neigh', 'add', 'fe80::a9fe:a9fe', 'lladdr', mac,
              'dev', 'eth0', 'nud', 'permanent')
        for tool in ('iptables', 'ip6tables'):
            ipt = ('ip', 'netns', 'exec', router, f'{tool}-{backend}')
            check(*ipt, '-A', 'INPUT', '-p', 'tcp', '--dport', '7777', '-j', 'ACCEPT')
            check(*ipt, '-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '--dport', '8888',
                  '-j', 'REDIRECT', '--to-ports', '9999')
        self.serve(router, '::', 9697, 'router-ok')
        direct = ['http://10.50.0.1:9697/', 'http://[fe80::1%25eth0]:9697/',
                  'http://[fd50::1]:9697/']

        for url in direct:
            self.assertEqual(curl(guest, url), (0, 'router-ok'), url)
        self.assertNotEqual(curl(guest, 'http://169.254.169.254/', max_time=2)[0], 0)

        for _ in range(2):  # idempotent
            r = metastack('router-setup', '--netns', router, '--backend', backend)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, f'netns {router}: metadata rules installed '
                                       f'(iptables-{backend}, 169.254.169.254:80 and '
                                       '[fe80::a9fe:a9fe]:80 -> port 9697)\n')
        self.assertEqual(self.ours(router, f'iptables-{backend}'), sorted(V4_RULES))
        self.assertEqual(self.ours(router, f'ip6tables-{backend}'), sorted(V6_RULES))

        for url in ('http://169.254.169.254/', 'http://[fe80::a9fe:a9fe%25eth0]/'):
            start = time.monotonic()
            self.assertEqual(curl(guest, url), (0, 'router-ok'), url)
            self.assertLess(time.monotonic() - start, 2)
        for url in direct:
            code, _ = curl(guest, url, max_time=2)
            self.assertEqual(code, 28, f'a direct connection to the proxy port must be dropped: {url}')

        listed = json.loads(metastack('list', '--netns', router, '--json').stdout)
        self.assertEqual([b['backend'] for b in listed[router]['router']], [backend])
        rules = listed[router]['router'][0]['rules']
        self.assertEqual([sum(r['family'] == f for r in rules) for f in ('ipv4', 'ipv6')], [15, 15])
        self.assertIsNone(listed[router]['dhcp'])
        shown = metastack('list', '--netns', router).stdout
        self.assertIn(f'netns {router}: router metadata rules (iptables-{backend})\n', shown)
        self.assertIn(f'netns {router}: router metadata rules (ip6tables-{backend})\n', shown)

        r = metastack('router-teardown', '--netns', router)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f'netns {router}: removed 30 chains and rules '
                                   f'(iptables-{backend})\n')
        for tool in ('iptables', 'ip6tables'):
            saved = check('ip', 'netns', 'exec', router, f'{tool}-{backend}-save')
            self.assertNotIn('metastack', saved)
            self.assertIn('-A INPUT -p tcp -m tcp --dport 7777 -j ACCEPT', saved)
            self.assertIn('-A PREROUTING -p tcp -m tcp --dport 8888 -j REDIRECT --to-ports 9999',
                          saved)
        for url in direct:
            self.assertEqual(curl(guest, url), (0, 'router-ok'), url)
        r = metastack('router-teardown', '--netns', router)
        self.assertEqual(r.stdout, f'netns {router}: no metadata rules to remove\n')

    def test_router_nft(self):
        if not backend_works('nft'):
            self.skipTest('iptables-nft does not work here')
        self.router_case('nft')

    def test_router_legacy(self):
        if not backend_works('legacy'):
            self.skipTest('iptables-legacy does not work on this kernel')
        self.router_case('legacy')

    def test_errors_are_reported(self):
        r = metastack('router-setup', '--netns', f'msnone{RUN}')
        self.assertEqual((r.returncode, r.stderr),
                         (1, f'metastack: netns msnone{RUN}: no such namespace\n'))
        r = metastack('router-setup', '--netns', 'x', '--interface-prefix', 'qr+')
        self.assertEqual(r.stderr, 'metastack: interface_prefix: 1-14 of A-Z a-z 0-9 _ . -\n')
        r = metastack('router-setup')
        self.assertEqual(r.returncode, 2)
        self.assertIn('--netns is required', r.stderr)
        r = run(METASTACK, 'net', '--help')
        for verb in ('router-setup', 'router-teardown', 'dhcp-setup', 'dhcp-teardown', 'list'):
            self.assertIn(verb, r.stdout)


class DhcpTest(NetTest):
    def topology(self):
        guest, dhcp = self.namespace('g'), self.namespace('d')
        tap = f'tap{RUN}'
        self.link(guest, 'eth0', dhcp, tap)
        check('ip', '-n', guest, 'link', 'set', 'eth0', 'address', GUEST_MAC)
        check('ip', '-n', guest, 'link', 'set', 'eth0', 'up')
        check('ip', '-n', dhcp, 'addr', 'add', '10.60.0.2/24', 'dev', tap)
        check('ip', '-n', dhcp, 'link', 'set', tap, 'up')
        self.addCleanup(metastack, 'dhcp-teardown', '--netns', dhcp, '--state-dir', self.state_dir)
        return guest, dhcp, tap

    def setup_args(self, dhcp, tap):
        return ('dhcp-setup', '--netns', dhcp, '--interface', tap, '--dhcp-ip', '10.60.0.2',
                '--subnet', '10.60.0.0/24', '--gateway', '10.60.0.1',
                '--state-dir', self.state_dir)

    def lease(self, guest):
        """Runs udhcpc in the guest; returns (ip, router, staticroutes) it applied."""
        script = self.tmp / 'udhcpc.sh'
        script.write_text(UDHCPC_SCRIPT)
        script.chmod(0o755)
        out = self.tmp / 'lease'
        env = dict(os.environ, LEASE_OUT=str(out))
        start = time.monotonic()
        r = run('ip', 'netns', 'exec', guest, 'udhcpc', '-i', 'eth0', '-O', 'staticroutes',
                '-f', '-q', '-n', '-t', '5', '-T', '1', '-s', script, env=env, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(time.monotonic() - start, 10)
        return tuple(out.read_text().splitlines())

    def assert_guest_routes(self, guest, ip):
        routes = [line.strip() for line in check('ip', '-n', guest, '-4', 'route').splitlines()]
        self.assertIn('default via 10.60.0.1 dev eth0', routes)
        self.assertIn('169.254.169.254 via 10.60.0.2 dev eth0', routes)
        self.assertIn(f'10.60.0.0/24 dev eth0 proto kernel scope link src {ip}', routes)

    def test_dnsmasq_pushes_the_metadata_route(self):
        guest, dhcp, tap = self.topology()
        r = metastack(*self.setup_args(dhcp, tap), '--start-dnsmasq',
                      '--host', f'{GUEST_MAC},10.60.0.5,host-10-60-0-5')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('address 169.254.169.254/32: added by metastack', r.stdout)
        again = metastack(*self.setup_args(dhcp, tap), '--start-dnsmasq',
                          '--host', f'{GUEST_MAC},10.60.0.5,host-10-60-0-5')
        self.assertEqual(again.stdout, r.stdout, 'setup again: same dnsmasq, same state')
        listed = json.loads(metastack('list', '--netns', dhcp, '--json',
                                      '--state-dir', self.state_dir).stdout)[dhcp]
        pid = listed['dhcp']['dnsmasq_pid']
        self.assertGreater(pid, 0)
        self.assertTrue(listed['dhcp']['address_added'])
        self.assertEqual(listed['router'], [])
        addrs = check('ip', '-n', dhcp, '-o', '-4', 'addr', 'show', 'dev', tap)
        self.assertEqual(addrs.count('169.254.169.254/32'), 1)

        self.assertEqual(self.lease(guest), (
            '10.60.0.5', '10.60.0.1', '169.254.169.254/32 10.60.0.2 0.0.0.0/0 10.60.0.1'))
        self.assert_guest_routes(guest, '10.60.0.5')
        self.serve(dhcp, '169.254.169.254', 80, 'dhcp-ok')
        self.assertEqual(curl(guest, 'http://169.254.169.254/'), (0, 'dhcp-ok'))

        r = metastack('dhcp-teardown', '--netns', dhcp, '--state-dir', self.state_dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f'netns {dhcp}: dhcp metadata removed (stopped dnsmasq pid {pid})\n')
        cmdline = pathlib.Path(f'/proc/{pid}/cmdline')
        self.assertFalse(cmdline.exists() and cmdline.read_bytes(), 'dnsmasq still running')
        self.assertNotIn('169.254.169.254', check('ip', '-n', dhcp, '-o', 'addr'))
        self.assertFalse((self.state_dir / dhcp).exists())
        self.assertNotEqual(curl(guest, 'http://169.254.169.254/', max_time=2)[0], 0)

    def test_conf_dir_for_a_dnsmasq_we_do_not_run(self):
        guest, dhcp, tap = self.topology()
        conf = self.tmp / 'dnsmasq.d'
        conf.mkdir()
        r = metastack(*self.setup_args(dhcp, tap), '--conf-dir', conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        written = conf / f'metastack-{dhcp}.conf'
        self.assertEqual(written.read_text(), (
            f'# metastack net dhcp-setup --netns {dhcp}; removed by dhcp-teardown\n'
            f'dhcp-option=tag:{tap},option:classless-static-route,169.254.169.254/32,10.60.0.2,'
            '0.0.0.0/0,10.60.0.1\n'
            f'dhcp-option=tag:{tap},249,169.254.169.254/32,10.60.0.2,0.0.0.0/0,10.60.0.1\n'
            f'dhcp-option=tag:{tap},option:router,10.60.0.1\n'))
        # The operator's own dnsmasq, with a dynamic range, reading that directory.
        pidfile = self.tmp / 'theirs.pid'
        check('ip', 'netns', 'exec', dhcp, '/usr/sbin/dnsmasq', '--conf-file=/dev/null',
              f'--conf-dir={conf}', '--port=0', '--no-hosts', '--no-resolv', '--bind-dynamic',
              f'--interface={tap}', '--dhcp-range=10.60.0.50,10.60.0.60,255.255.255.0,1h',
              f'--pid-file={pidfile}', f'--dhcp-leasefile={self.tmp / "theirs.leases"}')
        self.addCleanup(lambda: run('kill', pidfile.read_text().strip()))
        ip, router, routes = self.lease(guest)
        self.assertTrue(ip.startswith('10.60.0.'), ip)
        self.assertEqual(routes, '169.254.169.254/32 10.60.0.2 0.0.0.0/0 10.60.0.1')
        self.assert_guest_routes(guest, ip)

        r = metastack('dhcp-teardown', '--netns', dhcp, '--state-dir', self.state_dir)
        self.assertEqual(r.stdout, f'netns {dhcp}: dhcp metadata removed\n')
        self.assertEqual(os.listdir(conf), [])

    def test_dhcp_errors_are_reported(self):
        guest, dhcp, tap = self.topology()
        r = metastack(*self.setup_args(dhcp, tap), '--start-dnsmasq')
        self.assertEqual((r.returncode, r.stderr), (1, 'metastack: hosts: a static range hands '
                                                       'out nothing without hosts; give hosts or '
                                                       'a range\n'))
        r = metastack('dhcp-setup', '--netns', dhcp, '--interface', tap, '--dhcp-ip', '10.60.0.3',
                      '--subnet', '10.60.0.0/24', '--gateway', '10.60.0.1',
                      '--state-dir', self.state_dir)
        self.assertEqual(r.stderr, f'metastack: dhcp_ip: {tap} in netns {dhcp} does not have '
                                   'address 10.60.0.3\n')
        r = metastack(*self.setup_args(dhcp, tap), '--host', f'{GUEST_MAC},10.60.0.5')
        self.assertEqual(r.returncode, 2)
        self.assertIn('--host requires --start-dnsmasq', r.stderr)
        r = metastack('dhcp-teardown', '--netns', dhcp, '--state-dir', self.state_dir)
        self.assertEqual(r.stdout, f'netns {dhcp}: no dhcp metadata recorded\n')


if __name__ == '__main__':
    unittest.main(verbosity=2)
