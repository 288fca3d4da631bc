"""What the tests of the metadata API service (`metastack api`) share: the documents they load,
signed and raw HTTP requests, an `Api` (one `metastack api` with a signed, a source-address and
an admin listener, on free ports via --ready-file), cloud-init's own readers, and the module API
(memory store) that each test module starts with setUpModule and stops with tearDownModule
(import both from here).

Run the tests (test_api_*.py) with Debian's /usr/bin/python3: cloud-init is imported from its
dist-packages.
"""
import hashlib
import hmac
import http.client
import http.server
import json
import os
import pathlib
import resource
import socket
import subprocess
import tempfile
import threading
import time
from unittest import mock
from cloudinit import helpers as ci_helpers
from cloudinit.sources import DataSourceOpenStack as ci_ds_openstack
from cloudinit.sources.helpers import ec2 as ci_ec2
from cloudinit.sources.helpers import openstack as ci_openstack

from harness import Daemon, metastack_binary

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
    """One `metastack api` process with a signed, a source-address and an admin listener, its
    files (secret, token, ready file, log) in `directory` (a temporary one of its own when None,
    made on the first start() and removed by close())."""

    def __init__(self, directory=None, store='memory:', extra=()):
        self.dir = pathlib.Path(directory) if directory else None
        self.tmp = None
        self.store = store
        self.extra = list(extra)
        self.daemon = None

    def start(self):
        if self.dir is None:
            self.tmp = tempfile.TemporaryDirectory(prefix='metastack-api-')
            self.dir = pathlib.Path(self.tmp.name)
        (self.dir / 'secret').write_text(SECRET + '\n')
        (self.dir / 'token').write_text(TOKEN + '\n')
        ready = self.dir / 'ready.json'
        self.daemon = Daemon(
            ['api', '--store', self.store,
             '--signed-listen', '127.0.0.1:0', '--source-listen', '127.0.0.1:0',
             '--admin-listen', '127.0.0.1:0', '--admin-token-file', self.dir / 'token',
             '--secret-file', self.dir / 'secret', '--ready-file', ready, *self.extra],
            log=self.dir / 'api.log', ready_file=ready, timeout=15).start()
        ports = self.daemon.ports()
        self.signed, self.source, self.admin = ports['signed'][0], ports['source'][0], ports['admin']
        self.url = f'http://127.0.0.1:{self.admin}'
        return self

    def stop(self):
        """SIGTERM; returns the exit code (None when not running)."""
        daemon, self.daemon = self.daemon, None
        return daemon.stop() if daemon else None

    def close(self):
        """Stops it and removes its own temporary directory; returns the exit code."""
        rc = self.stop()
        if self.tmp:
            self.tmp.cleanup()
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
        return len(os.listdir(f'/proc/{self.daemon.pid}/fd'))

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


# The module's API (memory store), which every test module that imports setUpModule and
# tearDownModule from here shares.
API = Api(extra=[
    '--header-limit', HEADER_LIMIT, '--body-limit', BODY_LIMIT,
    '--request-timeout', REQUEST_TIMEOUT, '--idle-timeout', IDLE_TIMEOUT,
    '--max-connections-per-address', 2000, '--log-level', 'error',
    # LoadTest's 1000 clients are four instances asking 4000 times in about a second, far
    # over any guest's rate (test_rate_limit.py tests the limit itself).
    '--rate-burst', 10000])


def setUpModule():
    API.start()
    try:
        populate(API)
    except Exception:
        API.close()
        raise


def tearDownModule():
    rc = API.close()
    if rc != 0:
        raise AssertionError(f'metastack api exited {rc} on SIGTERM')
