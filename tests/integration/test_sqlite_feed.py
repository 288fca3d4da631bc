#!/usr/bin/python3
"""Separate processes on one SQLite file see each other's writes (the store's change feed).

A `metastack api` and a `metastack agent` run on one SQLite file; every edit is made by a third
process, the CLI with `--store sqlite:FILE`, which neither service hears from directly. Each
edit is followed, after the bound the store states (50 ms: sqlite_store.h), by exactly one
request, which must get the new data:

* an edit of an instance's metadata and user data, read through the API's signed listener (its
  instance cache held the old document);
* instance A's port moves 10.0.0.5 -> 10.0.0.7 and tenant C's new instance takes 10.0.0.5: a
  request for 10.0.0.5 through the agent (its UNIX socket, as the ns-proxy sends it, with
  X-Forwarded-For and X-Neutron-Network-ID) gets C's meta_data.json and C's user_data, never
  A's (the agent's (network, IP) -> instance cache and the API's cache both held A).

The wait after each edit is the bound under test, not synchronisation: the request is made once,
and a stale answer fails the test.
"""
import copy
import hashlib
import hmac
import http.client
import json
import pathlib
import socket
import subprocess
import tempfile
import time
import unittest

from harness import Daemon, metastack_binary

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / 'examples' / 'instance.json').read_text())
METASTACK = metastack_binary()

BOUND = 0.050  # seconds: the cross-process announce bound stated in src/store/sqlite_store.h
SECRET = 'feed-test-shared-secret'
NETWORK = '5eed0000-0000-4000-8000-00000000000e'
A = '5eed0000-0000-4000-8000-00000000000a'
C = '5eed0000-0000-4000-8000-00000000000c'
TENANT_A = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
TENANT_C = 'cccccccccccccccccccccccccccccccc'


def instance(uuid, tenant, ip, user_data):
    doc = copy.deepcopy(EXAMPLE)
    doc.update(uuid=uuid, name=f'vm-{uuid[-1]}', hostname=f'vm-{uuid[-1]}', project_id=tenant,
               user_data=user_data, meta={'owner': tenant})
    port = doc['ports'][0]
    port.update(id=f'{uuid[:-1]}f', mac=f'fa:16:3e:00:00:0{uuid[-1]}', network_id=NETWORK)
    port.pop('router_id', None)
    port['subnets'][0]['ip_address'] = ip
    return doc


def accepting(path):
    with socket.socket(socket.AF_UNIX) as s:
        return s.connect_ex(str(path)) == 0


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__('localhost', timeout=5)
        self.path = str(path)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(5)
        self.sock.connect(self.path)


def get(conn, path, headers):
    try:
        conn.request('GET', path, headers=dict(headers))
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


class SqliteFeedAcrossProcessesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = pathlib.Path(cls.tmp.name)
        cls.store = f'sqlite:{cls.dir / "metastack.db"}'
        (cls.dir / 'secret').write_text(SECRET + '\n')
        cls.daemons = []
        cls.cli('network', 'create', NETWORK, '--name', 'shared', '--project', TENANT_A)
        cls.cli('instance', 'create', '-f', '-',
                stdin=json.dumps(instance(A, TENANT_A, '10.0.0.5', "A's user data")))
        ready = cls.dir / 'api.ready'
        api = cls.start('api', '--store', cls.store, '--signed-listen', '127.0.0.1:0',
                        '--admin-listen', '', '--secret-file', cls.dir / 'secret',
                        '--ready-file', ready, ready_file=ready)
        cls.signed_port = api.ports()['signed'][0]
        cls.sock = cls.dir / 'agent.sock'
        cls.start('agent', '--store', cls.store, '--api-url', f'http://127.0.0.1:{cls.signed_port}',
                  '--agent-socket', cls.sock, '--secret-file', cls.dir / 'secret',
                  ready=lambda: accepting(cls.sock))

    @classmethod
    def tearDownClass(cls):
        for d in cls.daemons:
            d.stop()
        cls.tmp.cleanup()

    @classmethod
    def start(cls, verb, *args, ready_file=None, ready=None):
        daemon = Daemon([verb, *args], log=cls.dir / f'{verb}.log', ready_file=ready_file,
                        ready=ready, timeout=15)
        cls.daemons.append(daemon)
        return daemon.start()

    @classmethod
    def cli(cls, *args, stdin=None):
        """One edit by a separate process, straight on the file."""
        r = subprocess.run([METASTACK, *map(str, args), '--store', cls.store],
                           input=stdin.encode() if stdin else None, capture_output=True)
        if r.returncode != 0:
            raise AssertionError(f'metastack {" ".join(map(str, args))}: {r.stderr.decode()}')

    def signed(self, uuid, tenant, path):
        sig = hmac.new(SECRET.encode(), uuid.encode(), hashlib.sha256).hexdigest()
        return get(http.client.HTTPConnection('127.0.0.1', self.signed_port, timeout=5), path,
                   [('X-Instance-ID', uuid), ('X-Tenant-ID', tenant),
                    ('X-Instance-ID-Signature', sig), ('X-Forwarded-For', '10.0.0.5')])

    def via_agent(self, ip, path):
        return get(UnixConnection(self.sock), path,
                   [('X-Forwarded-For', f'::ffff:{ip}'), ('X-Neutron-Network-ID', NETWORK)])

    def test_1_a_cli_edit_is_served_by_the_running_api_after_the_bound(self):
        status, body = self.signed(A, TENANT_A, '/openstack/latest/meta_data.json')
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)['meta'], {'owner': TENANT_A})  # now cached
        for i in range(20):
            self.cli('instance', 'set-meta', A, f'edit={i}')
            time.sleep(BOUND)
            status, body = self.signed(A, TENANT_A, '/openstack/latest/meta_data.json')
            self.assertEqual((status, json.loads(body)['meta']),
                             (200, {'owner': TENANT_A, 'edit': str(i)}), f'edit {i}')

    def test_2_an_ip_moved_and_reused_by_another_tenant_is_never_served_stale(self):
        self.cli('instance', 'set-meta', A, '--unset', 'edit')
        time.sleep(BOUND)
        status, body = self.via_agent('10.0.0.5', '/openstack/latest/meta_data.json')
        self.assertEqual((status, json.loads(body)['uuid']), (200, A))  # both caches hold A
        status, body = self.via_agent('10.0.0.5', '/openstack/latest/user_data')
        self.assertEqual((status, body), (200, b"A's user data"))

        self.cli('instance', 'replace', A, '-f', '-',
                 stdin=json.dumps(instance(A, TENANT_A, '10.0.0.7', "A's user data")))
        self.cli('instance', 'create', '-f', '-',
                 stdin=json.dumps(instance(C, TENANT_C, '10.0.0.5', "C's user data")))
        time.sleep(BOUND)
        status, body = self.via_agent('10.0.0.5', '/openstack/latest/meta_data.json')
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertEqual((doc['uuid'], doc['project_id']), (C, TENANT_C))
        self.assertEqual(self.via_agent('10.0.0.5', '/openstack/latest/user_data'),
                         (200, b"C's user data"))
        status, body = self.via_agent('10.0.0.7', '/openstack/latest/meta_data.json')
        self.assertEqual((status, json.loads(body)['uuid']), (200, A))


if __name__ == '__main__':
    unittest.main()
