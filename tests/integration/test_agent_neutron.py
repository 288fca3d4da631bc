#!/usr/bin/python3
"""`metastack agent` and Neutron's own metadata agent name the same instance for every guest.

Run:  /usr/bin/python3 tests/integration/test_agent_neutron.py --metastack BINARY
      (or METASTACK_BIN=BINARY); other arguments go to unittest.

Neutron's side is Debian's python3-neutron: the real MetadataProxyHandler (reading
X-Forwarded-For, an IPv4-mapped address as IPv4, a link-local IPv6 address as the MAC its
interface id names through oslo's get_mac_addr_by_ipv6, the router's networks, exactly one port
or no answer), called in process with webob requests. Its one seam, MetadataPluginAPI (the RPC
client asking neutron-server for ports), is replaced by a filter over one shared port list with
neutron-server's semantics for the filters the handler sends (device_id, device_owner,
network_id, mac_address, fixed_ips ip_address).

Our side is `metastack agent` over a SQLite store holding the same ports (filled with the CLI),
asked over its UNIX socket as the ns-proxy asks it.

Both forward to one upstream started here, which answers with the X-Instance-ID and X-Tenant-ID
it was sent (after checking their signature): for each X-Forwarded-For, behind a router or on a
network, both must name the same instance and tenant, or both none (404 without reaching it).

Then Neutron's agent forwards to `metastack api` itself: every method on every path family comes
back with our API's status, which Neutron's agent passes on (it turns any status but 200, 400,
403, 404, 409 and 500 into a 500 with a traceback in its log).

Over https (NeutronAgentOverTlsToOurApiTest): Neutron's agent configured with
nova_metadata_protocol = https, auth_ca_cert, nova_client_cert and nova_client_priv_key (its
`requests` call gets verify=CA, cert=(cert, key)) in front of `metastack api` listening with
--api-tls-cert-file/--api-tls-key-file and --api-tls-client-ca-file (mutual TLS), certificates
made by tls_certs.py: 200 for its guest, 403 for another secret, and without a client
certificate (or trusting another CA) its `requests` call raises, which it answers with its 500.
"""
# As neutron-metadata-agent starts (neutron.cmd.eventlet): monkey patching before anything else,
# so that Neutron's handler, its `requests` call and this test's threads share one hub.
from neutron.common import eventlet_utils

eventlet_utils.monkey_patch()

import hashlib  # noqa: E402
import hmac  # noqa: E402
import http.client  # noqa: E402
import http.server  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pathlib  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import unittest  # noqa: E402

from harness import Daemon, metastack_binary, network_instance, unix_get  # noqa: E402
from tls_certs import Pki  # noqa: E402

# Neutron's handler calls `requests`; the upstream is local whatever proxy the environment names.
os.environ['no_proxy'] = os.environ['NO_PROXY'] = '127.0.0.1,localhost'

import requests  # noqa: E402
import webob  # noqa: E402
from neutron.agent.metadata import agent as neutron_agent  # noqa: E402
from neutron.common import cache_utils  # noqa: E402
from neutron.conf.agent.metadata import config as neutron_meta  # noqa: E402
from neutron_lib import constants  # noqa: E402
from oslo_config import cfg  # noqa: E402

METASTACK = metastack_binary()
SECRET = 'neutron-and-metastack-share-this'

TENANT_A = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
TENANT_B = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'
TENANT_C = 'cccccccccccccccccccccccccccccccc'
# Routers and the networks behind them; net-c has no router (a DHCP namespace's network).
ROUTERS = {'router-a': TENANT_A, 'router-b': TENANT_B}
NETWORKS = {'net-a1': ('router-a', TENANT_A), 'net-a2': ('router-a', TENANT_A),
            'net-b1': ('router-b', TENANT_B), 'net-c': (None, TENANT_C)}

# How `requests` (urllib3 over Python's ssl) reports the alert our API sends when Neutron's
# agent offers no client certificate.
NO_CLIENT_CERT = 'tlsv13 alert certificate required'

MAC_SHARED = 'fa:16:3e:00:04:07'   # two tenants' guests, on different routers
MAC_TWICE = 'fa:16:3e:00:0a:02'    # two ports behind router-a, on different networks


def uuid(n):
    return f'00000000-0000-4000-8000-000000000{n:03x}'


# The guests: (uuid, network, tenant, MAC, [(cidr, ip), ...]).
GUESTS = [
    (uuid(0xa01), 'net-a1', TENANT_A, MAC_SHARED,
     [('10.0.0.0/24', '10.0.0.5'), ('fd00:a::/64', 'fd00:a::5')]),
    (uuid(0xb01), 'net-b1', TENANT_B, MAC_SHARED, [('10.0.0.0/24', '10.0.0.5')]),
    (uuid(0xc01), 'net-c', TENANT_C, 'fa:16:3e:00:0c:01', [('10.0.0.0/24', '10.0.0.5')]),
    (uuid(0xa02), 'net-a2', TENANT_A, MAC_TWICE, [('10.0.1.0/24', '10.0.1.7')]),
    (uuid(0xa05), 'net-a1', TENANT_A, MAC_TWICE, [('10.0.0.0/24', '10.0.0.8')]),
    # 10.0.0.9 on two networks of router-a: ambiguous behind the router.
    (uuid(0xa03), 'net-a2', TENANT_A, 'fa:16:3e:00:0a:03', [('10.0.0.0/24', '10.0.0.9')]),
    (uuid(0xa04), 'net-a1', TENANT_A, 'fa:16:3e:00:0a:04', [('10.0.0.0/24', '10.0.0.9')]),
]

A1, B1, C1, A2, A5, A3, A4 = (g[0] for g in GUESTS)

# (X-Forwarded-For, 'router' or 'network', its id) -> the instance both must name, or None.
CASES = [
    ('10.0.0.5', 'router', 'router-a', A1),
    ('10.0.0.5', 'router', 'router-b', B1),
    ('10.0.0.5', 'network', 'net-c', C1),
    ('10.0.0.5', 'network', 'net-a2', None),
    ('::ffff:10.0.0.5', 'router', 'router-a', A1),
    ('::ffff:10.0.0.5', 'network', 'net-b1', B1),
    ('fd00:a::5', 'router', 'router-a', A1),
    ('fd00:a::5', 'network', 'net-a1', A1),
    ('fd00:a::5', 'router', 'router-b', None),
    # Link-local: the port with the MAC the address names (fa:16:3e:00:04:07).
    ('fe80::f816:3eff:fe00:407', 'router', 'router-a', A1),
    ('fe80::f816:3eff:fe00:407', 'router', 'router-b', B1),
    ('fe80::f816:3eff:fe00:407', 'network', 'net-a1', A1),
    ('fe80::f816:3eff:fe00:407', 'network', 'net-b1', B1),
    ('fe80::f816:3eff:fe00:407', 'network', 'net-c', None),
    ('FE80::F816:3EFF:FE00:0407', 'router', 'router-b', B1),
    # oslo drops the middle two bytes whatever they are; anywhere in fe80::/10.
    ('fe80::f816:3e12:3400:407', 'router', 'router-a', A1),
    ('fe80:0:0:1:f816:3eff:fe00:407', 'router', 'router-b', B1),
    ('fe80::f816:3eff:fe00:c01', 'network', 'net-c', C1),
    # A MAC nobody has; a link-local address that is no EUI-64 at all.
    ('fe80::f816:3eff:fe00:408', 'router', 'router-a', None),
    ('fe80::1', 'network', 'net-c', None),
    # Two ports with one MAC behind router-a: no answer; on one network: that port.
    ('fe80::f816:3eff:fe00:a02', 'router', 'router-a', None),
    ('fe80::f816:3eff:fe00:a02', 'network', 'net-a2', A2),
    ('fe80::f816:3eff:fe00:a02', 'network', 'net-a1', A5),
    # Two ports with one address behind router-a: no answer; on one network: that port.
    ('10.0.0.9', 'router', 'router-a', None),
    ('10.0.0.9', 'network', 'net-a1', A4),
    ('10.0.0.9', 'network', 'net-a2', A3),
    ('10.9.9.9', 'router', 'router-a', None),
    ('10.0.0.5', 'router', 'router-zz', None),
]

TENANT_OF = {g[0]: g[2] for g in GUESTS}


def neutron_ports():
    """The ports neutron-server holds: the guests' (MACs lowercase, as Neutron's API stores
    them) and each router's interface on each of its networks."""
    ports = []
    for instance, network, tenant, mac, addresses in GUESTS:
        ports.append({'id': 'port-' + instance, 'device_id': instance,
                      'device_owner': 'compute:nova', 'tenant_id': tenant, 'project_id': tenant,
                      'network_id': network, 'mac_address': mac,
                      'fixed_ips': [{'ip_address': ip} for _, ip in addresses]})
    for i, (network, (router, tenant)) in enumerate(sorted(NETWORKS.items())):
        if router:
            ports.append({'id': 'interface-' + network, 'device_id': router,
                          'device_owner': constants.DEVICE_OWNER_ROUTER_INTF,
                          'tenant_id': tenant, 'project_id': tenant, 'network_id': network,
                          'mac_address': f'fa:16:3e:ff:00:{i:02x}',
                          'fixed_ips': [{'ip_address': f'10.{i}.255.1'}]})
    return ports


def port_matches(port, filters):
    """neutron-server's get_ports filters: every key must match, a list means any of its
    values, fixed_ips matches on any of the port's addresses."""
    for key, wanted in filters.items():
        if key == 'fixed_ips':
            if not {ip['ip_address'] for ip in port['fixed_ips']} & set(wanted['ip_address']):
                return False
        elif port.get(key) not in wanted:
            return False
    return True


class SharedPortsPluginApi:
    """Stands in for neutron's MetadataPluginAPI: get_ports filters the shared port list."""
    PORTS = neutron_ports()

    def __init__(self, topic):
        self.topic = topic

    def get_ports(self, context, filters):
        return [dict(p) for p in self.PORTS if port_matches(p, filters)]


class EchoIdentity(http.server.BaseHTTPRequestHandler):
    """The upstream both agents forward to: answers with the identity it was sent."""
    protocol_version = 'HTTP/1.1'

    def do_GET(self):
        instance = self.headers.get('X-Instance-ID', '')
        expected = hmac.new(SECRET.encode(), instance.encode(), hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(expected, self.headers.get('X-Instance-ID-Signature', ''))
        body = json.dumps({'instance': instance, 'tenant': self.headers.get('X-Tenant-ID'),
                           'forwarded_for': self.headers.get('X-Forwarded-For'),
                           'signed': signed}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def neutron_handler(upstream_port, secret=SECRET, **options):
    """Neutron's MetadataProxyHandler forwarding to 127.0.0.1:upstream_port, with more of its
    [DEFAULT] options (nova_metadata_protocol, auth_ca_cert, ...) in `options`."""
    conf = cfg.ConfigOpts()
    neutron_meta.register_meta_conf_opts(neutron_meta.SHARED_OPTS, conf)
    neutron_meta.register_meta_conf_opts(neutron_meta.METADATA_PROXY_HANDLER_OPTS, conf)
    cache_utils.register_oslo_configs(conf)
    conf([], project='neutron')
    conf.set_override('nova_metadata_host', '127.0.0.1')
    conf.set_override('nova_metadata_port', upstream_port)
    conf.set_override('metadata_proxy_shared_secret', secret)
    for name, value in options.items():
        conf.set_override(name, value)
    neutron_agent.MetadataPluginAPI = SharedPortsPluginApi
    return neutron_agent.MetadataProxyHandler(conf)


def identity(status, body):
    """(instance, tenant) from the upstream's answer, None for the agent's 404."""
    if status == 404:
        return None
    if status != 200:
        raise AssertionError(f'{status}: {body!r}')
    echoed = json.loads(body)
    if not echoed['signed']:
        raise AssertionError(f'unsigned or badly signed: {echoed}')
    return echoed['instance'], echoed['tenant'], echoed['forwarded_for']


def cli(*args, stdin=None):
    r = subprocess.run([METASTACK, *map(str, args)], input=stdin, capture_output=True)
    if r.returncode != 0:
        raise AssertionError(f'metastack {" ".join(map(str, args))}: {r.stderr.decode()}')


def fill_store(store):
    for router, tenant in ROUTERS.items():
        cli('router', 'create', router, '--project', tenant, '--store', store)
    for network, (router, tenant) in NETWORKS.items():
        cli('network', 'create', network, *(['--router', router] if router else []),
            '--project', tenant, '--store', store)
    for instance, network, tenant, mac, addresses in GUESTS:
        doc = network_instance(instance, 'i-' + instance[-8:], network, addresses)
        doc['project_id'] = tenant
        # Written in capitals once: our store compares MACs as Neutron's API normalises them.
        doc['ports'][0]['mac'] = mac.upper() if instance == B1 else mac
        cli('instance', 'create', '-f', '-', '--store', store, stdin=json.dumps(doc).encode())


def start_api(d, *args):
    """`metastack api` on a store of the shared ports in directory `d`, its signed listener on a
    free port, with `args`; started."""
    store = f'sqlite:{d}/store.db'
    fill_store(store)
    (d / 'secret').write_text(SECRET + '\n')
    ready = d / 'ready.json'
    return Daemon(['api', '--store', store, '--signed-listen', '127.0.0.1:0', '--admin-listen', '',
                   '--secret-file', d / 'secret', '--ready-file', ready, *args], d / 'api.log',
                  ready_file=ready).start()


class SameInstanceAsNeutronTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix='metastack-agent-neutron-')
        d = pathlib.Path(cls.tmp.name)
        cls.upstream = http.server.ThreadingHTTPServer(('127.0.0.1', 0), EchoIdentity)
        threading.Thread(target=cls.upstream.serve_forever, daemon=True).start()
        port = cls.upstream.server_address[1]
        cls.neutron = neutron_handler(port)
        store = f'sqlite:{d}/store.db'
        fill_store(store)
        (d / 'secret').write_text(SECRET + '\n')
        cls.sock = d / 'agent.sock'

        def accepting():
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(cls.sock))
                return True
            except OSError:
                return False

        cls.agent = Daemon(['agent', '--store', store, '--agent-socket', cls.sock,
                            '--api-url', f'http://127.0.0.1:{port}', '--secret-file',
                            d / 'secret', '--log-level', 'error'], d / 'agent.log',
                           ready=accepting)
        try:
            cls.agent.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()
        cls.upstream.shutdown()
        cls.upstream.server_close()
        cls.tmp.cleanup()

    def ask_neutron(self, headers):
        req = webob.Request.blank('/openstack/latest/meta_data.json', headers=headers)
        resp = req.get_response(self.neutron)
        return identity(resp.status_int, resp.body)

    def ask_metastack(self, headers):
        answer = unix_get(self.sock, '/openstack/latest/meta_data.json', headers, timeout=10)
        if answer is None:
            raise AssertionError(f'the agent on {self.sock} does not answer')
        return identity(*answer)

    def test_every_guest_is_named_alike(self):
        for xff, kind, ident, instance in CASES:
            with self.subTest(xff=xff, behind=f'{kind} {ident}'):
                headers = {'X-Forwarded-For': xff,
                           'X-Neutron-Router-ID' if kind == 'router' else 'X-Neutron-Network-ID':
                           ident}
                want = (instance, TENANT_OF[instance], xff) if instance else None
                self.assertEqual(self.ask_neutron(headers), want)
                self.assertEqual(self.ask_metastack(headers), want)

    def test_both_router_and_network_is_no_answer(self):
        headers = {'X-Forwarded-For': '10.0.0.5', 'X-Neutron-Router-ID': 'router-a',
                   'X-Neutron-Network-ID': 'net-a1'}
        self.assertIsNone(self.ask_neutron(headers))
        self.assertIsNone(self.ask_metastack(headers))


class NeutronAgentInFrontOfOurApiTest(unittest.TestCase):
    """Neutron's own agent forwarding to `metastack api`: every method a guest may send is
    answered with a status the agent passes on (200, 400, 404, ...), never turned into its
    500 "Unexpected response code" (the IMDSv2 token PUT that guests probe with among them)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix='metastack-neutron-api-')
        d = pathlib.Path(cls.tmp.name)
        cls.api = start_api(d, '--log-level', 'error')
        cls.port = cls.api.ports()['signed'][0]
        cls.neutron = neutron_handler(cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.api.stop()
        cls.tmp.cleanup()

    def direct(self, method, path):
        """Our API's own answer to the request Neutron's agent would send."""
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)
        try:
            c.request(method, path, headers={
                'X-Forwarded-For': '10.0.0.5', 'X-Instance-ID': A1, 'X-Tenant-ID': TENANT_A,
                'X-Instance-ID-Signature': hmac.new(SECRET.encode(), A1.encode(),
                                                    hashlib.sha256).hexdigest()})
            r = c.getresponse()
            r.read()
            return r.status
        finally:
            c.close()

    def test_every_method_passes_through_neutrons_agent(self):
        paths = ('/openstack/latest/meta_data.json', '/latest/meta-data/instance-id',
                 '/latest/api/token', '/openstack/latest/password', '/openstack', '/no/such')
        for method in ('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'):
            for path in paths:
                if method == 'POST' and path.endswith('/password'):
                    continue  # it sets the password: test_api_statuses covers it
                with self.subTest(method=method, path=path):
                    req = webob.Request.blank(path, method=method, headers={
                        'X-Forwarded-For': '10.0.0.5', 'X-Neutron-Router-ID': 'router-a'})
                    status = req.get_response(self.neutron).status_int
                    direct = self.direct(method, path)
                    # Our session token path answers 405 to other methods than PUT; Neutron's
                    # agent turns any status it does not know into 500 (docs/extensions.md).
                    self.assertEqual(status, 500 if direct == 405 else direct)
                    self.assertIn(status, (200, 400, 404, 500))
        token = webob.Request.blank('/latest/api/token', method='PUT', headers={
            'X-Forwarded-For': '10.0.0.5', 'X-Neutron-Router-ID': 'router-a',
            'X-aws-ec2-metadata-token-ttl-seconds': '21600'})
        # Neutron's agent forwards none of the guest's headers: the TTL never reaches the API,
        # so sessions are not available behind it (docs/extensions.md).
        self.assertEqual(token.get_response(self.neutron).status_int, 400)


class NeutronAgentOverTlsToOurApiTest(unittest.TestCase):
    """Neutron's own agent with nova_metadata_protocol = https and a client certificate in
    front of `metastack api` requiring client certificates on its signed listener."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix='metastack-neutron-api-tls-')
        d = pathlib.Path(cls.tmp.name)
        pki = Pki(d / 'pki')
        ca = pki.ca('ca')
        server = pki.leaf('server', ca)
        client = pki.leaf('client', ca, client=True)
        other = pki.ca('other')
        cls.api = start_api(d, '--log-level', 'warning', '--api-tls-cert-file', server.cert,
                            '--api-tls-key-file', server.key, '--api-tls-client-ca-file', ca.cert)
        port = cls.api.ports()['signed'][0]
        https = dict(nova_metadata_protocol='https', auth_ca_cert=str(ca.cert))
        cert = dict(nova_client_cert=str(client.cert), nova_client_priv_key=str(client.key))
        cls.neutron = neutron_handler(port, **https, **cert)
        cls.neutron_wrong_secret = neutron_handler(port, 'not-the-secret', **https, **cert)
        cls.neutron_without_cert = neutron_handler(port, **https)
        cls.neutron_other_ca = neutron_handler(port, nova_metadata_protocol='https',
                                               auth_ca_cert=str(other.cert), **cert)
        cls.neutron_plain = neutron_handler(port, **cert)

    @classmethod
    def tearDownClass(cls):
        cls.api.stop()
        cls.tmp.cleanup()

    def ask(self, handler, path='/openstack/latest/meta_data.json'):
        req = webob.Request.blank(path, headers={'X-Forwarded-For': '10.0.0.5',
                                                 'X-Neutron-Router-ID': 'router-a'})
        resp = req.get_response(handler)
        return resp.status_int, resp.body

    def test_its_guest_is_answered_over_mutual_tls(self):
        status, body = self.ask(self.neutron)
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertEqual((doc['uuid'], doc['project_id']), (A1, TENANT_A))
        self.assertEqual(self.ask(self.neutron, '/latest/meta-data/instance-id'),
                         (200, b'i-' + A1[-8:].encode()))

    def test_another_secret_is_403(self):
        with self.assertLogs('neutron.agent.metadata.agent', 'WARNING') as logs:
            status, body = self.ask(self.neutron_wrong_secret)
        self.assertEqual(status, 403, body)
        self.assertIn('The remote metadata server responded with Forbidden.', logs.output[0])

    def refused(self, handler):
        """Neutron's agent whose `requests` call fails: its 500, and the exception it logged."""
        with self.assertLogs('neutron.agent.metadata.agent', 'ERROR') as logs:
            status, body = self.ask(handler)
        self.assertEqual(status, 500, body)
        self.assertIn(b'An unknown error has occurred. Please try your request again.', body)
        self.assertEqual(len(logs.records), 1, logs.output)
        self.assertEqual(logs.records[0].getMessage(), 'Unexpected error.')
        return logs.records[0].exc_info[1]

    def test_without_a_client_certificate_neutrons_agent_answers_500(self):
        # Our API refuses the handshake (no certificate); under TLS 1.3 `requests` learns it
        # from the alert when it reads the answer.
        error = self.refused(self.neutron_without_cert)
        self.assertIsInstance(error, requests.exceptions.SSLError)
        self.assertIn(NO_CLIENT_CERT, str(error))

    def test_trusting_another_ca_neutrons_agent_answers_500(self):
        error = self.refused(self.neutron_other_ca)
        self.assertIsInstance(error, requests.exceptions.SSLError)
        self.assertIn('certificate verify failed', str(error))

    def test_plain_http_to_the_tls_listener_answers_500(self):
        # nova_metadata_protocol left at http: our TLS listener does not speak plain HTTP (it
        # closes the connection without an answer).
        error = self.refused(self.neutron_plain)
        self.assertIsInstance(error, requests.exceptions.ConnectionError)
        self.assertIn('Remote end closed connection without response', str(error))


if __name__ == '__main__':
    unittest.main(verbosity=2)
