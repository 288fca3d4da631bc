#!/usr/bin/python3
"""The metadata API service (`metastack api`) as guests, cloud-init and operators meet it.

Run:  /usr/bin/python3 tests/integration/test_api_service.py --metastack BINARY
      (or METASTACK_BIN=BINARY); other arguments go to unittest.
Debian's /usr/bin/python3 is required: cloud-init is imported from its dist-packages.

One `metastack api` (memory store) is started for the module with a signed listener, a
source-address listener and the admin listener, all on free ports (--ready-file). Networks, a
router and instances are loaded through the CLI against the admin API. Then:

* cloud-init 22.4.2 reads it with its own OpenStack reader (MetadataReader.read_v2), its whole
  OpenStack datasource (DataSourceOpenStack.get_data, platform check bypassed: no DMI here) and
  its EC2 crawler (cloudinit.sources.helpers.ec2, 22.4.2's home of ec2_utils), twice: through a
  small signing proxy (what the metadata agent does: adds X-Instance-ID, X-Tenant-ID, the
  HMAC signature and X-Forwarded-For) in front of the signed listener, and directly against the
  source-address listener, where an instance's port has the address 127.0.0.1;
* every status of service.h, verbatim; spoofed and duplicated headers; the configured header,
  body, request-time and idle limits; half-closed connections; 1000 concurrent keep-alive
  clients; no descriptor leak; write-once passwords; edits visible on the next GET;
* /healthz and /metrics on the admin listener only.

A second API (memory store) serves source-address callers behind --trusted-proxy, restricted by
--network, with a small --max-connections-per-address. A third, on a SQLite store, checks that
a posted password and an edit survive a restart (skipped, with the reason, while the build's
store cannot open sqlite: URLs).
"""
import asyncio
import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import pathlib
import re
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from unittest import mock

from cloudinit import helpers as ci_helpers
from cloudinit.sources import DataSourceOpenStack as ci_ds_openstack
from cloudinit.sources.helpers import ec2 as ci_ec2
from cloudinit.sources.helpers import openstack as ci_openstack

from harness import metastack_binary, stop_process

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / 'examples' / 'instance.json'


METASTACK = metastack_binary()

SECRET = 'shared-secret-of-the-metadata-agent'
TOKEN = 'admin-token-0123456789abcdef'
HEADER_LIMIT = 4096
BODY_LIMIT = 2048
REQUEST_TIMEOUT = 1.0
IDLE_TIMEOUT = 4.0
CLIENTS = 1000
REQUESTS_PER_CLIENT = 4

# Both this process and the API (which inherits it) hold one descriptor per client.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
_want = 16384 if _hard == resource.RLIM_INFINITY else min(_hard, 16384)
if _soft != resource.RLIM_INFINITY and _soft < _want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (_want, _hard))
FD_LIMIT = resource.getrlimit(resource.RLIMIT_NOFILE)[0]

ROUTER = 'c0ffee00-1234-4abc-8def-0123456789ab'
NET_PRIVATE = '7e5a1b2c-3d4e-4f50-9a8b-7c6d5e4f3a2b'   # the example's network, behind ROUTER
NET_LOCAL = '0b0b0b0b-1111-4222-8333-444444444444'     # holds 127.0.0.1 (source-address mode)

KEYS = {
    'alice': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd8ePkl4iZ0Qm5a2Fj1nLq0m3rK7s5V0f9sXbq0J1c2'
             ' alice@laptop',
    'bob': 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7vbqajDhA6U2B2gK3Yp bob@desk',
    'ci': 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= ci@runner',
}

NOT_FOUND_BODY = b'404 Not Found\n\nThe resource could not be found.\n\n   '


def error_body(status, reason, message):
    return f'{status} {reason}\n\n{message}\n\n   '.encode()


def example(**changes):
    doc = json.loads(EXAMPLE.read_text())
    doc.update(changes)
    return doc


# The signed-mode instance: the example, with three keys (all of them must reach the guest).
WEB = example(public_keys=KEYS)
# The source-address instance: its port is 127.0.0.1 on NET_LOCAL; DHCP subnet, two keys.
LOCAL = example(
    uuid='1c0ca1a1-2b2b-4c3c-8d4d-5e5e5e5e5e5e', name='local-01', hostname='local-01',
    project_id='7a7a7a7a7a7a4b4b8c8c9d9d9d9d9d9d', availability_zone='az-local', launch_index=3,
    public_keys={'bob': KEYS['bob'], 'ci': KEYS['ci']},
    user_data='#!/bin/sh\necho "hello from local-01"\n',
    vendor_data={'cloud-init': '#cloud-config\nruncmd: [[touch, /tmp/vendor]]\n'},
    ec2=dict(example()['ec2'], instance_id='i-000000b1', public_ipv4=None,
             security_groups=['default']),
    ports=[{
        'id': '2e2e2e2e-3f3f-4a4a-8b5b-6c6c6c6c6c6c', 'mac': 'fa:16:3e:aa:bb:cc',
        'network_id': NET_LOCAL, 'network_name': 'loopback', 'mtu': 1500,
        'subnets': [{'id': '3f3f3f3f-4a4a-4b5b-8c6c-7d7d7d7d7d7d', 'cidr': '127.0.0.0/8',
                     'gateway_ip': '127.0.0.254', 'dns_nameservers': ['127.0.0.53'],
                     'enable_dhcp': False, 'host_routes': [], 'ip_address': '127.0.0.1'}]}],
    devices=[])


def derived(uuid, ip, **changes):
    """Another instance on NET_PRIVATE (its own uuid, port and address)."""
    doc = example(uuid=uuid, **changes)
    port = doc['ports'][0]
    port['id'] = 'ffff' + uuid[4:]
    port['mac'] = 'fa:16:3e:00:%02x:%02x' % (int(ip.split('.')[2]), int(ip.split('.')[3]))
    port['subnets'][0]['id'] = 'eeee' + uuid[4:]
    port['subnets'][0]['ip_address'] = ip
    port['subnets'][0]['cidr'] = '10.0.0.0/16'
    return doc


PASSWORD = derived('5a5a5a5a-0000-4000-8000-00000000aaaa', '10.0.1.1', hostname='pw-01', name='pw-01')
EDITED = derived('5a5a5a5a-0000-4000-8000-00000000bbbb', '10.0.1.2', hostname='ed-01', name='ed-01')
OTHER_TENANT = 'ffffffffffffffffffffffffffffffff'


def sign(uuid, secret=SECRET):
    return hmac.new(secret.encode(), uuid.encode(), hashlib.sha256).hexdigest()


def signed(doc, **extra):
    h = [('X-Instance-ID', doc['uuid']), ('X-Tenant-ID', doc['project_id']),
         ('X-Instance-ID-Signature', sign(doc['uuid']))]
    return h + list(extra.items())


def request(port, method, path, headers=(), body=None, timeout=5):
    """One HTTP/1.1 exchange; headers is a list of pairs (repeats allowed). -> (status, headers, body)."""
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        c.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers:
            c.putheader(k, v)
        if body is not None:
            c.putheader('Content-Length', str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


def connect(port, timeout=5):
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_to_eof(s, limit=10.0):
    """Everything the server sends until it closes; ConnectionResetError counts as a close."""
    data = b''
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return data, 'reset'
        except socket.timeout:
            return data, 'open'
        if not chunk:
            return data, 'closed'
        data += chunk
    return data, 'open'


def parse_responses(data, heads=()):
    """Splits raw bytes into [(status, {lower-name: [values]}, body)]; heads: indexes of HEAD answers."""
    out = []
    while data:
        end = data.index(b'\r\n\r\n')
        lines = data[:end].decode('latin-1').split('\r\n')
        status = int(lines[0].split(' ')[1])
        hdrs = {}
        for line in lines[1:]:
            k, v = line.split(':', 1)
            hdrs.setdefault(k.strip().lower(), []).append(v.strip())
        n = 0 if len(out) in heads else int(hdrs.get('content-length', ['0'])[0])
        body = data[end + 4:end + 4 + n]
        if len(body) < n:
            raise AssertionError(f'truncated body: {len(body)} of {n} bytes')
        out.append((status, hdrs, body))
        data = data[end + 4 + n:]
    return out


def raw_request(method, path, headers=(), version='1.1', body=b''):
    lines = [f'{method} {path} HTTP/{version}']
    if version == '1.1':
        lines.append('Host: 169.254.169.254')
    lines += [f'{k}: {v}' for k, v in headers]
    if body:
        lines.append(f'Content-Length: {len(body)}')
    return ('\r\n'.join(lines) + '\r\n\r\n').encode() + body


class Api:
    """One `metastack api` process with a signed, a source-address and an admin listener."""

    def __init__(self, directory, store='memory:', extra=()):
        self.dir = pathlib.Path(directory)
        self.store = store
        self.extra = list(extra)
        self.proc = None
        (self.dir / 'secret').write_text(SECRET + '\n')
        (self.dir / 'token').write_text(TOKEN + '\n')

    def start(self):
        ready = self.dir / 'ready.json'
        if ready.exists():
            ready.unlink()
        self.log = open(self.dir / 'api.log', 'ab')
        self.proc = subprocess.Popen(
            [METASTACK, 'api', '--store', self.store,
             '--signed-listen', '127.0.0.1:0', '--source-listen', '127.0.0.1:0',
             '--admin-listen', '127.0.0.1:0', '--admin-token-file', self.dir / 'token',
             '--secret-file', self.dir / 'secret', '--ready-file', ready, *map(str, self.extra)],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError('metastack api did not start:\n' + self.log_text())
            time.sleep(0.02)
        ports = json.loads(ready.read_text())
        self.signed, self.source, self.admin = ports['signed'][0], ports['source'][0], ports['admin']
        self.url = f'http://127.0.0.1:{self.admin}'
        return self

    def stop(self):
        """SIGTERM; returns the exit code."""
        if self.proc is None:
            return None
        rc = stop_process(self.proc)
        self.proc = None
        self.log.close()
        return rc

    def log_text(self):
        return (self.dir / 'api.log').read_text(errors='replace')

    def cli(self, *args, stdin=None, check=True):
        r = subprocess.run([METASTACK, *map(str, args), '--url', self.url,
                            '--token-file', self.dir / 'token'],
                           input=stdin, capture_output=True)
        if check and r.returncode != 0:
            raise AssertionError(f'metastack {" ".join(map(str, args))}: rc {r.returncode}: '
                                 f'{r.stderr.decode()}')
        return r

    def create(self, doc):
        return self.cli('instance', 'create', '-f', '-', stdin=json.dumps(doc).encode())

    def fds(self):
        return len(os.listdir(f'/proc/{self.proc.pid}/fd'))

    def metric(self, name):
        _, _, body = request(self.admin, 'GET', '/metrics')
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(name + ' ') or line.startswith(name + '{'):
                total += float(line.rsplit(' ', 1)[1])
        return total


def populate(api):
    api.cli('router', 'create', ROUTER, '--name', 'r1', '--project', WEB['project_id'])
    api.cli('network', 'create', NET_PRIVATE, '--name', 'private', '--project', WEB['project_id'],
            '--router', ROUTER)
    api.cli('network', 'create', NET_LOCAL, '--name', 'loopback', '--project', LOCAL['project_id'])
    for doc in (WEB, LOCAL, PASSWORD, EDITED):
        api.create(doc)


def rendered(doc, path, dhcp_domain='novalocal'):
    """What `metastack get` renders for a document (the API must serve the same bytes)."""
    with tempfile.NamedTemporaryFile('w', suffix='.json') as f:
        json.dump(doc, f)
        f.flush()
        r = subprocess.run([METASTACK, 'get', f.name, path, '--dhcp-domain', dhcp_domain],
                           capture_output=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


class SigningProxy:
    """What the metadata agent does for cloud-init, which cannot sign by itself: drops the hop
    headers a guest may have sent, adds X-Instance-ID, X-Tenant-ID, X-Instance-ID-Signature and
    X-Forwarded-For, and forwards to the signed listener."""

    def __init__(self, upstream_port, doc, guest_ip):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def forward(self, method):
                proxy.paths.append(self.path)
                headers = [(k, v) for k, v in self.headers.items()
                           if k.lower() not in ('x-instance-id', 'x-tenant-id', 'host',
                                                'x-instance-id-signature', 'x-forwarded-for',
                                                'connection')]
                status, rh, body = request(upstream_port, method, self.path,
                                           headers + signed(doc) + [('X-Forwarded-For', guest_ip)])
                self.send_response(status)
                self.send_header('Content-Type', rh.get('Content-Type', ''))
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                if method != 'HEAD':
                    self.wfile.write(body)

            def do_GET(self):
                self.forward('GET')

            def do_HEAD(self):
                self.forward('HEAD')

        self.paths = []
        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def cloudinit_read(base_url):
    """cloud-init's own readers against base_url: MetadataReader.read_v2 (whose EC2 part is
    hard-coded to 169.254.169.254, so that address is rewritten to base_url), then the EC2
    crawler and user-data reader as the Ec2 datasource calls them. Small timeouts, no retries."""
    real = ci_ec2.get_instance_metadata

    def at_base(*args, **kwargs):
        kwargs['metadata_address'] = base_url
        return real(*args, **kwargs)

    with mock.patch.object(ci_openstack.ec2, 'get_instance_metadata', at_base):
        v2 = ci_openstack.MetadataReader(base_url, timeout=3, retries=0).read_v2()
    md = ci_ec2.get_instance_metadata(api_version='latest', metadata_address=base_url,
                                      timeout=3, retries=0)
    ud = ci_ec2.get_instance_userdata(api_version='latest', metadata_address=base_url,
                                      timeout=3, retries=0)
    return v2, md, ud


def cloudinit_datasource(base_url, macs):
    """cloud-init's whole OpenStack datasource (DataSourceOpenStack.get_data: the /openstack
    probe, then read_v2) with metadata_urls = [base_url]. Deliberate bypasses: the platform check
    (no DMI here: detect_openstack is forced True), the EC2 address (as in cloudinit_read) and
    the guest's NIC table (`macs`)."""
    real = ci_ec2.get_instance_metadata

    def at_base(*args, **kwargs):
        kwargs['metadata_address'] = base_url
        return real(*args, **kwargs)

    tmp = tempfile.mkdtemp()
    paths = ci_helpers.Paths({'cloud_dir': tmp, 'run_dir': tmp})
    cfg = {'datasource_list': ['OpenStack'],
           'datasource': {'OpenStack': {'metadata_urls': [base_url], 'max_wait': -1,
                                        'timeout': 3, 'retries': 0}}}
    ds = ci_ds_openstack.DataSourceOpenStack(cfg, None, paths)
    with mock.patch.object(ci_ds_openstack, 'detect_openstack', return_value=True), \
            mock.patch.object(ci_openstack.ec2, 'get_instance_metadata', at_base):
        found = ds.get_data()
    with mock.patch('cloudinit.net.get_interfaces_by_mac', return_value=macs):
        network = ds.network_config if found else None
    return found, ds, network


API = None
TMP = None


def setUpModule():
    global API, TMP
    TMP = tempfile.TemporaryDirectory()
    API = Api(TMP.name, extra=[
        '--header-limit', HEADER_LIMIT, '--body-limit', BODY_LIMIT,
        '--request-timeout', REQUEST_TIMEOUT, '--idle-timeout', IDLE_TIMEOUT,
        '--max-connections-per-address', 2000, '--log-level', 'error',
        # LoadTest's 1000 clients are four instances asking 4000 times in about a second, far
        # over any guest's rate (test_rate_limit.py tests the limit itself).
        '--rate-burst', 10000]).start()
    try:
        populate(API)
    except Exception:
        API.stop()
        raise


def tearDownModule():
    rc = API.stop()
    TMP.cleanup()
    if rc != 0:
        raise AssertionError(f'metastack api exited {rc} on SIGTERM')


class CloudInitTest(unittest.TestCase):
    """cloud-init's own readers get the right identity, keys, user data, vendor and network data."""

    def check_openstack(self, v2, doc, hostname):
        md = v2['metadata']
        self.assertEqual(v2['version'], 2)
        self.assertEqual(md['instance-id'], doc['uuid'])
        self.assertEqual(md['uuid'], doc['uuid'])
        self.assertEqual(md['local-hostname'], hostname)
        self.assertEqual(md['name'], doc['name'])
        self.assertEqual(md['availability_zone'], doc['availability_zone'])
        self.assertEqual(md['project_id'], doc['project_id'])
        self.assertEqual(md['meta'], doc['meta'])
        # Every key the operator gave, in order (Nova only serves the first one).
        self.assertEqual(md['public_keys'], doc['public_keys'])
        self.assertEqual([(k['name'], k['data']) for k in md['keys']], list(doc['public_keys'].items()))
        self.assertEqual(len(md['random_seed']), 512)
        self.assertEqual(v2['userdata'], doc['user_data'].encode())
        self.assertEqual(v2['vendordata'], doc['vendor_data'])
        self.assertEqual(v2['vendordata2'], {'static': doc['vendor_data']})
        self.assertEqual(v2['networkdata'],
                         json.loads(rendered(doc, '/openstack/latest/network_data.json')))
        self.assertEqual(v2['files'], {})

    def check_ec2(self, md, doc, hostname, local_ipv4):
        self.assertEqual(md['instance-id'], doc['ec2']['instance_id'])
        self.assertEqual(md['hostname'], hostname)
        self.assertEqual(md['local-hostname'], hostname)
        self.assertEqual(md['local-ipv4'], local_ipv4)
        self.assertEqual(md['ami-launch-index'], str(doc['launch_index']))
        self.assertEqual(md['placement'], {'availability-zone': doc['availability_zone']})
        self.assertEqual(md['public-keys'], doc['public_keys'])
        groups = doc['ec2']['security_groups']
        self.assertEqual(md['security-groups'], groups if len(groups) > 1 else groups[0])

    def test_signed_through_the_agent_shim(self):
        proxy = SigningProxy(API.signed, WEB, '10.0.0.5')
        try:
            v2, md, ud = cloudinit_read(f'http://127.0.0.1:{proxy.port}')
        finally:
            proxy.close()
        self.check_openstack(v2, WEB, 'web-01.novalocal')
        # cloud-init 22.4.2 does not know 2020-10-14: it reads 2018-08-27.
        self.assertIn('/openstack/2018-08-27/meta_data.json', proxy.paths)
        self.check_ec2(v2['ec2-metadata'], WEB, 'web-01.novalocal', '10.0.0.5')
        self.check_ec2(md, WEB, 'web-01.novalocal', '10.0.0.5')
        self.assertEqual(md['public-ipv4'], '203.0.113.10')
        self.assertEqual(ud, WEB['user_data'].encode())
        net = ci_openstack.convert_net_json(v2['networkdata'],
                                            known_macs={'fa:16:3e:12:34:56': 'eth0'})
        self.assertEqual(net['config'][0]['name'], 'eth0')
        self.assertEqual(net['config'][0]['subnets'][0]['address'], '10.0.0.5')

    def test_source_address_directly(self):
        base = f'http://127.0.0.1:{API.source}'
        v2, md, ud = cloudinit_read(base)
        self.check_openstack(v2, LOCAL, 'local-01.novalocal')
        self.check_ec2(v2['ec2-metadata'], LOCAL, 'local-01.novalocal', '127.0.0.1')
        self.check_ec2(md, LOCAL, 'local-01.novalocal', '127.0.0.1')
        self.assertEqual(md['public-ipv4'], '')
        self.assertEqual(ud, LOCAL['user_data'].encode())
        net = ci_openstack.convert_net_json(v2['networkdata'],
                                            known_macs={'fa:16:3e:aa:bb:cc': 'ens3'})
        self.assertEqual(net['config'][0]['name'], 'ens3')
        self.assertEqual(net['config'][0]['subnets'][0]['address'], '127.0.0.1')
        self.assertEqual(net['config'][-1], {'type': 'nameserver', 'address': '127.0.0.53'})

    def check_datasource(self, base_url, doc, mac, name):
        found, ds, network = cloudinit_datasource(base_url, {mac: name})
        self.assertTrue(found)
        self.assertEqual(ds.metadata_address, base_url)
        self.assertEqual(ds.get_instance_id(), doc['uuid'])
        self.assertEqual(ds.get_hostname(fqdn=True).hostname, doc['hostname'] + '.novalocal')
        self.assertEqual(ds.get_public_ssh_keys(), list(doc['public_keys'].values()))
        self.assertEqual(ds.get_userdata_raw(), doc['user_data'].encode())
        self.assertEqual(ds.availability_zone, doc['availability_zone'])
        self.assertEqual(ds.ec2_metadata['instance-id'], doc['ec2']['instance_id'])
        self.assertEqual(network['config'][0]['mac_address'], mac)
        self.assertEqual(network['config'][0]['name'], name)
        return ds

    def test_datasource_through_the_agent_shim(self):
        proxy = SigningProxy(API.signed, WEB, '10.0.0.5')
        try:
            ds = self.check_datasource(f'http://127.0.0.1:{proxy.port}', WEB, 'fa:16:3e:12:34:56',
                                       'eth0')
        finally:
            proxy.close()
        # Nova-style vendor data ({"static": ...} in vendor_data2) has no "cloud-init" key.
        self.assertIsNone(ds.vendordata_raw)
        self.assertEqual(proxy.paths[:2], ['/openstack', '/openstack'])

    def test_datasource_source_address(self):
        ds = self.check_datasource(f'http://127.0.0.1:{API.source}', LOCAL, 'fa:16:3e:aa:bb:cc',
                                   'ens3')
        self.assertEqual(ds.vendordata_raw, LOCAL['vendor_data']['cloud-init'])

    def test_bytes_match_the_renderer(self):
        for path in ('/openstack/latest/network_data.json', '/openstack/2018-08-27/vendor_data.json',
                     '/latest/meta-data/', '/latest/meta-data/public-keys/',
                     '/latest/meta-data/block-device-mapping/', '/openstack/latest/user_data'):
            status, _, body = request(API.signed, 'GET', path, signed(WEB))
            self.assertEqual((status, body), (200, rendered(WEB, path)), path)
        status, _, body = request(API.signed, 'GET', '/latest/meta-data/public-keys/', signed(WEB))
        self.assertEqual(body, b'0=alice\n1=bob\n2=ci')


class StatusTest(unittest.TestCase):
    """Every status of service.h on the signed listener, messages verbatim."""

    def get(self, headers, path='/openstack/latest/meta_data.json', method='GET'):
        return request(API.signed, method, path, headers)

    def assertAnswer(self, answer, status, body):
        self.assertEqual((answer[0], answer[2]), (status, body))

    def test_missing_headers_400_in_order(self):
        uuid, tenant, sig = WEB['uuid'], WEB['project_id'], sign(WEB['uuid'])
        self.assertAnswer(self.get([]), 400, error_body(
            400, 'Bad Request', 'X-Instance-ID header is missing from request.'))
        self.assertAnswer(self.get([('X-Tenant-ID', tenant), ('X-Instance-ID-Signature', sig)]), 400,
                          error_body(400, 'Bad Request', 'X-Instance-ID header is missing from request.'))
        self.assertAnswer(self.get([('X-Instance-ID', uuid), ('X-Tenant-ID', tenant)]), 400, error_body(
            400, 'Bad Request', 'X-Instance-ID-Signature header is missing from request.'))
        self.assertAnswer(self.get([('X-Instance-ID', uuid), ('X-Instance-ID-Signature', sig)]), 400,
                          error_body(400, 'Bad Request', 'X-Tenant-ID header is missing from request.'))
        status, headers, _ = self.get([])
        self.assertEqual(headers['Content-Type'], 'text/plain; charset=UTF-8')

    def test_bad_signature_403(self):
        forbidden = error_body(403, 'Forbidden', 'Invalid proxy request signature.')
        for sig in (sign(WEB['uuid']).upper(), sign(LOCAL['uuid']), sign(WEB['uuid'], 'other'),
                    '', 'zz', sign(WEB['uuid'])[:-1], sign(WEB['uuid']) + '0'):
            h = [('X-Instance-ID', WEB['uuid']), ('X-Tenant-ID', WEB['project_id']),
                 ('X-Instance-ID-Signature', sig)]
            self.assertAnswer(self.get(h), 403, forbidden)

    def test_wrong_tenant_and_unknown_instance_404(self):
        h = [('X-Instance-ID', WEB['uuid']), ('X-Tenant-ID', OTHER_TENANT),
             ('X-Instance-ID-Signature', sign(WEB['uuid']))]
        self.assertAnswer(self.get(h), 404, NOT_FOUND_BODY)
        # Another instance's tenant with a valid signature does not open this one either.
        h = [('X-Instance-ID', WEB['uuid']), ('X-Tenant-ID', LOCAL['project_id']),
             ('X-Instance-ID-Signature', sign(WEB['uuid']))]
        self.assertAnswer(self.get(h), 404, NOT_FOUND_BODY)
        ghost = {'uuid': '00000000-dead-4bee-8f00-000000000000', 'project_id': WEB['project_id']}
        self.assertAnswer(self.get(signed(ghost)), 404, NOT_FOUND_BODY)
        self.assertAnswer(self.get(signed(WEB), '/openstack/latest/nothing'), 404, NOT_FOUND_BODY)
        self.assertAnswer(self.get(signed(WEB), '/latest/meta-data/hostname/extra'), 404,
                          NOT_FOUND_BODY)

    def test_ec2_versions_before_identification(self):
        status, _, body = self.get([], '/')
        self.assertEqual(status, 200)
        self.assertEqual(body.split(b'\n')[-1], b'latest')
        self.assertIn(b'2009-04-04', body.split(b'\n'))

    def test_405_with_allow(self):
        for method in ('DELETE', 'PUT', 'POST', 'PATCH', 'OPTIONS'):
            status, headers, body = self.get(signed(WEB), method=method)
            self.assertEqual(status, 405, method)
            self.assertEqual(headers['Allow'], 'GET, HEAD')
            self.assertEqual(body, error_body(405, 'Method Not Allowed',
                                              f'The method {method} is not allowed for this resource.'))
        for method in ('PUT', 'DELETE'):
            status, headers, _ = self.get(signed(WEB), '/openstack/latest/password', method)
            self.assertEqual((status, headers['Allow']), (405, 'GET, HEAD, POST'))
        # Refused before identification: no headers needed for a 405.
        self.assertEqual(self.get([], method='DELETE')[0], 405)

    def test_head_has_length_and_no_body(self):
        for path in ('/openstack/latest/meta_data.json', '/openstack/latest/user_data',
                     '/latest/meta-data/', '/latest/meta-data/hostname'):
            _, get_headers, get_body = self.get(signed(WEB), path)
            # Raw: HEAD then GET pipelined on one connection; the GET must follow the HEAD's
            # headers at once (no body bytes in between).
            s = connect(API.signed)
            s.sendall(raw_request('HEAD', path, signed(WEB)) + raw_request('GET', path, signed(WEB))
                      + raw_request('GET', '/', [('Connection', 'close')]))
            data, state = read_to_eof(s)
            s.close()
            answers = parse_responses(data, heads=(0,))
            self.assertEqual(len(answers), 3, data)
            (hs, hh, hb), (gs, gh, gb), _ = answers
            self.assertEqual((hs, gs), (200, 200))
            self.assertEqual(hb, b'')
            self.assertEqual(hh['content-length'], [str(len(gb))], path)
            self.assertEqual(hh['content-type'], gh['content-type'])
            self.assertEqual(len(gb), len(get_body))
        # And an error's HEAD: the status, no body.
        s = connect(API.signed)
        s.sendall(raw_request('HEAD', '/openstack/latest/meta_data.json', [('Connection', 'close')]))
        data, _ = read_to_eof(s)
        s.close()
        self.assertTrue(data.startswith(b'HTTP/1.1 400 '), data)
        self.assertTrue(data.endswith(b'\r\n\r\n'), data)

    def test_duplicated_headers(self):
        h = signed(WEB) + [('x-instance-id', WEB['uuid'])]
        self.assertAnswer(self.get(h), 400, error_body(
            400, 'Bad Request', 'Multiple X-Instance-ID headers found within request.'))
        h = signed(WEB) + [('X-TENANT-ID', WEB['project_id'])]
        self.assertAnswer(self.get(h), 400, error_body(
            400, 'Bad Request', 'Multiple X-Tenant-ID headers found within request.'))
        # Two identities at once: refused, never answered as either.
        h = signed(WEB) + signed(LOCAL)
        self.assertEqual(self.get(h)[0], 400)

    def test_spoofed_headers_on_the_source_listener(self):
        """A guest's own X-Instance-ID / X-Forwarded-For mean nothing where the address decides."""
        spoof = signed(WEB) + [('X-Forwarded-For', '10.0.0.5'),
                               ('X-Metadata-Provider', ROUTER),
                               ('X-Metadata-Provider-Signature', sign(ROUTER))]
        status, _, body = request(API.source, 'GET', '/openstack/latest/meta_data.json', spoof)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)['uuid'], LOCAL['uuid'])
        status, _, body = request(API.source, 'GET', '/latest/meta-data/local-ipv4', spoof)
        self.assertEqual((status, body), (200, b'127.0.0.1'))

    def test_forwarded_for_does_not_change_identity_when_signed(self):
        own = WEB['ports'][0]['subnets'][0]['ip_address']
        status, _, body = self.get(signed(WEB) + [('X-Forwarded-For', own)])
        self.assertEqual((status, json.loads(body)['uuid']), (200, WEB['uuid']))
        # LOCAL's address with WEB's signature: never LOCAL's data, and not WEB's either, since
        # WEB does not own that address (a stale port cache in front of the API).
        self.assertAnswer(self.get(signed(WEB) + [('X-Forwarded-For', '127.0.0.1')]), 404,
                          NOT_FOUND_BODY)

    def test_provider_mode(self):
        """Nova's provider variant: the router signs, X-Forwarded-For names the port."""
        ok = [('X-Metadata-Provider', ROUTER), ('X-Metadata-Provider-Signature', sign(ROUTER)),
              ('X-Forwarded-For', '10.0.0.5')]
        status, _, body = self.get(ok, '/latest/meta-data/instance-id')
        self.assertEqual((status, body), (200, b'i-0000002a'))
        self.assertAnswer(self.get(ok[:2]), 400, error_body(
            400, 'Bad Request', 'X-Forwarded-For is missing from request.'))
        bad = [ok[0], ('X-Metadata-Provider-Signature', sign(ROUTER).upper()), ok[2]]
        self.assertAnswer(self.get(bad), 403, error_body(403, 'Forbidden',
                                                         'Invalid proxy request signature.'))
        nobody = ok[:2] + [('X-Forwarded-For', '10.0.9.9')]
        self.assertAnswer(self.get(nobody), 400, error_body(
            400, 'Bad Request',
            f'Expected a single port matching provider {ROUTER} and IP 10.0.9.9.'))

    def test_http10_without_host(self):
        s = connect(API.signed)
        s.sendall(raw_request('GET', '/latest/meta-data/hostname', signed(WEB), version='1.0'))
        data, state = read_to_eof(s, 3)
        s.close()
        self.assertEqual(state, 'closed')
        [(status, _, body)] = parse_responses(data)
        self.assertEqual((status, body), (200, b'web-01.novalocal'))
        self.assertTrue(data.startswith(b'HTTP/1.0 200'), data[:20])

    def test_healthz_and_metrics_only_on_admin(self):
        status, headers, body = request(API.admin, 'GET', '/healthz')
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)['status'], 'ok')
        status, headers, body = request(API.admin, 'GET', '/metrics')
        self.assertEqual(status, 200)
        self.assertTrue(headers['Content-Type'].startswith('text/plain'))
        self.assertIn(b'metastack_api_requests_total{', body)
        self.assertIn(b'metastack_http_connections_open ', body)
        self.assertEqual(request(API.admin, 'GET', '/v1/instances')[0], 401)
        for path in ('/healthz', '/metrics'):
            self.assertEqual(request(API.signed, 'GET', path)[0], 400, path)
            self.assertAnswer(request(API.signed, 'GET', path, signed(WEB)), 404, NOT_FOUND_BODY)
            self.assertAnswer(request(API.source, 'GET', path), 404, NOT_FOUND_BODY)
            self.assertEqual(request(API.signed, 'GET', '/v1/instances', signed(WEB))[0], 404)


class LimitsTest(unittest.TestCase):
    """--header-limit, --body-limit, --request-timeout, --idle-timeout; half-closed peers."""

    def test_header_limit_431(self):
        pad = 'a' * (HEADER_LIMIT - 1000)
        status, _, _ = request(API.signed, 'GET', '/latest/meta-data/hostname',
                               signed(WEB) + [('X-Pad', pad)])
        self.assertEqual(status, 200)
        s = connect(API.signed)
        s.sendall(raw_request('GET', '/latest/meta-data/hostname',
                              signed(WEB) + [('X-Pad', 'a' * HEADER_LIMIT)]))
        data, state = read_to_eof(s, 3)
        s.close()
        self.assertTrue(data.startswith(b'HTTP/1.1 431 '), data)
        self.assertEqual(state, 'closed')
        # Many small headers add up the same way.
        s = connect(API.signed)
        s.sendall(raw_request('GET', '/', [(f'X-H{i}', 'v' * 40) for i in range(200)]))
        data, state = read_to_eof(s, 3)
        s.close()
        self.assertTrue(data.startswith(b'HTTP/1.1 431 '), data)

    def test_body_limit_413(self):
        path = '/openstack/latest/password'
        # Within the transport's limit but over the password's: Nova's 400.
        status, _, body = request(API.signed, 'POST', path, signed(WEB), b'x' * 1021)
        self.assertEqual((status, body), (400, error_body(400, 'Bad Request', 'Request is too large.')))
        s = connect(API.signed)
        s.sendall(raw_request('POST', path, signed(WEB), body=b'x' * (BODY_LIMIT + 1)))
        data, state = read_to_eof(s, 3)
        s.close()
        self.assertTrue(data.startswith(b'HTTP/1.1 413 '), data)
        self.assertEqual(state, 'closed')
        # Expect: 100-continue with a too-long Content-Length: 413 before any body is sent.
        s = connect(API.signed)
        s.sendall(raw_request('POST', path, signed(WEB) + [('Expect', '100-continue'),
                                                           ('Content-Length', '100000')]))
        data, state = read_to_eof(s, 3)
        s.close()
        self.assertTrue(data.startswith(b'HTTP/1.1 413 '), data)
        # Nothing was set by any of these.
        status, _, body = request(API.signed, 'GET', path, signed(WEB))
        self.assertEqual((status, body), (200, b''))

    def test_admin_takes_every_document_the_format_allows(self):
        """The admin listener has its own body limit (--admin-body-limit, default the largest
        document), apart from the guests' --body-limit (2048 here)."""
        # The longest user data Nova allows (65535 bytes once base64-encoded), of characters JSON
        # escapes: a 98 KB request body. And a 200 KB binary injected file.
        user_data = ('#!/bin/sh\n' + '"\\\t' * 20000)[:49149]
        blob = os.urandom(200 * 1024)
        doc = derived('5a5a5a5a-0000-4000-8000-00000000cccc', '10.0.1.3', hostname='big-01',
                      name='big-01', user_data=user_data,
                      files=[{'path': '/etc/big.bin',
                              'contents_b64': base64.b64encode(blob).decode()}])
        body = json.dumps(doc).encode()
        self.assertGreater(len(body), 64 * 1024 + 200 * 1024)
        API.create(doc)
        status, _, served = request(API.signed, 'GET', '/openstack/latest/user_data', signed(doc))
        self.assertEqual((status, served), (200, user_data.encode()))
        status, _, served = request(API.signed, 'GET', '/latest/user-data', signed(doc))
        self.assertEqual((status, served), (200, user_data.encode()))
        shown = json.loads(API.cli('instance', 'show', doc['uuid']).stdout)
        self.assertEqual([base64.b64decode(f['contents_b64']) for f in shown['instance']['files']],
                         [blob])

        # Over the admin listener's limit: the CLI says what happened, with the status.
        with tempfile.TemporaryDirectory() as d:
            small = Api(d, extra=['--admin-body-limit', 100000, '--log-level', 'error']).start()
            try:
                r = small.cli('instance', 'create', '-f', '-', stdin=body, check=False)
                self.assertEqual((r.returncode, r.stderr.decode()), (
                    1, f'metastack: {small.url}: answered 413 Payload Too Large: the request body '
                       f'({len(body)} bytes) is over the admin listener\'s limit '
                       '(--admin-body-limit)\n'))
            finally:
                small.stop()

    def test_slow_clients_cut_off_while_others_are_served(self):
        before = API.metric('metastack_http_timeouts_total')
        slow = [connect(API.signed) for _ in range(8)]
        idle = connect(API.signed)
        started = time.monotonic()
        for s in slow:
            s.sendall(b'GET /openstack/latest/meta_data.json HTTP/1.1\r\n')
        closed_at = {}
        latencies = []
        stop = threading.Event()

        def trickle():
            while not stop.is_set() and len(closed_at) < len(slow):
                for i, s in enumerate(slow):
                    if i in closed_at:
                        continue
                    try:
                        s.sendall(b'X')
                        s.setblocking(False)
                        try:
                            if s.recv(4096) == b'':
                                closed_at[i] = time.monotonic() - started
                        except BlockingIOError:
                            pass
                        finally:
                            s.setblocking(True)
                    except (BrokenPipeError, ConnectionResetError):
                        closed_at[i] = time.monotonic() - started
                time.sleep(0.05)

        t = threading.Thread(target=trickle)
        t.start()
        try:
            while time.monotonic() - started < REQUEST_TIMEOUT + 1.5:
                t0 = time.monotonic()
                status, _, _ = request(API.signed, 'GET', '/openstack/latest/meta_data.json', signed(WEB))
                latencies.append(time.monotonic() - t0)
                self.assertEqual(status, 200)
                time.sleep(0.02)
            t.join(5)
        finally:
            stop.set()
            t.join()
        for s in slow:
            s.close()
        self.assertEqual(len(closed_at), len(slow), closed_at)
        for i, when in closed_at.items():
            self.assertGreaterEqual(when, REQUEST_TIMEOUT * 0.9, closed_at)
            self.assertLess(when, REQUEST_TIMEOUT + 1.0, closed_at)
        self.assertLess(max(latencies), 0.5, latencies)
        self.assertGreater(len(latencies), 10)
        self.assertGreaterEqual(API.metric('metastack_http_timeouts_total') - before, len(slow))
        # The idle connection was not subject to the request timeout, only to the idle one;
        # it is still usable now, and closed once idle long enough.
        idle.setblocking(False)
        with self.assertRaises(BlockingIOError):
            idle.recv(1)
        idle.setblocking(True)
        elapsed = time.monotonic() - started
        data, state = read_to_eof(idle, IDLE_TIMEOUT - elapsed + 1.5)
        idle.close()
        self.assertEqual((data, state), (b'', 'closed'))
        self.assertGreaterEqual(time.monotonic() - started, IDLE_TIMEOUT * 0.9)

    def test_half_closed(self):
        path = '/latest/meta-data/hostname'
        # A whole request, then the client shuts its sending side: answered, then closed.
        s = connect(API.signed)
        s.sendall(raw_request('GET', path, signed(WEB)))
        s.shutdown(socket.SHUT_WR)
        data, state = read_to_eof(s, 3)
        s.close()
        self.assertEqual(state, 'closed')
        [(status, _, body)] = parse_responses(data)
        self.assertEqual((status, body), (200, b'web-01.novalocal'))
        # Two pipelined requests, then half-close: both answered in order.
        s = connect(API.signed)
        s.sendall(raw_request('GET', path, signed(WEB)) +
                  raw_request('GET', '/latest/meta-data/instance-id', signed(WEB)))
        s.shutdown(socket.SHUT_WR)
        data, state = read_to_eof(s, 3)
        s.close()
        self.assertEqual([(a[0], a[2]) for a in parse_responses(data)],
                         [(200, b'web-01.novalocal'), (200, b'i-0000002a')])
        # Half a request, then half-close: closed at once (a 400 at most), not after a timeout.
        for partial in (b'', b'GET /latest/meta-data/host', b'GET / HTTP/1.1\r\nHost: x\r\n'):
            s = connect(API.signed)
            t0 = time.monotonic()
            s.sendall(partial)
            s.shutdown(socket.SHUT_WR)
            data, state = read_to_eof(s, 3)
            s.close()
            self.assertEqual(state, 'closed', partial)
            self.assertLess(time.monotonic() - t0, REQUEST_TIMEOUT * 0.8, partial)
            self.assertTrue(data == b'' or data.startswith(b'HTTP/1.1 400 '), data)
        # The client goes away without reading a large answer: the server carries on.
        for _ in range(20):
            s = connect(API.signed)
            s.sendall(raw_request('GET', '/openstack/latest/meta_data.json', signed(WEB)) * 20)
            s.close()
        self.assertEqual(request(API.signed, 'GET', path, signed(WEB))[0], 200)


class LoadTest(unittest.TestCase):
    """1000 concurrent keep-alive clients, all answered 200; no descriptor leak afterwards."""

    def test_concurrent_keepalive_clients(self):
        if FD_LIMIT < 2 * CLIENTS + 200:
            self.skipTest(f'descriptor limit {FD_LIMIT} is too low for {CLIENTS} clients')
        # Warm up, so that the baseline already holds everything a first request opens.
        for _ in range(3):
            request(API.signed, 'GET', '/openstack/latest/meta_data.json', signed(WEB))
        time.sleep(0.2)
        fds_before = API.fds()
        docs = [WEB, PASSWORD, EDITED]
        paths = ['/openstack/latest/meta_data.json', '/latest/meta-data/instance-id',
                 '/openstack/latest/network_data.json', '/latest/meta-data/']
        peak = {}

        async def read_answer(reader):
            head = await reader.readuntil(b'\r\n\r\n')
            status = int(head.split(b' ', 2)[1])
            n = int(re.search(rb'(?i)\r\ncontent-length: *(\d+)', head).group(1))
            return status, await reader.readexactly(n)

        async def client(i, all_connected, connected):
            reader, writer = await asyncio.open_connection('127.0.0.1', API.signed)
            connected.append(i)
            await all_connected.wait()
            results = []
            doc = docs[i % len(docs)]
            for k in range(REQUESTS_PER_CLIENT):
                writer.write(raw_request('GET', paths[(i + k) % len(paths)], signed(doc)))
                await writer.drain()
                results.append(await read_answer(reader))
            writer.close()
            await writer.wait_closed()
            return doc, results

        async def main():
            all_connected = asyncio.Event()
            connected = []
            tasks = [asyncio.create_task(client(i, all_connected, connected)) for i in range(CLIENTS)]
            deadline = time.monotonic() + 20
            while len(connected) < CLIENTS and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            peak['connected'] = len(connected)
            # Connected means the kernel completed the handshake; the server may still be
            # accepting its backlog (slowly, under sanitizers), so wait for it, bounded.
            loop = asyncio.get_running_loop()
            while True:
                peak['open'] = await loop.run_in_executor(
                    None, API.metric, 'metastack_http_connections_open')
                peak['fds'] = API.fds()
                if peak['open'] >= CLIENTS or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            t0 = time.monotonic()
            all_connected.set()
            out = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
            peak['seconds'] = time.monotonic() - t0
            return out

        results = asyncio.run(main())
        errors = [r for r in results if isinstance(r, BaseException)]
        self.assertEqual(errors[:3], [], f'{len(errors)} clients failed')
        self.assertEqual(peak['connected'], CLIENTS)
        self.assertGreaterEqual(peak['open'], CLIENTS)
        self.assertGreaterEqual(peak['fds'], fds_before + CLIENTS)
        statuses = [s for _, rs in results for s, _ in rs]
        self.assertEqual(len(statuses), CLIENTS * REQUESTS_PER_CLIENT)
        self.assertEqual(set(statuses), {200})
        for doc, rs in results:
            for (_, body) in rs:
                if body.startswith(b'{"uuid"'):
                    self.assertEqual(json.loads(body)['uuid'], doc['uuid'])
                elif body.startswith(b'i-'):
                    self.assertEqual(body.decode(), doc['ec2']['instance_id'])
        # Every connection is closed on our side; the server must release every descriptor.
        deadline = time.monotonic() + 5
        while API.fds() > fds_before + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertLessEqual(API.fds(), fds_before + 2,
                             f'before {fds_before}, peak {peak["fds"]}, after {API.fds()}')
        self.assertLessEqual(API.metric('metastack_http_connections_open'), 2)
        print(f'\n  {CLIENTS} clients x {REQUESTS_PER_CLIENT} requests in {peak["seconds"]:.2f} s; '
              f'descriptors {fds_before} -> {peak["fds"]} -> {API.fds()}', file=sys.stderr)


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
