#!/usr/bin/python3
"""Two metadata API nodes sharing one PostgreSQL store, and the CLI working on it directly.

Run:  /usr/bin/python3 tests/integration/test_postgres_nodes.py --metastack BINARY
      (or METASTACK_BIN=BINARY); other arguments go to unittest.

The module starts its own throwaway PostgreSQL cluster (initdb into a temp dir, a free port
naming its socket, no TCP; run as the `postgres` user when the test runs as root) and a watchdog
that stops it and removes the directory when this process ends, whether the tests pass, fail or
the process is killed. On it, two `metastack api` processes (A and B), each with its own signed
listener, admin listener and token file, on the same postgresql:// store.

What one node writes, the other serves. A node's cache drops an instance when the store's change
feed names it, and across processes that feed is PostgreSQL's LISTEN/NOTIFY: the notification is
delivered to the other node's listener connection after the writer's commit, asynchronously by
design. So a read on the other node right after a write is retried, bounded: the edit must be
served within FEED_DEADLINE (2 s); the delays observed are printed at the end. Reads that need no
invalidation (a new instance, a 409 decided by the database) are asserted on the very next
request.
"""
import concurrent.futures
import hashlib
import hmac
import http.client
import json
import pathlib
import subprocess
import sys
import tempfile
import time
import unittest

from harness import Daemon, metastack_binary
from pgcluster import Cluster, die_with_parent

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / 'examples' / 'instance.json'


METASTACK = metastack_binary()

SECRET = 'shared-secret-of-the-metadata-agent'
TOKENS = {'a': 'admin-token-of-node-a-0123456789', 'b': 'admin-token-of-node-b-9876543210'}
FEED_DEADLINE = 2.0
NOT_FOUND_BODY = b'404 Not Found\n\nThe resource could not be found.\n\n   '

BASE = json.loads(EXAMPLE.read_text())
PROJECT = BASE['project_id']
ROUTER = BASE['ports'][0]['router_id']
NETWORK = BASE['ports'][0]['network_id']
NETWORK_CLI = '5e5e5e5e-0000-4000-8000-0000000000c1'  # created by the CLI test

class Node:
    """One `metastack api` on the shared store: a signed listener and an admin listener."""

    def __init__(self, name, directory, store):
        self.name = name
        self.dir = pathlib.Path(directory) / name
        self.dir.mkdir()
        (self.dir / 'secret').write_text(SECRET + '\n')
        (self.dir / 'token').write_text(TOKENS[name] + '\n')
        self.token = TOKENS[name]
        ready = self.dir / 'ready.json'
        # Spawned from the main thread: PR_SET_PDEATHSIG fires when the spawning thread ends.
        self.daemon = Daemon(
            ['api', '--store', store, '--signed-listen', '127.0.0.1:0',
             '--admin-listen', '127.0.0.1:0', '--admin-token-file', self.dir / 'token',
             '--secret-file', self.dir / 'secret', '--ready-file', ready, '--log-level',
             'warning'],
            log=self.dir / 'api.log', ready_file=ready, preexec_fn=die_with_parent).launch()

    def wait_ready(self):
        ports = self.daemon.wait_ready().ports()
        self.signed, self.admin = ports['signed'][0], ports['admin']
        self.url = f'http://127.0.0.1:{self.admin}'
        return self

    def stop(self):
        self.daemon.stop()

    def api(self, method, path, body=None, token=None):
        """One admin API call -> (status, parsed JSON or None)."""
        headers = {'Content-Type': 'application/json'}
        token = self.token if token is None else token
        if token:
            headers['Authorization'] = 'Bearer ' + token
        status, _, data = request(self.admin, method, path, headers,
                                  None if body is None else json.dumps(body).encode())
        return status, json.loads(data) if data else None

    def md(self, doc, path, method='GET', body=None):
        """A guest's request as the metadata agent signs it -> (status, body)."""
        sig = hmac.new(SECRET.encode(), doc['uuid'].encode(), hashlib.sha256).hexdigest()
        headers = {'X-Instance-ID': doc['uuid'], 'X-Tenant-ID': doc['project_id'],
                   'X-Instance-ID-Signature': sig, 'X-Forwarded-For': ip_of(doc)}
        status, _, data = request(self.signed, method, path, headers, body)
        return status, data

    def cli(self, *args, stdin=None):
        return metastack(*args, '--url', self.url, '--token-file', self.dir / 'token',
                         stdin=stdin)


def request(port, method, path, headers, body=None):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


def metastack(*args, stdin=None, check=True):
    r = subprocess.run([METASTACK, *map(str, args)], input=stdin, capture_output=True)
    if check and r.returncode != 0:
        raise AssertionError(f'metastack {" ".join(map(str, args))}: rc {r.returncode}: '
                             f'{r.stderr.decode()}')
    return r


def ip_of(doc):
    return doc['ports'][0]['subnets'][0]['ip_address']


def make_doc(n, network=NETWORK, **changes):
    """The example instance, renumbered: its own uuid, port, MAC and 10.0.n.5."""
    doc = json.loads(json.dumps(BASE))
    doc['uuid'] = f'7a7a7a7a-0000-4000-8000-{n:012d}'
    doc['name'] = doc['hostname'] = f'node-test-{n}'
    port = doc['ports'][0]
    port['id'] = f'7b7b7b7b-0000-4000-8000-{n:012d}'
    port['mac'] = f'fa:16:3e:00:{n // 256:02x}:{n % 256:02x}'
    port['network_id'] = network
    if network != NETWORK:
        port.pop('router_id', None)
    port['subnets'][0]['cidr'] = '10.0.0.0/16'
    port['subnets'][0]['ip_address'] = f'10.0.{n}.5'
    doc.update(changes)
    return doc


DELAYS = []  # (what, seconds, stale reads) of every bounded wait on the change feed


def served_within_deadline(test, what, probe, want):
    """Reads through `probe` until it returns `want`, for at most FEED_DEADLINE seconds."""
    start = time.monotonic()
    stale = 0
    while True:
        got = probe()
        if got == want:
            DELAYS.append((what, time.monotonic() - start, stale))
            return
        stale += 1
        if time.monotonic() - start > FEED_DEADLINE:
            test.fail(f'{what}: still {got!r} after {FEED_DEADLINE} s ({stale} reads); '
                      f'wanted {want!r}')
        time.sleep(0.005)


def meta_of(node, doc):
    status, body = node.md(doc, '/openstack/latest/meta_data.json')
    return (status, json.loads(body)['meta']) if status == 200 else (status, body)


TMP = None
CLUSTER = None
STORE = None
A = B = None


def setUpModule():
    global TMP, CLUSTER, STORE, A, B
    TMP = tempfile.TemporaryDirectory(prefix='metastack-pg-nodes-')
    try:
        CLUSTER = Cluster(also_remove=TMP.name)
        STORE = CLUSTER.create_database('metastack')
        # Both start together: their schema migrations race on the fresh database.
        A, B = Node('a', TMP.name, STORE), Node('b', TMP.name, STORE)
        A.wait_ready()
        B.wait_ready()
        A.cli('router', 'create', ROUTER, '--name', 'edge', '--project', PROJECT)
        A.cli('network', 'create', NETWORK, '--name', 'private', '--project', PROJECT,
              '--router', ROUTER)
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    for node in (A, B):
        if node:
            node.stop()
    if CLUSTER:
        CLUSTER.stop()
    if TMP:
        TMP.cleanup()
    if DELAYS:
        worst = max(DELAYS, key=lambda d: d[1])
        print(f'\nchange feed: {len(DELAYS)} waits, {sum(1 for d in DELAYS if d[2] == 0)} '
              f'served on the first read; slowest {worst[1] * 1000:.1f} ms ({worst[0]})',
              file=sys.stderr)


class TwoNodesTest(unittest.TestCase):
    def test_created_on_a_served_by_b(self):
        doc = make_doc(1)
        self.assertEqual(B.md(doc, '/openstack/latest/meta_data.json'), (404, NOT_FOUND_BODY))
        status, body = A.api('POST', '/v1/instances', doc)
        self.assertEqual(status, 201, body)
        status, data = B.md(doc, '/openstack/latest/meta_data.json')
        self.assertEqual(status, 200, data)
        self.assertEqual(json.loads(data)['uuid'], doc['uuid'])
        self.assertEqual(B.md(doc, '/latest/meta-data/hostname'),
                         (200, b'node-test-1.novalocal'))
        status, got = B.api('GET', f'/v1/instances/{doc["uuid"]}')
        self.assertEqual((status, got['revision']), (200, body['revision']))

    def test_edits_on_one_served_by_the_other(self):
        doc = make_doc(2)
        A.cli('instance', 'create', '-f', '-', stdin=json.dumps(doc).encode())
        self.assertEqual(meta_of(B, doc), (200, BASE['meta']))  # B has it cached now
        A.cli('instance', 'set-meta', doc['uuid'], 'role=db', '--unset', 'tier')
        served_within_deadline(self, 'set-meta on A, read on B', lambda: meta_of(B, doc),
                               (200, {'role': 'db'}))
        status, body = A.api('PATCH', f'/v1/instances/{doc["uuid"]}',
                             {'hostname': 'renamed', 'meta': {'tier': 'back'}})
        self.assertEqual(status, 200, body)
        served_within_deadline(self, 'PATCH on A, read on B',
                               lambda: B.md(doc, '/latest/meta-data/hostname'),
                               (200, b'renamed.novalocal'))
        self.assertEqual(meta_of(B, doc), (200, {'role': 'db', 'tier': 'back'}))
        # And the other way round: B writes, A (which has it cached) serves it.
        self.assertEqual(meta_of(A, doc), (200, {'role': 'db', 'tier': 'back'}))
        B.cli('instance', 'set-meta', doc['uuid'], 'from=b')
        served_within_deadline(self, 'set-meta on B, read on A', lambda: meta_of(A, doc),
                               (200, {'role': 'db', 'tier': 'back', 'from': 'b'}))

    def test_deleted_on_a_is_404_on_b(self):
        doc = make_doc(3)
        A.cli('instance', 'create', '-f', '-', stdin=json.dumps(doc).encode())
        self.assertEqual(B.md(doc, '/latest/meta-data/instance-id'), (200, b'i-0000002a'))
        status, body = A.api('DELETE', f'/v1/instances/{doc["uuid"]}')
        self.assertEqual((status, body), (204, None))
        served_within_deadline(self, 'DELETE on A, read on B',
                               lambda: B.md(doc, '/latest/meta-data/instance-id'),
                               (404, NOT_FOUND_BODY))
        self.assertEqual(B.api('GET', f'/v1/instances/{doc["uuid"]}')[0], 404)

    def test_password_set_on_one_read_on_the_other(self):
        doc = make_doc(4)
        path = '/openstack/latest/password'
        A.cli('instance', 'create', '-f', '-', stdin=json.dumps(doc).encode())
        self.assertEqual(B.md(doc, path), (200, b''))  # cached on B without a password
        self.assertEqual(A.md(doc, path, 'POST', b'encrypted-by-the-guest'), (200, b''))
        served_within_deadline(self, 'password POST on A, GET on B', lambda: B.md(doc, path),
                               (200, b'encrypted-by-the-guest'))
        # Write-once is the database's decision, whichever node the second POST reaches.
        self.assertEqual(B.md(doc, path, 'POST', b'second')[0], 409)
        self.assertEqual(A.md(doc, path, 'POST', b'third')[0], 409)
        self.assertEqual(A.md(doc, path), (200, b'encrypted-by-the-guest'))
        # The operator's reset on B lets the guest post again, through A.
        status, body = B.api('DELETE', f'/v1/instances/{doc["uuid"]}/password')
        self.assertEqual(status, 200, body)
        served_within_deadline(self, 'password reset on B, GET on A', lambda: A.md(doc, path),
                               (200, b''))
        self.assertEqual(A.md(doc, path, 'POST', b'new-one'), (200, b''))
        served_within_deadline(self, 'second password on A, GET on B', lambda: B.md(doc, path),
                               (200, b'new-one'))

    def test_concurrent_patches_through_both_nodes_lose_nothing(self):
        doc = make_doc(5)
        A.cli('instance', 'create', '-f', '-', stdin=json.dumps(doc).encode())

        def patch(i):
            node = (A, B)[i % 2]
            return node.api('PATCH', f'/v1/instances/{doc["uuid"]}',
                            {'meta': {f'k{i:02d}': node.name}})[0]

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            self.assertEqual(list(pool.map(patch, range(40))), [200] * 40)
        want = dict(BASE['meta'], **{f'k{i:02d}': 'ab'[i % 2] for i in range(40)})
        for node in (A, B):
            served_within_deadline(self, f'40 concurrent PATCHes, read on {node.name}',
                                   lambda: meta_of(node, doc), (200, want))

    def test_admin_api_needs_each_nodes_own_token(self):
        for node, other in ((A, B), (B, A)):
            status, body = node.api('GET', '/v1/instances', token='')
            self.assertEqual((status, body), (401, {'error': {
                'code': 'unauthenticated',
                'message': 'an Authorization: Bearer token is required'}}))
            status, body = node.api('GET', '/v1/instances', token=other.token)
            self.assertEqual((status, body), (403, {'error': {
                'code': 'permission_denied', 'message': 'wrong token'}}))
            self.assertEqual(node.api('GET', '/v1/instances?limit=1')[0], 200)


class CliOnTheStoreTest(unittest.TestCase):
    """`--store postgresql://...`: the CLI writes the database itself, and the running nodes
    hear of it through the same change feed (unlike SQLite, where the feed is in-process)."""

    def cli(self, *args, stdin=None, check=True):
        return metastack(*args, '--store', STORE, stdin=stdin, check=check)

    def assertFails(self, args, stderr, stdin=None):
        r = self.cli(*args, stdin=stdin, check=False)
        self.assertEqual((r.returncode, r.stderr.decode()), (1, stderr))

    def test_cli_on_the_shared_store(self):
        doc = make_doc(6, network=NETWORK_CLI)
        uuid = doc['uuid']
        self.cli('network', 'create', NETWORK_CLI, '--name', 'cli-net', '--project', PROJECT)
        self.assertEqual(B.md(doc, '/openstack/latest/meta_data.json'), (404, NOT_FOUND_BODY))
        created = json.loads(self.cli('instance', 'create', '-f', '-',
                                      stdin=json.dumps(doc).encode()).stdout)
        self.assertEqual(created['instance']['uuid'], uuid)
        self.assertEqual(meta_of(B, doc), (200, BASE['meta']))
        self.assertEqual(meta_of(A, doc), (200, BASE['meta']))

        listed = json.loads(self.cli('instance', 'list', '--project', PROJECT, '--json').stdout)
        self.assertIn(uuid, [i['instance']['uuid'] for i in listed])
        shown = json.loads(self.cli('instance', 'show', uuid).stdout)
        self.assertEqual(shown['revision'], created['revision'])
        self.assertEqual(B.api('GET', f'/v1/instances/{uuid}')[1], shown)
        networks = json.loads(self.cli('network', 'list', '--json').stdout)
        self.assertEqual({n['id']: n['router_id'] for n in networks},
                         {NETWORK: ROUTER, NETWORK_CLI: None})
        self.assertEqual(json.loads(self.cli('router', 'show', ROUTER).stdout)['name'], 'edge')
        ports = json.loads(self.cli('port', 'list', '--network', NETWORK_CLI, '--json').stdout)
        self.assertEqual([(p['ip_address'], p['instance_id']) for p in ports],
                         [('10.0.6.5', uuid)])
        found = json.loads(self.cli('port', 'lookup', '--ip', '::ffff:10.0.6.5', '--network',
                                    NETWORK_CLI).stdout)
        self.assertEqual((found['instance_id'], found['project_id']), (uuid, PROJECT))

        self.cli('instance', 'set-meta', uuid, 'edited=by-cli')
        for node in (A, B):
            served_within_deadline(self, f'CLI --store set-meta, read on {node.name}',
                                   lambda: meta_of(node, doc),
                                   (200, dict(BASE['meta'], edited='by-cli')))

        # Conflicts are clear errors, and change nothing.
        self.assertFails(['instance', 'create', '-f', '-'], f'metastack: instance {uuid} exists\n',
                         stdin=json.dumps(doc).encode())
        clash = make_doc(7, network=NETWORK_CLI)
        clash['ports'][0]['subnets'][0]['ip_address'] = '10.0.6.5'
        self.assertFails(['instance', 'create', '-f', '-'],
                         f'metastack: IP 10.0.6.5 on network {NETWORK_CLI} belongs to instance '
                         f'{uuid}\n', stdin=json.dumps(clash).encode())
        stray = make_doc(8, network='no-such-network')
        self.assertFails(['instance', 'create', '-f', '-'],
                         'metastack: ports[0].network_id: unknown network no-such-network\n',
                         stdin=json.dumps(stray).encode())
        self.assertFails(['network', 'delete', NETWORK_CLI],
                         f'metastack: network {NETWORK_CLI} has port {doc["ports"][0]["id"]} of '
                         f'instance {uuid}\n')
        for n in (7, 8):
            self.assertEqual(B.api('GET', f'/v1/instances/{make_doc(n)["uuid"]}')[0], 404)

        self.cli('instance', 'delete', uuid)
        served_within_deadline(self, 'CLI --store delete, read on B',
                               lambda: B.md(doc, '/openstack/latest/meta_data.json'),
                               (404, NOT_FOUND_BODY))
        self.cli('network', 'delete', NETWORK_CLI)
        self.assertEqual(A.api('GET', f'/v1/networks/{NETWORK_CLI}')[0], 404)

    def test_a_newer_schema_is_a_clear_error(self):
        future = CLUSTER.create_database('future')
        self.cli_on(future, 'router', 'list')  # creates the schema
        CLUSTER.sql('future', 'UPDATE schema_version SET version = 99')
        message = 'postgresql: schema version 99 is newer than this metastack supports (4)'
        r = self.cli_on(future, 'router', 'list', check=False)
        self.assertEqual((r.returncode, r.stderr.decode()),
                         (1, f'metastack: {future}: {message}\n'))
        r = subprocess.run([METASTACK, 'api', '--store', future, '--signed-listen',
                            '127.0.0.1:0', '--admin-listen', '', '--secret-file',
                            A.dir / 'secret'], capture_output=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(message, r.stderr.decode())

    def cli_on(self, store, *args, check=True):
        return metastack(*args, '--store', store, check=check)


if __name__ == '__main__':
    unittest.main(verbosity=2)
