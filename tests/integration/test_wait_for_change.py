#!/usr/bin/python3
"""GCE-style change notification end to end, from guests in their own network namespaces.

Run:  /usr/bin/python3 tests/integration/test_wait_for_change.py --metastack BINARY
(needs root: namespaces, veth pairs, iptables)

Three tenants, each a guest namespace at 10.0.0.5 behind its own router namespace with the
metadata rules (`metastack net router-setup`): A and B are served by one `metastack serve`, C by
separate `api`, `agent` and `proxy` processes whose hops time out after 1 s (--agent-timeout,
--api-timeout). Each guest asks 169.254.169.254 with Python's http.client from inside its
namespace. Checked:
* ?wait_for_change=true&last_etag=E returns within 100 ms of an admin-API edit of its
  instance, with the new content and a new ETag; through `serve` and through the separate
  processes. Measured on CLOCK_MONOTONIC, which every namespace shares, to the moment the guest
  has read the answer, from the admin API's answer to the edit (the edit made: committed and
  announced on the change feed); the time from sending the edit, which adds the store's own
  write (an SQLite commit, tens of ms under ASan on a loaded machine), is printed beside it.
* With nothing changed it answers at timeout_sec with the same ETag; through the separate
  processes a wait of 2 s outlasts both hops' 1 s timeouts (each hop allows timeout_sec more).
* An edit of another instance (B) does not wake A's waiter.
* If-None-Match with the current ETag gets a 304 without body; ?recursive=true whole trees.
* SIGTERM answers a waiting request at once (with Connection: close) and the API exits 0.
"""
import http.client
import json
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import guestnet
from guestnet import METASTACK, RUN, Tenant, check, cleanup, router_topology, served_json
from harness import Daemon

TOKEN = 'wait-for-change-admin-token-0123456789'
BOUND = 0.100  # seconds: the bound from an edit to the waiter's answer
HOSTNAME = '/latest/meta-data/hostname'

# Runs inside a guest namespace: one GET to 169.254.169.254, the answer as JSON on stdout with
# the CLOCK_MONOTONIC time at which it had been read.
GUEST_GET = r'''
import http.client, json, sys, time
c = http.client.HTTPConnection('169.254.169.254', 80, timeout=60)
c.request('GET', sys.argv[1], headers=json.loads(sys.argv[2]))
r = c.getresponse()
body = r.read()
done = time.monotonic()
print(json.dumps({'status': r.status, 'etag': r.getheader('ETag'),
                  'length': r.getheader('Content-Length'),
                  'body': body.decode('utf-8', 'replace'), 'done': done}))
'''


class Guest:
    """A tenant's guest namespace and the admin API and metrics of the API that serves it."""

    def __init__(self, tenant, ns, admin_port):
        self.tenant, self.ns, self.admin_port = tenant, ns, admin_port

    def start(self, path, headers=None):
        """Starts a GET from inside the guest; returns the process (see answer())."""
        return subprocess.Popen(['ip', 'netns', 'exec', self.ns, sys.executable, '-c', GUEST_GET,
                                 path, json.dumps(headers or {})],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def answer(proc, timeout=30):
        out, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f'guest GET failed: {err}')
        return json.loads(out)

    def get(self, path, headers=None):
        return self.answer(self.start(path, headers))

    def admin(self, method, path, body=None):
        c = http.client.HTTPConnection('127.0.0.1', self.admin_port, timeout=10)
        try:
            c.request(method, path, body=json.dumps(body) if body is not None else None,
                      headers={'Authorization': f'Bearer {TOKEN}',
                               'Content-Type': 'application/json'})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def metric(self, sample):
        """The value of one sample line of the API's /metrics (0 when absent)."""
        status, text = self.admin('GET', '/metrics')
        for line in text.decode().splitlines():
            if line.startswith(sample + ' '):
                return float(line.rsplit(' ', 1)[1])
        return 0.0

    def waiting(self, n, timeout=10):
        guestnet.wait_for(lambda: self.metric('metastack_api_watchers') == n,
                          f'{n} waiting requests', timeout=timeout)

    def rename(self, hostname):
        status, body = self.admin('PATCH', f'/v1/instances/{self.tenant.uuid}',
                                  {'hostname': hostname})
        if status != 200:
            raise AssertionError(f'PATCH: {status} {body!r}')


def setUpModule():
    global TMP, A, B, C, LATENCIES, STORES, SECRET
    if shutil.which('ip') is None:
        raise unittest.SkipTest('needs iproute2')
    TMP = pathlib.Path(tempfile.mkdtemp(prefix='metastack-watch-'))
    cleanup(shutil.rmtree, TMP, ignore_errors=True)
    LATENCIES = []
    cleanup(lambda: print('\nwait_for_change: ms from the admin edit sent to the guest having '
                          'the answer (from the admin API\'s answer, the edit committed): ' +
                          ', '.join(f'{name} {sent:.1f} ({made:.1f})'
                                    for name, sent, made in LATENCIES), flush=True))
    token = TMP / 'token'
    token.write_text(TOKEN + '\n')
    SECRET = 'wait-for-change-secret'
    secret = TMP / 'secret'
    secret.write_text(SECRET + '\n')
    tenants = [Tenant(n, True) for n in (1, 2, 3)]
    stores = STORES = {'serve': f'sqlite:{TMP / "serve.db"}',
                       'separate': f'sqlite:{TMP / "separate.db"}'}
    for t in tenants[:2]:
        t.create(stores['serve'], TMP)
    tenants[2].create(stores['separate'], TMP)
    namespaces = [router_topology(t, tag='w') for t in tenants]

    def listen(i):
        t, (_, router) = tenants[i], namespaces[i]
        return ['--listen', f'qrouter-{t.router},{router},router,{t.router}']

    def stop_at_exit(daemon):
        cleanup(daemon.stop)
        return daemon.start()

    serve_ready = TMP / 'serve.ready'
    serve = stop_at_exit(Daemon(
        ['serve', '--store', stores['serve'], '--admin-listen', '127.0.0.1:0',
         '--admin-token-file', token, '--agent-socket', TMP / 'serve-agent.sock',
         '--control', TMP / 'serve-proxy.sock', '--ready-file', serve_ready, '--threads', 1,
         *listen(0), *listen(1)], log=TMP / 'serve.log', ready_file=serve_ready))
    api_ready = TMP / 'api.ready'
    api = stop_at_exit(Daemon(
        ['api', '--store', stores['separate'], '--signed-listen', '127.0.0.1:0',
         '--admin-listen', '127.0.0.1:0', '--admin-token-file', token, '--secret-file', secret,
         '--ready-file', api_ready, '--threads', 1], log=TMP / 'api.log', ready_file=api_ready))
    agent_sock = TMP / 'agent.sock'
    stop_at_exit(Daemon(
        ['agent', '--store', stores['separate'], '--api-url',
         f'http://127.0.0.1:{api.ports()["signed"][0]}', '--agent-socket', agent_sock,
         '--secret-file', secret, '--api-timeout', 1, '--threads', 1],
        log=TMP / 'agent.log', ready=agent_sock.exists))
    control = TMP / 'proxy.sock'
    stop_at_exit(Daemon(
        ['proxy', '--agent', f'unix:{agent_sock}', '--control', control, '--agent-timeout', 1,
         '--threads', 1, *listen(2)], log=TMP / 'proxy.log', ready=control.exists))
    A = Guest(tenants[0], namespaces[0][0], serve.ports()['admin'])
    B = Guest(tenants[1], namespaces[1][0], serve.ports()['admin'])
    C = Guest(tenants[2], namespaces[2][0], api.ports()['admin'])
    for g in (A, B, C):
        served_json(g.ns)  # the namespace path is up


class WaitForChangeTest(unittest.TestCase):
    def wake_on_edit(self, guest, name, rounds=3):
        for i in range(rounds):
            now = guest.get(HOSTNAME)
            self.assertEqual(now['status'], 200)
            waiter = guest.start(f'{HOSTNAME}?wait_for_change=true&timeout_sec=30'
                                 f'&last_etag={now["etag"]}')
            guest.waiting(1)
            hostname = f'{name}-{RUN}-{i}'
            edited_at = time.monotonic()
            guest.rename(hostname)
            committed_at = time.monotonic()
            answer = guest.answer(waiter)
            latency = answer['done'] - committed_at
            LATENCIES.append((name, (answer['done'] - edited_at) * 1000, latency * 1000))
            self.assertEqual(answer['status'], 200)
            self.assertEqual(answer['body'], f'{hostname}.novalocal')
            self.assertNotEqual(answer['etag'], now['etag'])
            self.assertEqual(answer['etag'], guest.get(HOSTNAME)['etag'])
            self.assertLess(latency, BOUND, f'{name}: answered {latency * 1000:.1f} ms after '
                            'the edit was made')

    def test_an_edit_wakes_the_waiter_within_100ms_through_serve(self):
        self.wake_on_edit(A, 'serve')

    def test_an_edit_wakes_the_waiter_within_100ms_through_separate_processes(self):
        self.wake_on_edit(C, 'separate')

    def test_times_out_with_the_same_etag_when_nothing_changes(self):
        for guest in (A, C):  # C's hops time out after 1 s: they allow timeout_sec more
            now = guest.get('/openstack/latest/meta_data.json')
            started = time.monotonic()
            answer = guest.get('/openstack/latest/meta_data.json?wait_for_change=true'
                               f'&timeout_sec=2&last_etag={now["etag"]}')
            self.assertEqual(answer['status'], 200, answer['body'])
            self.assertEqual(answer['etag'], now['etag'])
            self.assertEqual(json.loads(answer['body'])['uuid'], guest.tenant.uuid)
            self.assertGreaterEqual(answer['done'] - started, 1.9)  # it did wait

    def test_an_edit_of_another_instance_does_not_wake_it(self):
        now = A.get(HOSTNAME)
        changed = A.metric('metastack_api_watch_answers_total{outcome="changed"}')
        timeouts = A.metric('metastack_api_watch_answers_total{outcome="timeout"}')
        wakeups = A.metric('metastack_api_watch_wakeups_total')
        waiter = A.start(f'{HOSTNAME}?wait_for_change=true&timeout_sec=2'
                         f'&last_etag={now["etag"]}')
        A.waiting(1)
        B.rename(f'other-{RUN}')
        answer = A.answer(waiter)
        self.assertEqual(answer['etag'], now['etag'])
        self.assertEqual(A.metric('metastack_api_watch_answers_total{outcome="changed"}'),
                         changed)
        self.assertEqual(A.metric('metastack_api_watch_answers_total{outcome="timeout"}'),
                         timeouts + 1)
        self.assertEqual(A.metric('metastack_api_watch_wakeups_total'), wakeups)  # never woken

    def test_if_none_match_gets_304_without_body(self):
        for guest in (A, C):
            now = guest.get(HOSTNAME)
            answer = guest.get(HOSTNAME, {'If-None-Match': now['etag']})
            self.assertEqual((answer['status'], answer['etag'], answer['body'], answer['length']),
                             (304, now['etag'], '', None))
            self.assertEqual(guest.get(HOSTNAME, {'If-None-Match': '"0"'})['status'], 200)

    def test_recursive_whole_trees(self):
        tree = json.loads(A.get('/openstack/latest?recursive=true')['body'])
        self.assertEqual(list(tree), ['meta_data.json', 'user_data', 'password',
                                      'vendor_data.json', 'network_data.json',
                                      'vendor_data2.json'])
        self.assertEqual(tree['meta_data.json']['uuid'], A.tenant.uuid)
        self.assertEqual(tree['user_data'], A.tenant.user_data)
        ec2 = json.loads(C.get('/latest/meta-data/?recursive=true')['body'])
        self.assertEqual(ec2['public-keys']['0']['openssh-key'],
                         list(C.tenant.keys.values())[0])
        text = C.get('/latest/meta-data/placement/?recursive=true&alt=text')['body']
        self.assertEqual(text, 'availability-zone nova\n')


class DrainTest(unittest.TestCase):
    """SIGTERM answers a waiting request at once, with what it has, and the API exits 0: an
    `api` of its own on C's store, asked directly with the agent's signed headers."""

    def test_sigterm_answers_waiters_at_once(self):
        ready = TMP / 'drain.ready'
        api = Daemon(['api', '--store', STORES['separate'], '--signed-listen', '127.0.0.1:0',
                      '--admin-listen', '127.0.0.1:0', '--admin-token-file', TMP / 'token',
                      '--secret-file', TMP / 'secret', '--ready-file', ready, '--threads', 1],
                     log=TMP / 'drain.log', ready_file=ready).start()
        self.addCleanup(api.stop)
        ports = api.ports()
        tenant = C.tenant
        headers = {'X-Instance-ID': tenant.uuid, 'X-Tenant-ID': tenant.project,
                   'X-Instance-ID-Signature': guestnet.signature(SECRET, tenant.uuid),
                   'X-Forwarded-For': tenant.ip}
        c = http.client.HTTPConnection('127.0.0.1', ports['signed'][0], timeout=30)
        self.addCleanup(c.close)
        c.request('GET', HOSTNAME, headers=headers)
        now = c.getresponse()
        etag, body = now.getheader('ETag'), now.read()
        c.request('GET', f'{HOSTNAME}?wait_for_change=true&timeout_sec=300&last_etag={etag}',
                  headers=headers)
        Guest(tenant, None, ports['admin']).waiting(1)
        stopped_at = time.monotonic()
        api.proc.send_signal(signal.SIGTERM)
        answer = c.getresponse()
        self.assertEqual((answer.status, answer.getheader('ETag'), answer.read()),
                         (200, etag, body))
        self.assertEqual(answer.getheader('Connection'), 'close')
        self.assertLess(time.monotonic() - stopped_at, 5)  # not the 300 s it asked for
        self.assertEqual(api.proc.wait(timeout=15), 0)


if __name__ == '__main__':
    unittest.main(verbosity=2)
