#!/usr/bin/python3
"""metastack on a PostgreSQL that lets TCP clients in over TLS only.

Run:  /usr/bin/python3 tests/integration/test_postgres_tls.py --metastack BINARY

The module starts a throwaway PostgreSQL (pgcluster.py) with `ssl = on`, its certificate and CA
made by tls_certs.py, and a pg_hba.conf of `hostssl ... scram-sha-256` lines and
`hostnossl ... reject`: an unencrypted TCP connection is refused, so whatever works here went
over TLS. The role `metastack_cert` must also present a client certificate whose CN names it
(`clientcert=verify-full`). Every store URL says `sslmode=verify-full` with `sslrootcert`, as
docs/deploy.md ("PostgreSQL over TLS") tells operators to.

  - `metastack api` and the CLI on the same URL: the API serves what the CLI created, a CLI edit
    reaches the API through the change feed (its LISTEN connection), and every connection the
    daemon holds (found from its own sockets) is one pg_stat_ssl shows encrypted; the CLI's
    connections are too (the server's log_connections lines). The LISTEN connection, cut and
    refused for a while, logs one warning with the server's reason, comes back over TLS, and
    edits flow again.
  - libpq's environment (PGSSLMODE, PGSSLROOTCERT) and a passfile fill what the URL leaves out.
  - A client certificate in the URL (sslcert, sslkey) for the role that needs one: the daemon
    starts; without it, it exits at once with the server's reason.
  - A wrong CA and a certificate that does not name the host asked for: each fails the start
    at once with libpq's reason.
  - The URL's password appears in no message and no log, even when libpq quotes the URL.

No test waits for a timer: a daemon that hangs instead of failing is caught by the timeout of
the command (DEADLINE), a lost change notification by the bounded wait for the edit.
"""
import hashlib
import hmac
import http.client
import json
import os
import pathlib
import subprocess
import tempfile
import time
import unittest

from harness import Daemon, metastack_binary, network_instance
from pgcluster import Cluster, Tls, die_with_parent
from tls_certs import Pki

METASTACK = metastack_binary()
SECRET = 'shared-secret-of-the-metadata-agent'
PASSWORD = 'tls-store-pass-5e1f'
CERT_PASSWORD = 'cert-store-pass-77ab'
NETWORK = '5e5e5e5e-0000-4000-8000-0000000000d1'
UUID = '7a7a7a7a-0000-4000-8000-0000000000d1'
DEADLINE = 30  # seconds a command may take before the test calls it a hang

TMP = CLUSTER = PKI = ENV = None


def setUpModule():
    global TMP, CLUSTER, PKI, ENV
    TMP = tempfile.TemporaryDirectory(prefix='metastack-pg-tls-')
    tmp = pathlib.Path(TMP.name)
    # HOME without a ~/.postgresql: libpq finds no root.crt or postgresql.crt of the user's.
    ENV = dict(os.environ, HOME=str(tmp))
    for name in ('PGSSLMODE', 'PGSSLROOTCERT', 'PGSSLCERT', 'PGSSLKEY', 'PGPASSWORD'):
        ENV.pop(name, None)
    PKI = Pki(tmp / 'pki')
    PKI.ca_cert = PKI.ca('ca')
    PKI.other_ca = PKI.ca('other-ca')
    PKI.server = PKI.leaf('server', PKI.ca_cert)
    PKI.client = PKI.leaf('client', PKI.ca_cert, client=True, cn='metastack_cert')
    (tmp / 'secret').write_text(SECRET + '\n')
    try:
        CLUSTER = Cluster(also_remove=TMP.name,
                          tls=Tls(PKI.server.cert, PKI.server.key, PKI.ca_cert.cert,
                                  client_cert_roles=('metastack_cert',), auth='scram-sha-256'))
        CLUSTER.sql('postgres', f"CREATE ROLE metastack LOGIN PASSWORD '{PASSWORD}'")
        CLUSTER.sql('postgres', f"CREATE ROLE metastack_cert LOGIN PASSWORD '{CERT_PASSWORD}'")
        CLUSTER.sql('postgres', 'CREATE DATABASE metastack OWNER metastack')
        CLUSTER.sql('postgres', 'CREATE DATABASE certified OWNER metastack_cert')
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    if CLUSTER:
        CLUSTER.stop()
    if TMP:
        TMP.cleanup()


def store_url(user='metastack', password=PASSWORD, database='metastack', ca=None, **params):
    """The store as a remote host's metastack names it: verify-full against `ca`."""
    return CLUSTER.tcp_uri(database, user, password, sslmode='verify-full',
                           sslrootcert=(ca or PKI.ca_cert).cert, **params)


def redacted(url, password=PASSWORD):
    return url.replace(':' + password + '@', ':***@')


def metastack(*args, stdin=None):
    """A metastack command to its end (a hang fails at DEADLINE) -> CompletedProcess (text)."""
    return subprocess.run([METASTACK, *map(str, args)], input=stdin, capture_output=True,
                          text=True, env=ENV, timeout=DEADLINE)


def api_daemon(name, url):
    """`metastack api` on `url` with a signed listener (not started)."""
    tmp = pathlib.Path(TMP.name)
    return Daemon(['api', '--store', url, '--signed-listen', '127.0.0.1:0', '--admin-listen', '',
                   '--secret-file', tmp / 'secret', '--ready-file', tmp / f'{name}.ready',
                   '--log-level', 'info'],
                  log=tmp / f'{name}.log', ready_file=tmp / f'{name}.ready', env=ENV,
                  preexec_fn=die_with_parent, timeout=DEADLINE)


def start_failure(url):
    """What `metastack api` on `url` says on stderr when it exits at start -> (rc, stderr)."""
    r = metastack('api', '--store', url, '--signed-listen', '127.0.0.1:0', '--admin-listen', '',
                  '--secret-file', pathlib.Path(TMP.name) / 'secret', '--log-level', 'warning')
    return r.returncode, r.stderr


def metadata(port, doc):
    """A guest's meta_data.json as the metadata agent asks for it -> (status, parsed or body)."""
    sig = hmac.new(SECRET.encode(), doc['uuid'].encode(), hashlib.sha256).hexdigest()
    ip = doc['ports'][0]['subnets'][0]['ip_address']
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
    try:
        c.request('GET', '/openstack/latest/meta_data.json',
                  headers={'X-Instance-ID': doc['uuid'], 'X-Tenant-ID': doc['project_id'],
                           'X-Instance-ID-Signature': sig, 'X-Forwarded-For': ip})
        r = c.getresponse()
        body = r.read()
        return r.status, json.loads(body) if r.status == 200 else body
    finally:
        c.close()


def store_connections(pid, port):
    """The local ports of process `pid`'s established TCP connections to 127.0.0.1:`port`."""
    inodes = set()
    fd_dir = pathlib.Path(f'/proc/{pid}/fd')
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith('socket:['):
            inodes.add(target[8:-1])
    ports = set()
    for line in pathlib.Path('/proc/net/tcp').read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if (state == '01' and inode in inodes and
                remote == f'0100007F:{port:04X}'):
            ports.add(int(local.split(':')[1], 16))
    return ports


def tls_sessions():
    """Every TCP client backend -> {client port: (application_name, ssl, TLS version)}."""
    rows = CLUSTER.sql('postgres', "SELECT a.client_port, a.application_name, s.ssl, s.version "
                                   'FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) '
                                   "WHERE a.backend_type = 'client backend' "
                                   'AND a.client_port > 0')
    sessions = {}
    for row in rows.splitlines():
        port, name, ssl, version = row.split('|')
        sessions[int(port)] = (name, ssl == 't', version)
    return sessions


def wait_for_log(test, daemon, text):
    """Until `text` is in the daemon's log (a line it must write: the test fails at DEADLINE)."""
    deadline = time.monotonic() + DEADLINE
    while text not in daemon.log_text():
        test.assertLess(time.monotonic(), deadline, f'no {text!r} in:\n{daemon.log_text()}')
        time.sleep(0.02)


class PostgresTlsTest(unittest.TestCase):
    def edit_reaches_the_api(self, cli_url, port, doc, via):
        """The CLI sets meta via=`via`; the API serves it within 10 s (through NOTIFY)."""
        r = metastack('instance', 'set-meta', UUID, f'via={via}', '--store', cli_url)
        self.assertEqual(r.returncode, 0, r.stderr)
        deadline = time.monotonic() + 10
        while metadata(port, doc)[1]['meta'].get('via') != via:
            self.assertLess(time.monotonic(), deadline, 'the edit never reached the API')
            time.sleep(0.02)

    def all_over_tls(self, api):
        """Every connection `api` holds to the server (its pool's, its LISTEN one) is TLS 1.3."""
        held = store_connections(api.pid, CLUSTER.port)
        self.assertGreaterEqual(len(held), 2, held)
        sessions = tls_sessions()
        for client_port in held:
            self.assertEqual(sessions.get(client_port), ('tls-api', True, 'TLSv1.3'),
                             f'connection from port {client_port}: {sessions}')

    def test_api_and_cli_share_the_store_over_tls_only(self):
        daemon_url = store_url(application_name='tls-api')
        cli_url = store_url(application_name='tls-cli')
        api = api_daemon('api', daemon_url).start()
        self.addCleanup(api.stop)
        port = api.ports()['signed'][0]

        doc = network_instance(UUID, 'i-000000d1', NETWORK, [('10.9.0.0/24', '10.9.0.5')])
        for args, stdin in [(('network', 'create', NETWORK, '--name', 'tls-net', '--project',
                              doc['project_id']), None),
                            (('instance', 'create', '-f', '-'), json.dumps(doc))]:
            r = metastack(*args, '--store', cli_url, stdin=stdin)
            self.assertEqual(r.returncode, 0, r.stderr)
        status, body = metadata(port, doc)
        self.assertEqual(status, 200, body)
        self.assertEqual(body['uuid'], UUID)
        self.assertNotIn('via', body['meta'])

        # The API has the instance cached now: only the change feed's NOTIFY, delivered on the
        # daemon's LISTEN connection, makes it serve the edit.
        self.edit_reaches_the_api(cli_url, port, doc, 'notify')
        # Every connection the daemon holds to the server: its pool's and its LISTEN one.
        self.all_over_tls(api)
        # The CLI's connections, one per command, as the server logged them.
        authorized = [line for line in CLUSTER.server_log().splitlines()
                      if 'connection authorized:' in line and 'application_name=tls-cli' in line]
        self.assertEqual(len(authorized), 3, CLUSTER.server_log())
        for line in authorized:
            self.assertIn('SSL enabled (protocol=TLSv1.3', line)

        # The LISTEN connection lost, and refused while the role may not log in: one warning,
        # then it connects again, with the same TLS parameters, and edits flow again.
        CLUSTER.sql('postgres', 'ALTER ROLE metastack NOLOGIN')
        CLUSTER.sql('postgres', 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                                "WHERE application_name = 'tls-api'")
        refused = ('WARNING store: change feed: postgresql: cannot connect: connection to server '
                   f'at "127.0.0.1", port {CLUSTER.port} failed: FATAL: role "metastack" is not '
                   'permitted to log in (retrying)')
        wait_for_log(self, api, refused)
        CLUSTER.sql('postgres', 'ALTER ROLE metastack LOGIN')
        wait_for_log(self, api, 'INFO store: postgresql: change feed resumed')
        self.assertEqual(api.log_text().count('change feed:'), 1, api.log_text())
        self.edit_reaches_the_api(cli_url, port, doc, 'reconnected')
        self.all_over_tls(api)

        self.assertEqual(api.stop(), 0)
        self.assertNotIn(PASSWORD, api.log_text())

    def test_client_certificate(self):
        with_cert = store_url('metastack_cert', CERT_PASSWORD, 'certified',
                              sslcert=PKI.client.cert, sslkey=PKI.client.key)
        api = api_daemon('certified', with_cert).start()
        self.addCleanup(api.stop)
        self.assertEqual(api.stop(), 0)

        without = store_url('metastack_cert', CERT_PASSWORD, 'certified')
        rc, stderr = start_failure(without)
        self.assertEqual(rc, 1)
        self.assertEqual(stderr, f'metastack: --store: {redacted(without, CERT_PASSWORD)}: '
                                 'postgresql: cannot connect: connection to server at '
                                 f'"127.0.0.1", port {CLUSTER.port} failed: FATAL: connection '
                                 'requires a valid client certificate\n')

    def test_server_not_verified(self):
        cases = [
            ('a CA that signed no certificate of the server',
             store_url(ca=PKI.other_ca), 'SSL error: certificate verify failed'),
            ('a certificate that does not name the host asked for',
             store_url(host='db.example', hostaddr='127.0.0.1'),
             'server certificate for "127.0.0.1" (and 2 other names) does not match host name '
             '"db.example"'),
        ]
        for what, url, reason in cases:
            with self.subTest(what):
                rc, stderr = start_failure(url)
                self.assertEqual(rc, 1)
                self.assertEqual(stderr, f'metastack: --store: {redacted(url)}: postgresql: '
                                         'cannot connect: connection to server at "127.0.0.1", '
                                         f'port {CLUSTER.port} failed: {reason}\n')

    def test_libpq_environment_and_passfile(self):
        # What the URL leaves out, libpq's environment gives; the password from a passfile.
        passfile = pathlib.Path(TMP.name) / 'pgpass'
        passfile.write_text(f'127.0.0.1:{CLUSTER.port}:metastack:metastack:{PASSWORD}\n')
        passfile.chmod(0o600)
        url = CLUSTER.tcp_uri('metastack', 'metastack', passfile=passfile)
        for ca, out in ((PKI.ca_cert, ''), (PKI.other_ca, 'certificate verify failed')):
            with self.subTest(ca.name):
                r = subprocess.run(
                    [METASTACK, 'network', 'list', '--store', url], capture_output=True,
                    text=True, timeout=DEADLINE,
                    env=dict(ENV, PGSSLMODE='verify-full', PGSSLROOTCERT=str(ca.cert)))
                self.assertEqual(r.returncode, 1 if out else 0, r.stderr)
                if out:
                    self.assertIn(f'failed: SSL error: {out}\n', r.stderr)

    def test_password_in_no_message(self):
        wrong = store_url(password='not-the-pass-93c1')
        rc, stderr = start_failure(wrong)
        self.assertEqual(rc, 1)
        self.assertEqual(stderr, f'metastack: --store: {redacted(wrong, "not-the-pass-93c1")}: '
                                 'postgresql: cannot connect: connection to server at '
                                 f'"127.0.0.1", port {CLUSTER.port} failed: FATAL: password '
                                 'authentication failed for user "metastack"\n')
        # libpq quotes a token it cannot decode: here the password itself.
        garbled = store_url(password='x').replace(':x@', ':tls-pass%zz@')
        api = ('api', '--signed-listen', '127.0.0.1:0', '--admin-listen', '', '--secret-file',
               pathlib.Path(TMP.name) / 'secret')
        for args in (api, ('instance', 'list')):
            with self.subTest(args[0]):
                r = metastack(*args, '--store', garbled)
                self.assertNotEqual(r.returncode, 0)
                self.assertNotIn('tls-pass', r.stderr + r.stdout)
                self.assertIn('invalid percent-encoded token: "***"', r.stderr)


if __name__ == '__main__':
    unittest.main()
