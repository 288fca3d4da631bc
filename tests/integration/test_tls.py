#!/usr/bin/python3
"""TLS on the hops between hosts, with real processes and certificates `openssl` makes here.

Run:  /usr/bin/python3 tests/integration/test_tls.py --metastack BINARY
      (or METASTACK_BIN=BINARY); other arguments go to unittest.

`metastack api` serves its signed listener over mutual TLS (a client certificate from our CA
required) and its admin listener over TLS; `metastack agent`s in front of it on UNIX sockets,
asked as the ns-proxy asks them:
  * good:       our CA, a client certificate  -> the guest's metadata (200)
  * wrong-ca:   another CA                    -> 502 to the guest, the reason in the agent's log
  * no-cert:    our CA, no client certificate -> 502; the API logs the refusal
  * expired:    our CA, in front of an API whose certificate expired yesterday -> 502
Each failure answers at once: no guest waits for a timeout. Then: SIGHUP puts a renewed
certificate in use for new connections while a kept-alive one goes on; the CLI on the admin
API over https; the same hops over IPv6 ([::1], the certificate's IP checked); configuration
mistakes refused with the flag named.
"""
import hashlib
import hmac
import http.client
import json
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import Daemon, metastack_binary, network_instance, unix_get
from tls_certs import Pki

METASTACK = metastack_binary()
SECRET = 'agent-and-api-share-this-over-tls'
NETWORK = 'net-tls'
UUID = '00000000-0000-4000-8000-0000000e0045'
GUEST = '10.77.0.5'
TOKEN = 'admin-token-for-the-tls-test-0123'
META = '/openstack/latest/meta_data.json'


def cli(*args, stdin=None, check=True):
    r = subprocess.run([METASTACK, *map(str, args)], input=stdin, capture_output=True,
                       text=True, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError(f'metastack {" ".join(map(str, args))}: {r.stderr}')
    return r


def signed_headers(uuid=UUID, tenant=None, xff=GUEST):
    sig = hmac.new(SECRET.encode(), uuid.encode(), hashlib.sha256).hexdigest()
    return {'X-Instance-ID': uuid, 'X-Tenant-ID': tenant or DOC['project_id'],
            'X-Instance-ID-Signature': sig, 'X-Forwarded-For': xff}


DOC = network_instance(UUID, 'i-00000e05', NETWORK, [('10.77.0.0/24', GUEST)], prefix='tls')


class TlsHopsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix='metastack-tls-')
        d = cls.d = pathlib.Path(cls.tmp.name)
        pki = cls.pki = Pki(d / 'pki')
        cls.ca = pki.ca('ca')
        cls.other_ca = pki.ca('other-ca')
        cls.server = pki.leaf('server', cls.ca)
        cls.renewed = pki.leaf('renewed', cls.ca)
        cls.expired = pki.leaf('expired', cls.ca, days=-1)
        cls.client = pki.leaf('client', cls.ca, client=True)
        # The files the API is configured with; renewed in place by the SIGHUP test.
        cls.cert, cls.key = d / 'api.cert', d / 'api.key'
        shutil.copy(cls.server.cert, cls.cert)
        shutil.copy(cls.server.key, cls.key)
        cls.store = f'sqlite:{d}/store.db'
        cli('network', 'create', NETWORK, '--project', DOC['project_id'], '--store', cls.store)
        cli('instance', 'create', '-f', '-', '--store', cls.store, stdin=json.dumps(DOC))
        (d / 'secret').write_text(SECRET + '\n')
        (d / 'token').write_text(TOKEN + '\n')
        cls.daemons = []
        try:
            cls.api = cls.start_api('api', cls.cert, cls.key, client_ca=cls.ca.cert,
                                    admin=True)
            cls.signed = cls.api.ports()['signed'][0]
            cls.admin = cls.api.ports()['admin']
            cls.old_api = cls.start_api('old-api', cls.expired.cert, cls.expired.key)
            url = f'https://127.0.0.1:{cls.signed}'
            client = ['--api-cert-file', cls.client.cert, '--api-key-file', cls.client.key]
            cls.agents = {
                'good': cls.start_agent('good', url, '--api-ca-file', cls.ca.cert, *client),
                'wrong-ca': cls.start_agent('wrong-ca', url, '--api-ca-file',
                                            cls.other_ca.cert, *client),
                'no-cert': cls.start_agent('no-cert', url, '--api-ca-file', cls.ca.cert),
                'expired': cls.start_agent(
                    'expired', f'https://127.0.0.1:{cls.old_api.ports()["signed"][0]}',
                    '--api-ca-file', cls.ca.cert),
            }
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for daemon in reversed(cls.daemons):
            daemon.stop()
        cls.tmp.cleanup()

    @classmethod
    def start_api(cls, name, cert, key, client_ca=None, admin=False, host='127.0.0.1'):
        d = cls.d
        args = ['api', '--store', cls.store, '--secret-file', d / 'secret',
                '--signed-listen', f'{host}:0', '--api-tls-cert-file', cert,
                '--api-tls-key-file', key, '--ready-file', d / f'{name}.ready']
        if client_ca:
            args += ['--api-tls-client-ca-file', client_ca]
        if admin:
            args += ['--admin-listen', f'{host}:0', '--admin-token-file', d / 'token',
                     '--admin-tls-cert-file', cert, '--admin-tls-key-file', key]
        else:
            args += ['--admin-listen', '']
        daemon = Daemon(args, d / f'{name}.log', ready_file=d / f'{name}.ready')
        cls.daemons.append(daemon)
        return daemon.start()

    @classmethod
    def start_agent(cls, name, url, *tls):
        sock = cls.d / f'{name}.sock'

        def accepting():
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(sock))
                return True
            except OSError:
                return False

        daemon = Daemon(['agent', '--store', cls.store, '--agent-socket', sock, '--api-url', url,
                         *tls, '--secret-file', cls.d / 'secret', '--api-timeout', '20'],
                        cls.d / f'{name}.log', ready=accepting)
        cls.daemons.append(daemon)
        daemon.start()
        daemon.sock = sock
        return daemon

    def ask(self, agent):
        """The guest's request through `agent`, timed: (status, body, seconds)."""
        started = time.monotonic()
        answer = unix_get(self.agents[agent].sock, META,
                          {'X-Forwarded-For': GUEST, 'X-Neutron-Network-ID': NETWORK},
                          timeout=30)
        self.assertIsNotNone(answer, f'the {agent} agent did not answer')
        return (*answer, time.monotonic() - started)

    def wait_for_log(self, daemon, text):
        deadline = time.monotonic() + 5
        while text not in daemon.log_text():
            if time.monotonic() > deadline:
                self.fail(f'{daemon.name} never logged {text!r}; its log:\n{daemon.log_text()}')
            time.sleep(0.05)

    def api_context(self, ca=None, client=True):
        ctx = ssl.create_default_context(cafile=str(ca or self.ca.cert))
        if client:
            ctx.load_cert_chain(str(self.client.cert), str(self.client.key))
        return ctx

    def test_the_guest_gets_its_metadata_over_mutual_tls(self):
        status, body, _ = self.ask('good')
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)['uuid'], UUID)
        # Kept alive: many requests, and the API still answers each.
        for _ in range(20):
            self.assertEqual(self.ask('good')[0], 200)

    def test_a_server_certificate_of_another_ca_is_a_502_that_says_why(self):
        status, body, seconds = self.ask('wrong-ca')
        self.assertEqual(status, 502, body)
        self.assertLess(seconds, 10)  # refused at the handshake, not waited for
        self.wait_for_log(self.agents['wrong-ca'],
                          f'metadata API: https://127.0.0.1:{self.signed}: TLS handshake failed: '
                          'certificate verify failed: self-signed certificate in certificate '
                          'chain')

    def test_a_missing_client_certificate_is_a_502_and_the_api_says_why(self):
        status, body, seconds = self.ask('no-cert')
        self.assertEqual(status, 502, body)
        self.assertLess(seconds, 10)
        self.wait_for_log(self.agents['no-cert'], 'tlsv13 alert certificate required (the server '
                          'asked for a client certificate, and none is configured)')
        self.wait_for_log(self.api, f'TLS on 127.0.0.1:{self.signed}: handshake from 127.0.0.1 '
                                    'failed: peer did not return a certificate')

    def test_an_expired_server_certificate_is_a_502_that_says_why(self):
        status, body, seconds = self.ask('expired')
        self.assertEqual(status, 502, body)
        self.assertLess(seconds, 10)
        self.wait_for_log(self.agents['expired'],
                          'TLS handshake failed: certificate verify failed: certificate has '
                          'expired')
        self.assertIn('the certificate has expired: clients refuse it', self.old_api.log_text())

    def test_metrics_count_refused_handshakes_and_show_when_certificates_expire(self):
        self.assertEqual(self.ask('no-cert')[0], 502)
        admin = http.client.HTTPSConnection('127.0.0.1', self.admin, timeout=10,
                                            context=self.api_context(client=False))
        admin.request('GET', '/metrics')
        text = admin.getresponse().read().decode()
        admin.close()
        samples = {line.split(' ')[0]: float(line.split(' ')[1])
                   for line in text.splitlines() if line.startswith('metastack_tls_')}
        self.assertGreaterEqual(
            samples['metastack_tls_handshake_failures_total{listener="signed"}'], 1)
        self.assertIn('metastack_tls_handshake_failures_total{listener="admin"}', samples)
        for listener in ('signed', 'admin'):
            expiry = samples[f'metastack_tls_certificate_expiry_timestamp_seconds'
                             f'{{listener="{listener}"}}']
            # 30 days, as tls_certs makes them (renewed or not, within a minute of now).
            self.assertAlmostEqual(expiry, time.time() + 30 * 86400, delta=3600)

    def test_plain_http_on_the_tls_listener_gets_nothing(self):
        c = http.client.HTTPConnection('127.0.0.1', self.signed, timeout=10)
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            c.request('GET', META, headers=signed_headers())
            c.getresponse()
        c.close()

    def test_sighup_renews_the_certificate_without_dropping_a_connection(self):
        kept = http.client.HTTPSConnection('127.0.0.1', self.signed, timeout=10,
                                           context=self.api_context())
        kept.request('GET', META, headers=signed_headers())
        first = kept.getresponse()
        self.assertEqual(first.status, 200)
        first.read()
        served = ssl.DER_cert_to_PEM_cert(kept.sock.getpeercert(binary_form=True))
        self.assertEqual(served.strip(), self.server.cert.read_text().strip())

        shutil.copy(self.renewed.cert, self.cert)
        shutil.copy(self.renewed.key, self.key)
        self.api.proc.send_signal(signal.SIGHUP)
        self.wait_for_log(self.api, f'SIGHUP: {self.cert} read again, mutual TLS: new '
                                    'connections get it')
        kept.request('GET', META, headers=signed_headers())
        again = kept.getresponse()
        self.assertEqual(again.status, 200)
        again.read()
        kept.close()
        fresh = http.client.HTTPSConnection('127.0.0.1', self.signed, timeout=10,
                                            context=self.api_context())
        fresh.request('GET', META, headers=signed_headers())
        self.assertEqual(fresh.getresponse().status, 200)
        served = ssl.DER_cert_to_PEM_cert(fresh.sock.getpeercert(binary_form=True))
        self.assertEqual(served.strip(), self.renewed.cert.read_text().strip())
        fresh.close()
        self.assertEqual(self.ask('good')[0], 200)

        # A renewal that cannot be used (a key of another certificate) changes nothing.
        shutil.copy(self.client.key, self.key)
        self.api.proc.send_signal(signal.SIGHUP)
        self.wait_for_log(self.api, 'SIGHUP: configuration refused, nothing changed: '
                                    f'--api-tls-cert-file: {self.key}: not the key of {self.cert}')
        self.assertTrue(self.api.running())
        self.assertEqual(self.ask('good')[0], 200)
        shutil.copy(self.renewed.key, self.key)

    def test_the_cli_on_the_admin_api_over_https(self):
        url = f'https://127.0.0.1:{self.admin}'
        listed = cli('instance', 'list', '--url', url, '--ca-file', self.ca.cert, '--token-file',
                     self.d / 'token')
        self.assertIn(UUID, listed.stdout)
        refused = cli('instance', 'list', '--url', url, '--ca-file', self.other_ca.cert,
                      '--token-file', self.d / 'token', check=False)
        self.assertEqual(refused.returncode, 1)
        self.assertIn(f'{url}: TLS handshake failed: certificate verify failed: unable to get '
                      'local issuer certificate', refused.stderr)
        plain = cli('instance', 'list', '--url', f'http://127.0.0.1:{self.admin}', '--ca-file',
                    self.ca.cert, check=False)
        self.assertEqual(plain.returncode, 1)
        self.assertIn(f'--ca-file: --url is not https://: http://127.0.0.1:{self.admin}',
                      plain.stderr)

    def test_every_hop_over_ipv6_checks_the_address_in_the_certificate(self):
        v6 = self.start_api('v6-api', self.server.cert, self.server.key, client_ca=self.ca.cert,
                            admin=True, host='[::1]')
        v4_only = self.pki.leaf('v4-only', self.ca, names=('IP:127.0.0.1',))
        mismatched = self.start_api('v6-mismatched', v4_only.cert, v4_only.key, host='[::1]')
        url = f'https://[::1]:{v6.ports()["signed"][0]}'
        other = f'https://[::1]:{mismatched.ports()["signed"][0]}'
        client = ['--api-ca-file', self.ca.cert, '--api-cert-file', self.client.cert,
                  '--api-key-file', self.client.key]
        self.agents['v6'] = self.start_agent('v6', url, *client)
        self.agents['v6-mismatched'] = self.start_agent('v6-mismatched', other, *client)
        status, body, _ = self.ask('v6')
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)['uuid'], UUID)
        status, body, seconds = self.ask('v6-mismatched')
        self.assertEqual(status, 502, body)
        self.assertLess(seconds, 10)
        self.wait_for_log(self.agents['v6-mismatched'],
                          f'metadata API: {other}: TLS handshake failed: certificate verify '
                          'failed: IP address mismatch')
        admin = f'https://[::1]:{v6.ports()["admin"]}'
        listed = cli('instance', 'list', '--url', admin, '--ca-file', self.ca.cert,
                     '--token-file', self.d / 'token')
        self.assertIn(UUID, listed.stdout)

    def test_serve_serves_its_signed_and_admin_listeners_over_tls_too(self):
        d = self.d / 'serve'
        d.mkdir()
        serve = Daemon(['serve', '--store', self.store, '--secret-file', self.d / 'secret',
                        '--signed-listen', '127.0.0.1:0', '--api-tls-cert-file', self.server.cert,
                        '--api-tls-key-file', self.server.key, '--api-tls-client-ca-file',
                        self.ca.cert, '--admin-listen', '127.0.0.1:0', '--admin-tls-cert-file',
                        self.server.cert, '--admin-tls-key-file', self.server.key,
                        '--admin-token-file', self.d / 'token', '--agent-socket', d / 'agent.sock',
                        '--control', d / 'proxy.sock', '--ready-file', d / 'ready'],
                       d / 'serve.log', ready_file=d / 'ready')
        with serve:
            ports = serve.ports()
            c = http.client.HTTPSConnection('127.0.0.1', ports['signed'][0], timeout=10,
                                            context=self.api_context())
            c.request('GET', META, headers=signed_headers())
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.read())['uuid'], UUID)
            c.close()
            listed = cli('instance', 'list', '--url', f'https://127.0.0.1:{ports["admin"]}',
                         '--ca-file', self.ca.cert, '--token-file', self.d / 'token')
            self.assertIn(UUID, listed.stdout)
            # Its own agent still calls its API in process: the guest's path has no TLS to do.
            answer = unix_get(d / 'agent.sock', META,
                              {'X-Forwarded-For': GUEST, 'X-Neutron-Network-ID': NETWORK})
            self.assertEqual(answer[0], 200)

    def test_configuration_mistakes_name_the_flag(self):
        d = self.d
        base = ['--store', self.store, '--secret-file', d / 'secret', '--check']
        cases = [
            (['api', *base, '--api-tls-cert-file', self.server.cert],
             '--api-tls-cert-file: needs --api-tls-key-file'),
            (['api', *base, '--api-tls-cert-file', self.server.cert, '--api-tls-key-file',
              self.client.key],
             f'--api-tls-cert-file: {self.client.key}: not the key of {self.server.cert}'),
            (['api', *base, '--api-tls-cert-file', d / 'missing.cert', '--api-tls-key-file',
              self.server.key],
             f'--api-tls-cert-file: {d / "missing.cert"}: cannot read: No such file or '
             'directory'),
            (['api', *base, '--admin-listen', '', '--admin-tls-cert-file', self.server.cert,
              '--admin-tls-key-file', self.server.key],
             '--admin-tls-cert-file: the admin listener is off (--admin-listen)'),
            (['agent', *base, '--api-url', 'http://127.0.0.1:8775', '--api-ca-file',
              self.ca.cert], '--api-ca-file: --api-url is not https://: http://127.0.0.1:8775'),
            (['agent', *base, '--api-url', 'https://127.0.0.1:8775', '--api-cert-file',
              self.client.cert], '--api-cert-file: --api-cert-file and --api-key-file go '
                                 'together'),
            (['agent', *base, '--api-url', 'https://127.0.0.1:8775', '--api-insecure',
              '--api-ca-file', self.ca.cert],
             '--api-insecure: verifies nothing, so --api-ca-file would be ignored'),
        ]
        for args, message in cases:
            with self.subTest(message):
                r = cli(*args, check=False)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn(message, r.stderr)

    def test_the_configuration_file_carries_every_tls_key(self):
        conf = self.d / 'tls.toml'
        conf.write_text(f'''
store = "{self.store}"
secret-file = "{self.d / 'secret'}"
[api]
signed-listen = ["127.0.0.1:0"]
tls-cert-file = "{self.server.cert}"
tls-key-file = "{self.server.key}"
tls-client-ca-file = "{self.ca.cert}"
[admin]
listen = "127.0.0.1:0"
tls-cert-file = "{self.server.cert}"
tls-key-file = "{self.server.key}"
tls-client-ca-file = "{self.ca.cert}"
[agent]
api-url = "https://127.0.0.1:8775"
api-ca-file = "{self.ca.cert}"
api-cert-file = "{self.client.cert}"
api-key-file = "{self.client.key}"
api-insecure = false
''')
        for verb in ('api', 'agent'):
            with self.subTest(verb):
                r = cli(verb, '--config', conf, '--check', check=False)
                self.assertEqual(r.returncode, 0, r.stderr)
        # A key mistake in the file is named as the flag it is.
        conf.write_text(conf.read_text().replace(str(self.client.key), str(self.server.key)))
        r = cli('agent', '--config', conf, '--check', check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f'--api-url: {self.server.key}: not the key of {self.client.cert}',
                      r.stderr)


if __name__ == '__main__':
    unittest.main()
