#!/usr/bin/python3
"""`metastack agent` in front of Nova's own nova-api-metadata.

Run:  /usr/bin/python3 tests/integration/test_agent_nova.py --metastack BINARY
      (or METASTACK_BIN=BINARY); other arguments go to unittest.

The agent must be a drop-in neutron-metadata-agent: same headers, same signature, so that an
operator can put it in front of the Nova they already run. The upstream here is Nova itself:
Debian's python3-nova `nova.api.metadata.handler.MetadataRequestHandler`, served over HTTP/1.1
by eventlet.wsgi as nova-api-metadata serves it (nova_reference.py --serve), with
[neutron] service_metadata_proxy and metadata_proxy_shared_secret set through oslo.config. Only
Nova's database look-up of the instance is replaced (it builds the InstanceMetadata from our
instance document); what the handler checks itself stays Nova's: the HMAC signature of
X-Instance-ID (constant-time compare), the X-Tenant-ID against the instance's project, the
presence of every header.

Three agents share that one Nova; each has its own SQLite store (filled beforehand with the CLI)
and UNIX socket:
  * `good`:   the right shared secret                     -> Nova's 200, the instance's uuid;
  * `wrong`:  another secret                              -> Nova's 403, byte for byte;
  * `tenant`: the right secret, but its store puts the port in another project, so the agent
              sends another X-Tenant-ID                   -> Nova's 404 (its tenant check).
Requests go to the agent's socket as the ns-proxy sends them: X-Forwarded-For plus
X-Neutron-Network-ID (DHCP namespace) or X-Neutron-Router-ID (router namespace).

Over https (AgentBeforeNovaOverTlsTest): a second Nova serves the same app through Nova's own
nova.wsgi.Server with use_ssl and [wsgi] ssl_cert_file, ssl_key_file and ssl_ca_file (so it
requires a client certificate signed by the CA), certificates made by tls_certs.py. Agents with
`--api-url https://... --api-ca-file CA --api-cert-file --api-key-file`: Nova's 200 and 403;
with another CA, or without a client certificate: 502 to the guest at once, the reason in the
agent's log.
"""
import concurrent.futures
import ctypes
import hashlib
import hmac
import http.client
import json
import pathlib
import signal
import socket
import subprocess
import tempfile
import time
import ssl
import unittest

from harness import metastack_binary
from tls_certs import Pki

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLE = ROOT / 'examples' / 'instance.json'
NOVA_REFERENCE = HERE / 'nova_reference.py'
PYTHON = '/usr/bin/python3'  # Debian's: python3-nova lives in its dist-packages


METASTACK = metastack_binary()

SECRET = 'nova-and-agent-share-this-secret'
WRONG_SECRET = 'not-the-secret-nova-was-given'
DOC = json.loads(EXAMPLE.read_text())
UUID = DOC['uuid']
PROJECT = DOC['project_id']
PORT = DOC['ports'][0]
NETWORK = PORT['network_id']
ROUTER = PORT['router_id']
GUEST_IP = PORT['subnets'][0]['ip_address']
OTHER_PROJECT = 'ffffffffffffffffffffffffffffffff'
# What the agent logs (after "ERROR agent: metadata API: https://127.0.0.1:PORT: ") when the
# upstream's certificate does not verify (signed by a CA it was not given), and when the
# upstream refuses it for want of a client certificate (the TLS 1.3 alert, read with the answer).
TLS_VERIFY_FAILED = ('TLS handshake failed: certificate verify failed: self-signed certificate '
                     'in certificate chain')
TLS_CERT_REQUIRED = 'tlsv13 alert certificate required'

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    """Children get SIGKILL when this process dies, whatever kills it."""
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def spawn(argv, log_path):
    """Starts a child with its output appended to log_path. Only from the main thread:
    PR_SET_PDEATHSIG fires when the spawning thread ends."""
    with open(log_path, 'ab') as log:
        return subprocess.Popen([str(a) for a in argv], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(predicate, what, proc, log_path, timeout=20):
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f'{what} did not start:\n' +
                                 pathlib.Path(log_path).read_text(errors='replace'))
        time.sleep(0.02)


class UnixConnection(http.client.HTTPConnection):
    """HTTP/1.1 over the agent's UNIX socket, as the ns-proxy speaks it."""

    def __init__(self, path, timeout=10):
        super().__init__('localhost', timeout=timeout)
        self.unix_path = str(path)

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def exchange(conn, path, headers):
    conn.request('GET', path, headers=dict(headers))
    r = conn.getresponse()
    return r.status, r.getheader('Content-Type'), r.read()


def via_agent(sock, path, xff=GUEST_IP, network=NETWORK, router=None, timeout=10):
    headers = {'X-Forwarded-For': xff}
    if router:
        headers['X-Neutron-Router-ID'] = router
    else:
        headers['X-Neutron-Network-ID'] = network
    conn = UnixConnection(sock, timeout=timeout)
    try:
        return exchange(conn, path, headers)
    finally:
        conn.close()


def signature(secret, uuid=UUID):
    return hmac.new(secret.encode(), uuid.encode(), hashlib.sha256).hexdigest()


def from_nova(path, secret=SECRET, tenant=PROJECT, xff=GUEST_IP, port=None, tls=None):
    """Nova's own answer to a request signed as the agent should sign it (over https with
    `tls`, an ssl.SSLContext)."""
    if tls:
        conn = http.client.HTTPSConnection('127.0.0.1', port, timeout=10, context=tls)
    else:
        conn = http.client.HTTPConnection('127.0.0.1', port or NOVA_PORT, timeout=10)
    try:
        return exchange(conn, path, {'X-Instance-ID': UUID, 'X-Tenant-ID': tenant,
                                     'X-Instance-ID-Signature': signature(secret),
                                     'X-Forwarded-For': xff})
    finally:
        conn.close()


def without_seed(body):
    doc = json.loads(body)
    doc.pop('random_seed')
    return doc


def cli(*args, stdin=None):
    r = subprocess.run([METASTACK, *map(str, args)], input=stdin, capture_output=True)
    if r.returncode != 0:
        raise AssertionError(f'metastack {" ".join(map(str, args))}: {r.stderr.decode()}')
    return r


TMP = None
PROCS = []
NOVA_PORT = None
AGENTS = {}  # name -> socket path


def start_agent(name, secret, doc, url=None, extra=(), log_level='error'):
    """An agent with its own store holding `doc`, forwarding to `url` (default: the plain
    Nova) with `extra` arguments."""
    d = pathlib.Path(TMP.name)
    store = f'sqlite:{d}/{name}.db'
    cli('router', 'create', ROUTER, '--project', doc['project_id'], '--store', store)
    cli('network', 'create', NETWORK, '--router', ROUTER, '--project', doc['project_id'],
        '--store', store)
    cli('instance', 'create', '-f', '-', '--store', store, stdin=json.dumps(doc).encode())
    (d / f'{name}.secret').write_text(secret + '\n')
    sock = d / f'{name}.sock'
    log_path = d / f'{name}.log'
    proc = spawn([METASTACK, 'agent', '--store', store, '--agent-socket', sock,
                  '--api-url', url or f'http://127.0.0.1:{NOVA_PORT}', '--secret-file',
                  d / f'{name}.secret', '--log-level', log_level, *extra], log_path)
    PROCS.append(proc)

    def accepting():
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(str(sock))
            return True
        except OSError:
            return False

    wait_until(accepting, f'metastack agent ({name})', proc, log_path)
    AGENTS[name] = sock


def start_nova(name, *extra):
    """nova_reference.py --serve (with `extra` arguments); its port."""
    d = pathlib.Path(TMP.name)
    port_file = d / f'{name}.port'
    log_path = d / f'{name}.log'
    nova = spawn([PYTHON, NOVA_REFERENCE, EXAMPLE, '--shared-secret', SECRET,
                  '--serve', port_file, *extra], log_path)
    PROCS.append(nova)
    wait_until(port_file.exists, f'nova-api-metadata (nova_reference.py --serve {name})', nova,
               log_path, timeout=60)
    return int(port_file.read_text())


def setUpModule():
    global TMP, NOVA_PORT
    TMP = tempfile.TemporaryDirectory(prefix='metastack-agent-nova-')
    try:
        NOVA_PORT = start_nova('nova')
        start_agent('good', SECRET, DOC)
        start_agent('wrong', WRONG_SECRET, DOC)
        start_agent('tenant', SECRET, dict(DOC, project_id=OTHER_PROJECT))
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    for proc in reversed(PROCS):
        stop(proc)
    PROCS.clear()
    if TMP:
        TMP.cleanup()


class AgentBeforeNovaTest(unittest.TestCase):
    def test_nova_answers_through_the_agent_by_network(self):
        status, ctype, body = via_agent(AGENTS['good'], '/openstack/latest/meta_data.json')
        self.assertEqual(status, 200, body)
        self.assertEqual(ctype, 'application/json')
        self.assertEqual(json.loads(body)['uuid'], UUID)
        self.assertEqual(json.loads(body)['project_id'], PROJECT)
        nova = from_nova('/openstack/latest/meta_data.json')
        self.assertEqual(nova[0], 200, nova[2])
        self.assertEqual(without_seed(body), without_seed(nova[2]))

    def test_nova_answers_through_the_agent_by_router(self):
        # The router namespace's proxy listens on [::]: the guest's address arrives v4-mapped
        # and is forwarded to Nova verbatim, as Neutron's agent does.
        for path in ('/latest/meta-data/instance-id', '/latest/meta-data/local-ipv4',
                     '/latest/meta-data/', '/openstack/latest/network_data.json',
                     '/openstack/2013-10-17/vendor_data.json'):
            with self.subTest(path=path):
                got = via_agent(AGENTS['good'], path, xff='::ffff:' + GUEST_IP, router=ROUTER)
                self.assertEqual(got, from_nova(path, xff='::ffff:' + GUEST_IP))
                self.assertEqual(got[0], 200, got[2])
        status, _, body = via_agent(AGENTS['good'], '/latest/meta-data/instance-id',
                                    router=ROUTER)
        self.assertEqual((status, body), (200, DOC['ec2']['instance_id'].encode()))

    def test_wrong_shared_secret_is_novas_403(self):
        got = via_agent(AGENTS['wrong'], '/openstack/latest/meta_data.json')
        self.assertEqual(got[0], 403, got[2])
        self.assertIn(b'Invalid proxy request signature.', got[2])
        self.assertEqual(got, from_nova('/openstack/latest/meta_data.json', secret=WRONG_SECRET))

    def test_another_tenant_is_novas_404(self):
        got = via_agent(AGENTS['tenant'], '/openstack/latest/meta_data.json', router=ROUTER)
        self.assertEqual(got[0], 404, got[2])
        self.assertEqual(got, from_nova('/openstack/latest/meta_data.json',
                                        tenant=OTHER_PROJECT))

    def test_unknown_guest_never_reaches_nova(self):
        status, _, _ = via_agent(AGENTS['good'], '/openstack/latest/meta_data.json',
                                 xff='10.0.0.99')
        self.assertEqual(status, 404)

    def test_keepalive_and_concurrency(self):
        conn = UnixConnection(AGENTS['good'])
        try:
            for _ in range(20):
                status, _, body = exchange(conn, '/latest/meta-data/instance-id',
                                           {'X-Forwarded-For': GUEST_IP,
                                            'X-Neutron-Network-ID': NETWORK})
                self.assertEqual((status, body), (200, DOC['ec2']['instance_id'].encode()))
        finally:
            conn.close()

        def one(i):
            return via_agent(AGENTS['good'], '/openstack/latest/meta_data.json',
                             router=ROUTER if i % 2 else None)

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            for status, _, body in pool.map(one, range(64)):
                self.assertEqual(status, 200, body)
                self.assertEqual(json.loads(body)['uuid'], UUID)


class AgentBeforeNovaOverTlsTest(unittest.TestCase):
    """Our agent in front of nova-api-metadata served over https by nova.wsgi.Server, which
    requires a client certificate ([wsgi] ssl_ca_file)."""

    @classmethod
    def setUpClass(cls):
        pki = Pki(pathlib.Path(TMP.name) / 'pki')
        ca = pki.ca('ca')
        server = pki.leaf('server', ca)
        client = pki.leaf('client', ca, client=True)
        other = pki.ca('other')
        cls.port = start_nova('nova-tls', '--ssl-cert-file', server.cert, '--ssl-key-file',
                              server.key, '--ssl-ca-file', ca.cert)
        url = f'https://127.0.0.1:{cls.port}'
        cert = ['--api-cert-file', client.cert, '--api-key-file', client.key]
        start_agent('tls', SECRET, DOC, url, ['--api-ca-file', ca.cert, *cert])
        start_agent('tls-wrong-secret', WRONG_SECRET, DOC, url, ['--api-ca-file', ca.cert, *cert])
        start_agent('tls-other-ca', SECRET, DOC, url, ['--api-ca-file', other.cert, *cert],
                    log_level='warning')
        start_agent('tls-no-cert', SECRET, DOC, url, ['--api-ca-file', ca.cert],
                    log_level='warning')
        cls.tls = ssl.create_default_context(cafile=ca.cert)
        cls.tls.load_cert_chain(client.cert, client.key)

    def agent_log(self, name):
        return (pathlib.Path(TMP.name) / f'{name}.log').read_text(errors='replace')

    def test_nova_answers_over_https(self):
        status, ctype, body = via_agent(AGENTS['tls'], '/openstack/latest/meta_data.json')
        self.assertEqual(status, 200, body)
        self.assertEqual(ctype, 'application/json')
        self.assertEqual(json.loads(body)['uuid'], UUID)
        nova = from_nova('/openstack/latest/meta_data.json', port=self.port, tls=self.tls)
        self.assertEqual(nova[0], 200, nova[2])
        self.assertEqual(without_seed(body), without_seed(nova[2]))
        # Kept alive: many requests on one guest connection, then in parallel.
        conn = UnixConnection(AGENTS['tls'])
        try:
            for _ in range(10):
                got = exchange(conn, '/latest/meta-data/instance-id',
                               {'X-Forwarded-For': GUEST_IP, 'X-Neutron-Router-ID': ROUTER})
                self.assertEqual(got[::2], (200, DOC['ec2']['instance_id'].encode()))
        finally:
            conn.close()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for status, _, body in pool.map(
                    lambda _: via_agent(AGENTS['tls'], '/openstack/latest/meta_data.json'),
                    range(32)):
                self.assertEqual(status, 200, body)

    def test_wrong_shared_secret_is_novas_403_over_https(self):
        got = via_agent(AGENTS['tls-wrong-secret'], '/openstack/latest/meta_data.json')
        self.assertEqual(got[0], 403, got[2])
        self.assertIn(b'Invalid proxy request signature.', got[2])
        self.assertEqual(got, from_nova('/openstack/latest/meta_data.json', secret=WRONG_SECRET,
                                        port=self.port, tls=self.tls))

    def test_another_ca_is_502_and_the_reason_is_logged(self):
        # The 10 s socket timeout is the "never a hang" check: the handshake fails at once.
        status, _, body = via_agent(AGENTS['tls-other-ca'], '/openstack/latest/meta_data.json')
        self.assertEqual(status, 502, body)
        self.assertNotIn(b'certificate', body)  # the reason goes to the log, not to the guest
        self.assertIn(f'ERROR agent: metadata API: https://127.0.0.1:{self.port}: '
                      f'{TLS_VERIFY_FAILED}\n', self.agent_log('tls-other-ca'))

    def test_no_client_certificate_is_502_and_the_reason_is_logged(self):
        # Nova's wrap_ssl with CERT_REQUIRED refuses the handshake ("peer did not return a
        # certificate"); under TLS 1.3 the client learns it from the alert on its first read.
        status, _, body = via_agent(AGENTS['tls-no-cert'], '/openstack/latest/meta_data.json')
        self.assertEqual(status, 502, body)
        self.assertNotIn(b'certificate', body)
        # Under TLS 1.3 the client's handshake completes before Nova checks for a certificate:
        # the agent then learns of the refusal either from Nova's alert (read with the answer)
        # or, when Nova has already closed, from writing the request (EPIPE), whichever comes
        # first. Either way, one line naming the upstream.
        log = self.agent_log('tls-no-cert')
        prefix = f'ERROR agent: metadata API: https://127.0.0.1:{self.port}: '
        hint = ' (the server asked for a client certificate, and none is configured)'
        self.assertTrue(f'{prefix}{TLS_CERT_REQUIRED}{hint}\n' in log or
                        f'{prefix}Broken pipe{hint}\n' in log, log)


if __name__ == '__main__':
    unittest.main(verbosity=2)
