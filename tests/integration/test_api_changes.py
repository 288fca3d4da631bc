#!/usr/bin/python3
"""What changes the metadata API serves: write-once passwords, edits visible on the next GET;
source-address mode behind --trusted-proxy, restricted by --network, with a small
--max-connections-per-address (an API of its own); and, on a SQLite store, a posted password and
an edit that survive a restart (skipped, with the reason, while the build's store cannot open
sqlite: URLs).

Run:  /usr/bin/python3 tests/integration/test_api_changes.py --metastack BINARY
"""
import http.client
import http.server
import json
import subprocess
import tempfile
import time
import unittest

# setUpModule and tearDownModule start and stop the module API (API) these tests share.
from api_service import (API, Api, EDITED, LOCAL, METASTACK, NET_PRIVATE, NOT_FOUND_BODY, PASSWORD,
                         WEB, cloudinit_read, connect, error_body, populate, raw_request,
                         read_to_eof, request, setUpModule, signed, tearDownModule)


class ChangesTest(unittest.TestCase):
    """Write-once passwords and operator edits, visible on the very next request."""

    def test_password_post_twice(self):
        path = '/openstack/2013-04-04/password'
        h = signed(PASSWORD)
        self.assertEqual(request(API.signed, 'GET', path, h)[::2], (200, b''))
        status, headers, body = request(API.signed, 'POST', path, h, b'encrypted-1')
        self.assertEqual((status, body), (200, b''))
        self.assertEqual(request(API.signed, 'GET', path, h)[::2], (200, b'encrypted-1'))
        status, _, body = request(API.signed, 'POST', path, h, b'encrypted-2')
        self.assertEqual(status, 409)
        self.assertEqual(body, error_body(409, 'Conflict', 'There was a conflict when trying to '
                                          'complete your request.'))
        self.assertEqual(request(API.signed, 'GET', '/openstack/latest/password', h)[::2],
                         (200, b'encrypted-1'))
        # The operator's reset lets the guest post again.
        API.cli('instance', 'reset-password', PASSWORD['uuid'])
        self.assertEqual(request(API.signed, 'GET', path, h)[::2], (200, b''))
        self.assertEqual(request(API.signed, 'POST', path, h, b'encrypted-3')[0], 200)
        self.assertEqual(request(API.signed, 'GET', path, h)[::2], (200, b'encrypted-3'))
        # Not listed before 2013-04-04, as Nova.
        self.assertEqual(request(API.signed, 'GET', '/openstack/2012-08-10/password', h)[0], 404)

    def test_cli_edits_visible_on_next_get(self):
        h = signed(EDITED)
        meta = '/openstack/latest/meta_data.json'
        self.assertEqual(json.loads(request(API.signed, 'GET', meta, h)[2])['meta'], EDITED['meta'])
        for i in range(5):
            API.cli('instance', 'set-meta', EDITED['uuid'], f'round={i}')
            got = json.loads(request(API.signed, 'GET', meta, h)[2])['meta']
            self.assertEqual(got['round'], str(i))
        doc = dict(EDITED, hostname='renamed-01')
        API.cli('instance', 'replace', EDITED['uuid'], '-f', '-', stdin=json.dumps(doc).encode())
        self.assertEqual(request(API.signed, 'GET', '/latest/meta-data/hostname', h)[::2],
                         (200, b'renamed-01.novalocal'))
        self.assertEqual(request(API.signed, 'GET', meta, h)[0], 200)
        API.cli('instance', 'delete', EDITED['uuid'])
        self.assertEqual(request(API.signed, 'GET', meta, h)[::2], (404, NOT_FOUND_BODY))
        API.create(EDITED)
        self.assertEqual(json.loads(request(API.signed, 'GET', meta, h)[2])['meta'], EDITED['meta'])

    def test_network_edit_visible_to_source_mode(self):
        """Moving an address between instances changes who the source listener answers for."""
        # LOCAL answers for 127.0.0.1 now; give the address to another instance instead.
        status, _, body = request(API.source, 'GET', '/latest/meta-data/instance-id')
        self.assertEqual((status, body), (200, b'i-000000b1'))
        moved = dict(LOCAL, uuid='1c0ca1a1-2b2b-4c3c-8d4d-000000000002',
                     ec2=dict(LOCAL['ec2'], instance_id='i-000000b2'))
        moved['ports'] = [dict(LOCAL['ports'][0], id='2e2e2e2e-3f3f-4a4a-8b5b-000000000002')]
        try:
            API.cli('instance', 'delete', LOCAL['uuid'])
            self.assertEqual(request(API.source, 'GET', '/latest/meta-data/instance-id')[0], 404)
            API.create(moved)
            self.assertEqual(request(API.source, 'GET', '/latest/meta-data/instance-id')[::2],
                             (200, b'i-000000b2'))
        finally:
            API.cli('instance', 'delete', moved['uuid'], check=False)
            API.create(LOCAL)
        self.assertEqual(request(API.source, 'GET', '/latest/meta-data/instance-id')[::2],
                         (200, b'i-000000b1'))


class SourceOptionsTest(unittest.TestCase):
    """Source-address mode behind a trusted proxy (--trusted-proxy), restricted to some networks
    (--network), and the per-address connection limit; a second API of its own."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.api = Api(cls.tmp.name, extra=[
            '--trusted-proxy', '127.0.0.1', '--trusted-proxy', '192.0.2.0/24',
            '--network', NET_PRIVATE, '--max-connections-per-address', 4,
            '--log-level', 'error']).start()
        try:
            populate(cls.api)
        except Exception:
            cls.api.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.api.stop()
        cls.tmp.cleanup()

    def get(self, xff=None, path='/latest/meta-data/instance-id'):
        return request(self.api.source, 'GET', path, [('X-Forwarded-For', xff)] if xff else [])

    def test_forwarded_for_from_a_trusted_proxy(self):
        self.assertEqual(self.get('10.0.0.5')[::2], (200, b'i-0000002a'))
        self.assertEqual(self.get('10.0.0.5', '/latest/meta-data/local-ipv4')[::2],
                         (200, b'10.0.0.5'))
        # The right-most address that is not a trusted proxy is the caller; what the guest put
        # in front of it (the left) cannot choose another instance.
        self.assertEqual(self.get('10.0.1.1, 10.0.0.5')[::2], (200, b'i-0000002a'))
        self.assertEqual(self.get('10.0.0.5, 192.0.2.7 , 127.0.0.1')[::2], (200, b'i-0000002a'))
        self.assertEqual(self.get('10.0.0.5, 10.9.9.9')[::2], (404, NOT_FOUND_BODY))
        self.assertEqual(self.get('not-an-address')[::2], (404, NOT_FOUND_BODY))
        self.assertEqual(self.get('192.0.2.7')[::2], (404, NOT_FOUND_BODY))

    def test_only_the_configured_networks(self):
        # 127.0.0.1 is LOCAL's address, but on NET_LOCAL, which this API does not search.
        self.assertEqual(self.get()[::2], (404, NOT_FOUND_BODY))
        self.assertEqual(self.get('127.0.0.1')[::2], (404, NOT_FOUND_BODY))

    def test_connections_per_address(self):
        before = self.api.metric('metastack_http_connections_refused_total')
        held = [connect(self.api.source) for _ in range(4)]
        try:
            for s in held:  # all four are served
                s.sendall(raw_request('GET', '/latest/meta-data/instance-id',
                                      [('X-Forwarded-For', '10.0.0.5')]))
                data = b''
                while not data.endswith(b'i-0000002a'):
                    data += s.recv(4096)
            extra = connect(self.api.source)
            extra.sendall(raw_request('GET', '/', [('Connection', 'close')]))
            data, state = read_to_eof(extra, 3)
            extra.close()
            self.assertEqual(data, b'')
            self.assertIn(state, ('closed', 'reset'))
            self.assertGreater(self.api.metric('metastack_http_connections_refused_total'), before)
        finally:
            for s in held:
                s.close()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                if request(self.api.source, 'GET', '/', timeout=1)[0] == 200:
                    break
            except (ConnectionError, http.client.HTTPException):
                time.sleep(0.05)
        self.assertEqual(request(self.api.source, 'GET', '/')[0], 200)


def sqlite_supported():
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([METASTACK, 'network', 'list', '--store', f'sqlite:{d}/probe.db'],
                           capture_output=True)
    return r.returncode == 0, r.stderr.decode().strip()


class PersistenceTest(unittest.TestCase):
    """With --store sqlite:PATH a posted password survives a restart of the API."""

    def test_password_survives_restart(self):
        ok, why = sqlite_supported()
        if not ok:
            self.skipTest(f'sqlite store not available in this build: {why}')
        with tempfile.TemporaryDirectory() as d:
            api = Api(d, store=f'sqlite:{d}/metastack.db', extra=['--log-level', 'error']).start()
            try:
                populate(api)
                path = '/openstack/latest/password'
                h = signed(PASSWORD)
                self.assertEqual(request(api.signed, 'POST', path, h, b'enc-blob')[0], 200)
                self.assertEqual(request(api.signed, 'POST', path, h, b'other')[0], 409)
                api.cli('instance', 'set-meta', WEB['uuid'], 'persisted=yes')
                self.assertEqual(api.stop(), 0)
                api.start()
                self.assertEqual(request(api.signed, 'GET', path, h)[::2], (200, b'enc-blob'))
                self.assertEqual(request(api.signed, 'POST', path, h, b'other')[0], 409)
                self.assertEqual(request(api.signed, 'GET', path, h)[::2], (200, b'enc-blob'))
                md = json.loads(request(api.signed, 'GET', '/openstack/latest/meta_data.json',
                                        signed(WEB))[2])
                self.assertEqual(md['meta']['persisted'], 'yes')
                # cloud-init still reads the restarted service.
                v2, _, _ = cloudinit_read(f'http://127.0.0.1:{api.source}')
                self.assertEqual(v2['metadata']['instance-id'], LOCAL['uuid'])
            finally:
                rc = api.stop()
            self.assertIn(rc, (0, None))


if __name__ == '__main__':
    unittest.main(verbosity=2)
