#!/usr/bin/python3
"""Dynamic vendor data (Nova's DynamicJSON) through `metastack serve`, from a guest address on a
proxy listener: three Python http.server targets, a good one (it echoes Nova's request back),
a dead one (a closed port) and a slow one (it answers after the read deadline). The answer comes
within the deadlines, a failing target is {} and counted in the metrics, the last good answer
is kept while its target fails, an edit of the instance makes the next request ask again; and
Nova's own DynamicVendorData (python3-nova, through nova_reference.py) given the same targets
POSTs the same body and serves the same vendor_data2.json.

Run:  /usr/bin/python3 tests/integration/test_vendordata_dynamic.py --metastack BINARY
"""
import base64
import http.client
import http.server
import json
import pathlib
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Daemon, metastack_binary, network_instance, tcp_get

METASTACK = metastack_binary()
HERE = pathlib.Path(__file__).resolve().parent
TOKEN = 'admin-token-0123456789abcdef'
NETWORK = '0d0d0d0d-1111-4222-8333-444444444444'
PROJECT = '3d2b1fa1c2e84b6d9f4e0d7c9a6b5e41'
CONNECT_TIMEOUT = 1
READ_TIMEOUT = 1
SLOW_DELAY = 4        # seconds the slow target takes: past the read deadline
VD2 = '/openstack/latest/vendor_data2.json'


class Targets:
    """The good and slow targets on one ThreadingHTTPServer (/good, /slow); /good answers
    {"echo": <the request body>, "path": ...} or, while `failing`, 500. Records each POST."""

    def __init__(self):
        self.posts = []  # (path, headers dict, body bytes)
        self.failing = False
        self.lock = threading.Lock()
        targets = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                with targets.lock:
                    targets.posts.append((self.path, dict(self.headers), body))
                if self.path == '/slow':
                    time.sleep(SLOW_DELAY)
                if self.path == '/good' and targets.failing:
                    self.send_response(500)
                    self.end_headers()
                    return
                answer = json.dumps({'echo': json.loads(body), 'path': self.path}).encode()
                try:
                    self.send_response(200)
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the slow target's client gave up at its deadline

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f'http://127.0.0.1:{self.port}{path}'

    def count(self, path):
        with self.lock:
            return sum(1 for p, _, _ in self.posts if p == path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def dead_url():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return f'http://127.0.0.1:{port}/dead'


def guest_get(port, path, source='127.0.0.1', timeout=15):
    """A guest's GET on the proxy listener from `source` -> (status, body, seconds)."""
    started = time.monotonic()
    status, body = tcp_get(port, path, source=source, timeout=timeout)
    return status, body, time.monotonic() - started


def instance(n, address):
    doc = network_instance(f'5a5a5a5a-0000-4000-8000-00000000c{n:03x}', f'i-0000c{n:03x}',
                           NETWORK, [('127.0.0.0/8', address)], prefix='vd')
    doc['project_id'] = PROJECT
    doc['vendor_data'] = {'site': 'static part'}
    doc['meta'] = {'role': 'web', 'caf\u00e9': 'cr\u00e8me'}
    return doc


FIRST = instance(1, '127.0.0.1')
SECOND = instance(2, '127.0.0.2')


def setUpModule():
    global TMP, TARGETS, SERVE, TARGET_URLS, GUEST_PORT, ADMIN
    TMP = tempfile.TemporaryDirectory(prefix='metastack-vendordata-')
    tmp = pathlib.Path(TMP.name)
    TARGETS = Targets()
    TARGET_URLS = [('good', TARGETS.url('/good')), ('dead', dead_url()),
                   ('slow', TARGETS.url('/slow'))]
    (tmp / 'secret').write_text('s3cret-of-the-agent\n')
    (tmp / 'token').write_text(TOKEN + '\n')
    ready = tmp / 'ready.json'
    args = ['serve', '--store', 'memory:', '--secret-file', tmp / 'secret',
            '--admin-listen', '127.0.0.1:0', '--admin-token-file', tmp / 'token',
            '--ops-listen', '', '--ready-file', ready, '--threads', '2',
            '--agent-socket', tmp / 'agent.sock', '--control', tmp / 'proxy.sock',
            '--listen', f'g1,,network,{NETWORK},127.0.0.1,0',
            '--vendordata-dynamic-connect-timeout', CONNECT_TIMEOUT,
            '--vendordata-dynamic-read-timeout', READ_TIMEOUT]
    for name, url in TARGET_URLS:
        args += ['--vendordata-dynamic-targets', f'{name}@{url}']
    SERVE = Daemon(args, log=tmp / 'serve.log', ready_file=ready, timeout=15).start()
    ports = SERVE.ports()
    ADMIN = ports['admin']
    GUEST_PORT = next(l['port'] for l in ports['proxy'] if l['name'] == 'g1')
    cli('network', 'create', NETWORK, '--name', 'vd', '--project', PROJECT)
    for doc in (FIRST, SECOND):
        cli('instance', 'create', '-f', '-', stdin=json.dumps(doc).encode())


def tearDownModule():
    try:
        rc = SERVE.stop()
        if rc != 0:
            raise AssertionError(f'metastack serve exited {rc} on SIGTERM')
    finally:
        TARGETS.close()
        TMP.cleanup()


def cli(*args, stdin=None):
    r = subprocess.run([METASTACK, *map(str, args), '--url', f'http://127.0.0.1:{ADMIN}',
                        '--token-file', pathlib.Path(TMP.name) / 'token'],
                       input=stdin, capture_output=True)
    if r.returncode != 0:
        raise AssertionError(f'metastack {args}: rc {r.returncode}: {r.stderr.decode()}')
    return r


def metric(name, **labels):
    c = http.client.HTTPConnection('127.0.0.1', ADMIN, timeout=5)
    c.request('GET', '/metrics')
    text = c.getresponse().read().decode()
    c.close()
    want = ','.join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f'{name}{{{want}}} '):
            return float(line.rsplit(' ', 1)[1])
    return 0.0


class DynamicVendorDataTest(unittest.TestCase):

    def assert_within_deadlines(self, seconds):
        # The slow target is waited for up to its deadlines, never for its answer; generous
        # for a loaded, sanitised build.
        self.assertLess(seconds, CONNECT_TIMEOUT + READ_TIMEOUT + 1.5)
        self.assertLess(seconds, SLOW_DELAY)

    def test_answers_within_deadlines_and_keeps_the_last_good_answer(self):
        status, body, seconds = guest_get(GUEST_PORT, VD2)
        self.assertEqual(status, 200)
        self.assert_within_deadlines(seconds)
        got = json.loads(body)
        self.assertEqual(list(got), ['static', 'good', 'dead', 'slow'])
        self.assertEqual(got['static'], {'site': 'static part'})
        self.assertEqual(got['good']['echo']['instance-id'], FIRST['uuid'])
        self.assertEqual(got['good']['echo']['metadata'], FIRST['meta'])
        self.assertEqual((got['dead'], got['slow']), ({}, {}))
        self.assertEqual(metric('metastack_vendordata_requests_total', target='good',
                                result='ok'), 1)
        self.assertGreaterEqual(metric('metastack_vendordata_requests_total', target='dead',
                                       result='unavailable'), 1)
        self.assertGreaterEqual(metric('metastack_vendordata_requests_total', target='slow',
                                       result='timeout'), 1)
        # Nothing else changes: the other files do not wait for any target.
        status, _, seconds = guest_get(GUEST_PORT, '/openstack/latest/vendor_data.json')
        self.assertEqual(status, 200)
        self.assertLess(seconds, READ_TIMEOUT)

        # The good answer is kept: not asked again while the instance is unchanged.
        good_posts = TARGETS.count('/good')
        status, again, seconds = guest_get(GUEST_PORT, VD2)
        self.assertEqual((status, again), (200, body))
        self.assert_within_deadlines(seconds)
        self.assertEqual(TARGETS.count('/good'), good_posts)

        # The target fails, the instance changes: the last good answer is served.
        TARGETS.failing = True
        try:
            cli('instance', 'set-meta', FIRST['uuid'], 'round=1')
            status, kept, _ = guest_get(GUEST_PORT, VD2)
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(kept)['good'], got['good'])
            self.assertEqual(TARGETS.count('/good'), good_posts + 1)
            self.assertEqual(metric('metastack_vendordata_requests_total', target='good',
                                    result='status'), 1)
        finally:
            TARGETS.failing = False
        # It answers again: the next request asks it (its last answer failed).
        status, fresh, _ = guest_get(GUEST_PORT, VD2)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(fresh)['good']['echo']['metadata'],
                         dict(FIRST['meta'], round='1'))
        log = SERVE.log_text()
        self.assertIn('vendor data target dead: http://127.0.0.1:', log)
        self.assertIn('vendor data target good: HTTP 500 (instance ' + FIRST['uuid'] + ')', log)
        self.assertIn('vendor data target good: answering again', log)

    def test_same_as_novas_dynamic_vendor_data(self):
        tmp = pathlib.Path(TMP.name)
        nova_doc = dict(SECOND, conf={'api': {
            'vendordata_providers': ['StaticJSON', 'DynamicJSON'],
            'vendordata_dynamic_targets': [f'{n}@{u}' for n, u in TARGET_URLS],
            'vendordata_dynamic_connect_timeout': 3,  # Nova's minimum
            'vendordata_dynamic_read_timeout': READ_TIMEOUT}})
        (tmp / 'nova.json').write_text(json.dumps(nova_doc))
        (tmp / 'paths').write_text(VD2 + '\n')
        before = len(TARGETS.posts)
        # Nova's code in a process of its own (it brings eventlet, which this one's threads
        # must not meet).
        out = subprocess.run(['/usr/bin/python3', str(HERE / 'nova_reference.py'),
                              str(tmp / 'nova.json'), '--paths-file', str(tmp / 'paths')],
                             capture_output=True, check=True, timeout=60)
        [nova] = json.loads(out.stdout)
        nova['body'] = base64.b64decode(nova['body_b64'])
        nova_post = [p for p in TARGETS.posts[before:] if p[0] == '/good']
        status, ours, _ = guest_get(GUEST_PORT, VD2, source='127.0.0.2')
        our_post = [p for p in TARGETS.posts[before:] if p[0] == '/good'][1:]
        self.assertEqual((nova['status'], nova['content_type']), (200, 'application/json'))
        self.assertEqual(status, 200)
        # The same request body, byte for byte, and the same headers a target may look at.
        self.assertEqual(len(nova_post), 1)
        self.assertEqual(len(our_post), 1)
        self.assertEqual(our_post[0][2], nova_post[0][2])
        for name in ('Content-Type', 'Accept', 'User-Agent'):
            self.assertEqual(our_post[0][1].get(name), nova_post[0][1].get(name), name)
        # The same document: the good target's answer next to "static", {} for the dead and
        # the slow one.
        self.assertEqual(ours, nova['body'])


if __name__ == '__main__':
    unittest.main()
