#!/usr/bin/python3
"""Per-instance request rate limits, end to end: a guest over its rate gets the API's 429 with
Retry-After through the ns-proxy and the metadata agent.

Run:  /usr/bin/python3 tests/integration/test_rate_limit.py --metastack BINARY

No namespaces: the proxy's listeners sit in this namespace on 127.0.0.1 and ::1 (port 0), as
a DHCP-namespace listener for one network, so this process is the guest. The instance owns
both 127.0.0.1 and ::1 on that network; a second instance owns 127.0.0.2. The API allows a
burst of 3 and then one request per 1000 s, so the fourth request is refused with
`Retry-After: 1000` (the test runs for well under a second of that). Checked twice: with
`metastack api`, `agent` and `proxy` as separate processes on one SQLite file, and with
`metastack serve` alone. With separate processes, the proxy's per-(listener, address)
connection limit is checked too: an address at its limit behind one listener is still served
behind another.
"""
import http.client
import json
import pathlib
import socket
import subprocess
import tempfile
import unittest

from harness import Daemon, metastack_binary, network_instance

METASTACK = metastack_binary()

NETWORK = '5e1f0000-0000-4000-8000-00000000a001'
GUEST = '5e1f0000-0000-4000-8000-00000000b001'  # 127.0.0.1 and ::1
OTHER = '5e1f0000-0000-4000-8000-00000000b002'  # 127.0.0.2
RATE = ['--rate-limit', '0.001', '--rate-burst', '3']
TOO_MANY = (b'429 Too Many Requests\n\nThe client has sent too many requests in a given amount '
            b'of time.\n\n   ')
PATH = '/latest/meta-data/instance-id'
PER_ADDRESS = 3  # the proxy's --max-connections-per-address


def check(*args):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f'{" ".join(map(str, args))}: exit {r.returncode}: {r.stderr}')
    return r.stdout


def unix_get(path, target):
    """GET over a UNIX socket (the proxy's control API) -> (status, body) or None."""
    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(str(path))
    c = Conn('localhost', timeout=5)
    try:
        c.request('GET', target)
        r = c.getresponse()
        return r.status, r.read()
    except OSError:
        return None
    finally:
        c.close()


def get(host, port, source=None):
    c = http.client.HTTPConnection(host, port, timeout=5,
                                   source_address=(source, 0) if source else None)
    try:
        c.request('GET', PATH)
        r = c.getresponse()
        return r.status, r.getheader('Retry-After'), r.read()
    finally:
        c.close()


def metric(text, name):
    return sum(float(line.rsplit(' ', 1)[1]) for line in text.splitlines()
               if line.startswith(name + ' ') or line.startswith(name + '{'))


class Chain:
    """The processes of one deployment mode, their logs in a temporary directory."""

    def __init__(self, tmp):
        self.tmp, self.daemons = tmp, []

    def start(self, name, *args, ready_file=None, ready=None):
        """Starts `metastack ARGS` and waits until it is ready (see harness.Daemon)."""
        daemon = Daemon(args, log=self.tmp / f'{name}.log', ready_file=ready_file, ready=ready,
                        timeout=10)
        self.daemons.append(daemon)
        return daemon.start()

    def stop(self):
        for d in reversed(self.daemons):
            d.stop(timeout=5)


class RateLimitThroughTheChain:
    """The checks, for any deployment mode that sets self.ports (v4, v6) and self.metrics()."""

    def test_429_with_retry_after_reaches_the_guest(self):
        v4, v6 = self.ports
        self.assertEqual(get('127.0.0.1', v4), (200, None, b'i-0000b001'))
        self.assertEqual(get('::1', v6), (200, None, b'i-0000b001'))
        self.assertEqual(get('127.0.0.1', v4), (200, None, b'i-0000b001'))
        # The fourth, over IPv6 or IPv4: one instance, one bucket.
        self.assertEqual(get('::1', v6), (429, '1000', TOO_MANY))
        self.assertEqual(get('127.0.0.1', v4), (429, '1000', TOO_MANY))
        # Another instance on the same network and listener is unaffected.
        self.assertEqual(get('127.0.0.1', v4, source='127.0.0.2'), (200, None, b'i-0000b002'))
        self.assertEqual(metric(self.metrics(), 'metastack_api_rate_limited_total'), 2)


def setUpModule():
    global TMP, STORE, SECRET
    TMP = pathlib.Path(tempfile.mkdtemp(prefix='metastack-ratelimit-'))
    unittest.addModuleCleanup(lambda: subprocess.run(['rm', '-rf', str(TMP)]))
    STORE = f'sqlite:{TMP / "store.db"}'
    SECRET = TMP / 'secret'
    SECRET.write_text('rate-limit-test-secret\n')
    check(METASTACK, 'network', 'create', NETWORK, '--store', STORE)
    for uuid, ec2_id, addresses in ((GUEST, 'i-0000b001', [('127.0.0.0/8', '127.0.0.1'),
                                                            ('::1/128', '::1')]),
                                    (OTHER, 'i-0000b002', [('127.0.0.0/8', '127.0.0.2')])):
        path = TMP / f'{uuid}.json'
        path.write_text(json.dumps(network_instance(uuid, ec2_id, NETWORK, addresses, 'rl')))
        check(METASTACK, 'instance', 'create', '-f', path, '--store', STORE)


def listen_flags(prefix):
    return ['--listen', f'{prefix}4,,network,{NETWORK},127.0.0.1,0',
            '--listen', f'{prefix}6,,network,{NETWORK},::1,0']


def listener_ports(listeners, prefix):
    by_name = {l['name']: l['port'] for l in listeners}
    return by_name[f'{prefix}4'], by_name[f'{prefix}6']


class SeparateProcessesTest(RateLimitThroughTheChain, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tmp = TMP / 'separate'
        tmp.mkdir()
        cls.chain = Chain(tmp)
        cls.addClassCleanup(cls.chain.stop)
        ready = tmp / 'api.ready'
        ports = cls.chain.start('api', 'api', '--store', STORE, '--signed-listen', '127.0.0.1:0',
                                '--admin-listen', '127.0.0.1:0', '--secret-file', SECRET,
                                '--ready-file', ready, '--threads', 1, *RATE,
                                ready_file=ready).ports()
        cls.admin = ports['admin']
        agent_sock = tmp / 'agent.sock'
        cls.chain.start('agent', 'agent', '--store', STORE, '--api-url',
                        f'http://127.0.0.1:{ports["signed"][0]}', '--agent-socket', agent_sock,
                        '--secret-file', SECRET, '--threads', 1, ready=agent_sock.exists)
        control = tmp / 'proxy.sock'
        cls.chain.start('proxy', 'proxy', '--agent', f'unix:{agent_sock}', '--control', control,
                        '--threads', 1, *listen_flags('rl'),
                        '--listen', f'other,,network,{NETWORK},127.0.0.1,0',
                        '--max-connections-per-address', PER_ADDRESS,
                        ready=lambda: unix_get(control, '/listeners'))
        cls.control = control
        listeners = json.loads(unix_get(control, '/listeners')[1])['listeners']
        cls.ports = listener_ports(listeners, 'rl')
        cls.other = {l['name']: l['port'] for l in listeners}['other']

    def metrics(self):
        c = http.client.HTTPConnection('127.0.0.1', self.admin, timeout=5)
        try:
            c.request('GET', '/metrics')
            return c.getresponse().read().decode()
        finally:
            c.close()

    def test_an_address_full_behind_one_listener_is_served_behind_another(self):
        # 127.0.0.3 owns no port: each request is answered 404 by the agent, which proves the
        # connection was admitted without spending any instance's tokens.
        def held(port):
            s = socket.create_connection(('127.0.0.1', port), timeout=5,
                                         source_address=('127.0.0.3', 0))
            self.addCleanup(s.close)
            try:
                s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
                return s.recv(4096)
            except ConnectionResetError:  # refused: closed before or after the request arrived
                return b''

        for _ in range(PER_ADDRESS):
            self.assertTrue(held(self.ports[0]).startswith(b'HTTP/1.1 404 '))
        self.assertEqual(held(self.ports[0]), b'')  # refused: closed unanswered
        self.assertTrue(held(self.other).startswith(b'HTTP/1.1 404 '))
        text = unix_get(self.control, '/metrics')[1].decode()
        self.assertIn('metastack_http_connections_refused_total{limit="address"} 1', text)
        self.assertIn('metastack_http_connections_refused_total{limit="share"} 0', text)


class ServeTest(RateLimitThroughTheChain, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tmp = TMP / 'serve'
        tmp.mkdir()
        cls.chain = Chain(tmp)
        cls.addClassCleanup(cls.chain.stop)
        ready = tmp / 'serve.ready'
        ports = cls.chain.start('serve', 'serve', '--store', STORE,
                                '--admin-listen', '127.0.0.1:0',
                                '--agent-socket', tmp / 'agent.sock', '--control',
                                tmp / 'proxy.sock', '--ready-file', ready, '--threads', 1,
                                *RATE, *listen_flags('sv'), ready_file=ready).ports()
        cls.admin = ports['admin']
        cls.ports = listener_ports(ports['proxy'], 'sv')

    metrics = SeparateProcessesTest.metrics


if __name__ == '__main__':
    unittest.main(verbosity=2)
