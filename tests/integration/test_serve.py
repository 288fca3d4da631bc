#!/usr/bin/python3
"""`metastack serve` as an operator runs it: configured by one TOML file, one per host.

Run:  /usr/bin/python3 tests/integration/test_serve.py --metastack BINARY

No namespaces: the proxy's listeners sit in this namespace on 127.0.0.1 (port 0) as DHCP-
namespace listeners for one network, so this process is the guest (the instance owns
127.0.0.1). Checked:
* `serve --config FILE` with nothing else on the command line serves the whole path
  (proxy -> agent -> API in one process) and one ops endpoint for all three components, whose
  /metrics Debian's promtool accepts.
* The same file runs `api`, `agent` and `proxy` as separate processes, with the same answers.
* A second `serve` on the same sockets is refused with a clear message; the first keeps serving.
* SIGHUP re-reads the file: a listener added with proxy-ctl stays, a listener added to the file
  opens, a listener taken out of the file closes, new vendor data is served at once; a file
  that no longer parses changes nothing.
* SIGTERM drains: a request in flight when it arrives is answered (Connection: close), an idle
  keep-alive connection is closed, and the process exits 0.
* --check accepts the sample etc/metastack.toml and refuses a bad file, naming file, line, key.
"""
import http.client
import json
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import ROOT, Daemon, metastack_binary, network_instance, tcp_get, unix_get

METASTACK = metastack_binary()
NETWORK = '5e2f0000-0000-4000-8000-00000000a001'
GUEST = '5e2f0000-0000-4000-8000-00000000b001'  # 127.0.0.1
PATH = '/latest/meta-data/instance-id'
VENDOR = '/openstack/latest/vendor_data.json'


def run(*args, check=True):
    r = subprocess.run([METASTACK, *map(str, args)], capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f'metastack {" ".join(map(str, args))}: exit {r.returncode}: '
                             f'{r.stderr}')
    return r


def get(port, path=PATH, host='127.0.0.1', source=None):
    return tcp_get(port, path, host=host, source=source)


def wait_for(predicate, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out waiting for {what}')
        time.sleep(0.05)


def listeners(control):
    answer = unix_get(control, '/listeners')
    return {l['name']: l['port'] for l in json.loads(answer[1])['listeners']} if answer else {}


def toml_list(items):
    return '[' + ', '.join(json.dumps(i) for i in items) + ']'


class Host:
    """A configuration file for one host and the daemons started from it."""

    def __init__(self, tmp, listen=('g1',), vendor=None):
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.store = f'sqlite:{TMP / "store.db"}'
        self.control = tmp / 'proxy.sock'
        self.agent_sock = tmp / 'agent.sock'
        self.ready = tmp / 'ready.json'
        self.vendor = tmp / 'vendor.json'
        self.vendor.write_text(json.dumps(vendor or {'v': 1}))
        self.config = tmp / 'metastack.toml'
        self.daemons = []
        self.write(listen)

    def write(self, listen, extra=''):
        specs = [f'{name},,network,{NETWORK},127.0.0.1,0' for name in listen]
        self.config.write_text(f'''# test host
store = "{self.store}"
secret-file = "{SECRET}"
threads = 1
log-level = "info"
access-log = true
ready-file = "{self.ready}"

[api]
signed-listen = ["127.0.0.1:0"]
vendor-data = "{self.vendor}"

[admin]
listen = "127.0.0.1:0"

[ops]
listen = "127.0.0.1:0"

[agent]
socket = "{self.agent_sock}"

[proxy]
control = "{self.control}"
listen = {toml_list(specs)}
agent = "unix:{self.agent_sock}"
{extra}''')

    def start(self, verb):
        """`serve` with nothing but --config; another verb with its own --ready-file."""
        ready = self.ready if verb == 'serve' else self.tmp / f'{verb}.ready'
        args = [] if verb == 'serve' else ['--ready-file', ready]
        d = Daemon([verb, '--config', self.config, *args], log=self.tmp / f'{verb}.log',
                   ready_file=ready, timeout=15)
        self.daemons.append(d)
        return d.start()

    def stop(self):
        for d in reversed(self.daemons):
            d.stop(timeout=15)


def setUpModule():
    global TMP, SECRET
    TMP = pathlib.Path(tempfile.mkdtemp(prefix='metastack-serve-'))
    unittest.addModuleCleanup(lambda: shutil.rmtree(TMP, ignore_errors=True))
    SECRET = TMP / 'secret'
    SECRET.write_text('serve-test-secret\n')
    store = f'sqlite:{TMP / "store.db"}'
    run('network', 'create', NETWORK, '--store', store)
    doc = TMP / 'guest.json'
    doc.write_text(json.dumps(network_instance(GUEST, 'i-0000c001', NETWORK,
                                               [('127.0.0.0/8', '127.0.0.1')], 'sv')))
    run('instance', 'create', '-f', doc, '--store', store)


class ServeFromOneFileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.host = Host(TMP / 'serve', listen=('g1', 'g2'), vendor={'v': 1})
        cls.addClassCleanup(cls.host.stop)
        cls.serve = cls.host.start('serve')
        cls.ports = cls.serve.ports()

    def test_the_whole_path_from_the_file_alone(self):
        ports = listeners(self.host.control)
        self.assertEqual(get(ports['g1']), (200, b'i-0000c001'))
        self.assertEqual(get(ports['g2'], VENDOR), (200, b'{"v": 1}'))
        self.assertEqual(self.serve.args, ['serve', '--config', str(self.host.config)])
        # Handed over to metastack-server, the daemon still shows as metastack in ps and pgrep.
        comm = pathlib.Path(f'/proc/{self.serve.pid}/comm').read_text()
        self.assertEqual(comm, 'metastack\n')

    def test_one_ops_endpoint_for_every_component(self):
        get(listeners(self.host.control)['g1'])
        status, body = get(self.ports['ops'], '/healthz')
        self.assertEqual(status, 200)
        health = json.loads(body)
        self.assertEqual(health['components'], ['api', 'agent', 'proxy'])
        self.assertGreaterEqual(health['proxy_listeners'], 2)
        status, text = get(self.ports['ops'], '/metrics')
        text = text.decode()
        for family in ('metastack_proxy_requests_total', 'metastack_agent_requests_total',
                       'metastack_api_requests_total', 'metastack_proxy_listeners',
                       'metastack_agent_cached_lookups', 'metastack_api_cache_instances'):
            self.assertIn(family, text)
        # The admin listener answers the same.
        self.assertEqual(json.loads(get(self.ports['admin'], '/healthz')[1])['components'],
                         ['api', 'agent', 'proxy'])
        promtool = shutil.which('promtool')
        if not promtool:
            self.skipTest('promtool (Debian package prometheus) is not installed')
        r = subprocess.run([promtool, 'check', 'metrics'], input=text, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_access_log_names_namespace_guest_and_instance_and_unknown_guests_once(self):
        port = listeners(self.host.control)['g1']
        self.assertEqual(get(port, '/latest/meta-data/hostname')[0], 200)
        line = (f'access: listener="network {NETWORK}" client=127.0.0.1 instance={GUEST} '
                'method=GET path=/latest/meta-data/hostname status=200 ms=')
        wait_for(lambda: line in self.serve.log_text(), 'the access line')
        self.assertEqual(self.serve.log_text().count('path=/latest/meta-data/hostname '), 1)
        for _ in range(3):
            self.assertEqual(get(port, source='127.0.0.9')[0], 404)
        log = self.serve.log_text()
        self.assertEqual(log.count('no port with address 127.0.0.9 behind network'), 1, log)
        self.assertEqual(log.count('client=127.0.0.9 instance="" method=GET'), 3, log)

    def test_a_second_serve_on_the_same_sockets_is_refused(self):
        second = TMP / 'second'
        second.mkdir(exist_ok=True)
        r = subprocess.run([METASTACK, 'serve', '--config', str(self.host.config),
                            '--ready-file', str(second / 'ready.json')],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn('another process is serving it', r.stderr)
        self.assertFalse((second / 'ready.json').exists())
        self.assertEqual(get(listeners(self.host.control)['g1']), (200, b'i-0000c001'))


class ReloadTest(unittest.TestCase):
    def setUp(self):
        self.host = Host(TMP / f'reload-{self._testMethodName}', listen=('a', 'b'))
        self.addCleanup(self.host.stop)
        self.serve = self.host.start('serve')

    def hup(self):
        log = self.serve.log_text()
        self.serve.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.serve.log_text().count('SIGHUP') > log.count('SIGHUP'), 'SIGHUP')

    def test_sighup_applies_the_file_and_keeps_runtime_listeners(self):
        control = self.host.control
        run('proxy-ctl', '--control', control, 'add', '--name', 'by-hand', '--kind', 'network',
            '--id', NETWORK, '--address', '127.0.0.1', '--port', 0)
        by_hand = listeners(control)['by-hand']
        self.host.vendor.write_text(json.dumps({'v': 2}))
        self.host.write(['a', 'c'],  # b out, c in
                        extra='\n[limits]\nmax-connections-per-address = 1\n')
        self.hup()
        wait_for(lambda: set(listeners(control)) == {'a', 'c', 'by-hand'}, 'listeners a, c, by-hand')
        now = listeners(control)
        self.assertEqual(now['by-hand'], by_hand)
        self.assertEqual(get(by_hand), (200, b'i-0000c001'))
        self.assertEqual(get(now['c'], VENDOR), (200, b'{"v": 2}'))
        self.assertEqual(get(now['a'], VENDOR), (200, b'{"v": 2}'))
        # The new limit: one connection per guest address and listener (once the server has
        # seen the connections above end).
        ops = self.serve.ports()['ops']
        wait_for(lambda: 'metastack_http_connections_open 0\n' in get(ops, '/metrics')[1].decode(),
                 'no connection open')
        held = socket.create_connection(('127.0.0.1', now['a']), timeout=5)
        self.addCleanup(held.close)
        held.sendall(f'GET {PATH} HTTP/1.1\r\nHost: x\r\n\r\n'.encode())
        self.assertTrue(held.recv(4096).endswith(b'i-0000c001'))
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            get(now['a'])
        self.assertEqual(get(now['c']), (200, b'i-0000c001'))  # another listener: another count
        metrics = get(ops, '/metrics')[1].decode()
        self.assertIn('metastack_http_connections_refused_total{limit="address"} 1', metrics)

    def test_a_bad_file_changes_nothing(self):
        before = listeners(self.host.control)
        self.host.config.write_text(self.host.config.read_text() + '\n[proxy]\nlistn = []\n')
        self.hup()
        wait_for(lambda: 'configuration refused' in self.serve.log_text(), 'the refusal')
        self.assertEqual(listeners(self.host.control), before)
        self.assertEqual(get(before['a']), (200, b'i-0000c001'))
        self.assertTrue(self.serve.running())


class DrainTest(unittest.TestCase):
    def test_sigterm_answers_the_request_in_flight_then_exits_0(self):
        host = Host(TMP / 'drain')
        self.addCleanup(host.stop)
        serve = host.start('serve')
        port = listeners(host.control)['g1']
        # Two keep-alive connections, each answered once (so both are accepted and served);
        # then one sends half of its next request: the server has its first bytes, the rest
        # follows after SIGTERM.
        request = f'GET {PATH} HTTP/1.1\r\nHost: 169.254.169.254\r\n'.encode()
        idle, busy = (socket.create_connection(('127.0.0.1', port), timeout=5) for _ in '12')
        for s in (idle, busy):
            self.addCleanup(s.close)
            s.sendall(request + b'\r\n')
            self.assertTrue(s.recv(4096).endswith(b'i-0000c001'))
        busy.sendall(request)
        serve.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: 'draining' in serve.log_text(), 'the drain to start')
        self.assertEqual(idle.recv(1), b'')  # the idle connection is closed at once
        self.assertTrue(serve.running())
        busy.sendall(b'\r\n')
        answer = b''
        while chunk := busy.recv(4096):
            answer += chunk
        self.assertTrue(answer.startswith(b'HTTP/1.1 200 OK\r\n'), answer)
        self.assertIn(b'Connection: close\r\n', answer)
        self.assertTrue(answer.endswith(b'i-0000c001'), answer)
        self.assertEqual(serve.proc.wait(10), 0)


class SeparateProcessesTest(unittest.TestCase):
    def test_the_same_file_runs_api_agent_and_proxy(self):
        host = Host(TMP / 'separate')
        self.addCleanup(host.stop)
        api = host.start('api')
        signed = api.ports()['signed'][0]
        host.config.write_text(host.config.read_text().replace(
            '[agent]\n', f'[agent]\napi-url = "http://127.0.0.1:{signed}"\n'))
        host.start('agent')
        proxy = host.start('proxy')
        self.assertEqual(get(listeners(host.control)['g1']), (200, b'i-0000c001'))
        self.assertEqual(get(proxy.ports()['proxy'][0]['port'], VENDOR), (200, b'{"v": 1}'))
        # Each process logs the request: the proxy its listener, the agent the instance too.
        wait_for(lambda: f'path={VENDOR} status=200' in proxy.log_text(), 'the proxy line')
        self.assertIn(f'access: listener=g1 client=127.0.0.1 instance="" method=GET path={VENDOR}',
                      proxy.log_text())
        agent_log = (host.tmp / 'agent.log').read_text()
        self.assertIn(f'client=127.0.0.1 instance={GUEST} method=GET path={VENDOR}', agent_log)


class CheckTest(unittest.TestCase):
    def test_the_sample_file_checks(self):
        r = run('serve', '--config', ROOT / 'etc' / 'metastack.toml', '--check')
        self.assertIn('configuration OK', r.stdout)

    def test_a_bad_file_is_named(self):
        bad = TMP / 'bad.toml'
        bad.write_text('store = "memory:"\n[api]\nrate-limt = 3\n')
        r = run('serve', '--config', bad, '--check', check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(), f'metastack: {bad}:3: unknown key api.rate-limt')

    def test_a_missing_file_is_an_error(self):
        r = run('serve', '--config', TMP / 'absent.toml', '--check', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('absent.toml', r.stderr)


if __name__ == '__main__':
    unittest.main(verbosity=2)
