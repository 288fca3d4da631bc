#!/usr/bin/python3
"""The attack suite: tenants that share a guest address try to read, write or starve each
other through the real namespace path, in every deployment mode.

Topology (built once): tenants A and B both at 10.0.0.5, each behind its own router namespace
(`metastack net router-setup`), and tenant D at 10.0.0.5 on an isolated network served from a
DHCP namespace (`metastack net dhcp-setup`, 169.254.169.254 on the DHCP port). Tenant C, of
another project, later takes 10.0.0.5 on A's network.

Modes: the store is SQLite (one file) or PostgreSQL (a throwaway cluster), and the path runs as
separate `api`, `agent` and `proxy` processes or as one `serve`. Each mode gets a fresh store
and runs every attack:

* forged identity: every identity header a proxy or agent sets (in every spelling: case,
  underscores, duplicates, folded lines, lists), valid signatures of another instance, absolute
  URIs, pipelined and smuggled requests;
* moves and reuse: A's port moves to 10.0.0.7 and C takes 10.0.0.5, through the admin API and
  then with the CLI on the store itself; after the change feed's bound (MOVE_BOUND) the guest at
  10.0.0.5 gets C's data and never A's;
* hoarding: B holds its whole per-address share of connections, and then as many as it can
  from many addresses; A (same address, other router) and D are still answered at once;
* password races: A and B post passwords concurrently; each instance keeps exactly one, its own;
* rate: B floods; B gets 429 with Retry-After, A is not slowed;
* restarts of each process (or of `serve`) while A, B and D keep asking.

Every answer a guest receives is searched for every other tenant's markers (uuid, hostname,
EC2 instance id, SSH key, user data); each mode prints how many requests were tried and how many
cross-tenant answers came back, and asserts the latter is 0.

Needs root. Run:  /usr/bin/python3 tests/integration/test_tenant_isolation.py --metastack BIN
[MODE ...], MODE one of SqliteSeparate, SqliteServe, PostgresSeparate, PostgresServe (all four
when none is named). Each run builds its own topology (names carry its process id), so modes may
run in parallel, one process each.
"""
import concurrent.futures
import json
import pathlib
import subprocess
import tempfile
import threading
import time
import unittest

import guestnet
from guestnet import (METASTACK, PYTHON, RUN, Tenant, accepting, check, cleanup, free_port,
                      in_ns, router_topology, run)
from harness import Daemon
from pgcluster import Cluster, die_with_parent

SECRET = 'tenant-isolation-shared-secret'
TOKEN = 'tenant-isolation-admin-token-0123456789'
MOVE_BOUND = 0.1  # seconds: the change feed's stated bound (50 ms) with room for a loaded CI
PER_ADDRESS = 8   # the proxy's per-(listener, address) connection limit in this test
PER_LISTENER = 32  # the proxy's per-listener share
RATE_BURST = 150  # the API's per-instance burst in this test
RATE = 50         # and its per-instance rate (requests/s): above what the loops below send
MD = 'http://169.254.169.254'

# Runs inside a guest namespace: sends each raw request of a JSON job on stdin on its own
# connection (optionally from a given source address) and prints, per request, everything that
# came back until the server closed or went quiet.
RAW = r'''
import json, socket, sys
out = []
for job in json.load(sys.stdin):
    try:
        s = socket.create_connection((job.get('host', '169.254.169.254'), job.get('port', 80)),
                                     timeout=3, source_address=(job.get('source') or '', 0))
        s.sendall(job['raw'].encode('latin-1'))
        data = b''
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        s.close()
        out.append(data.decode('latin-1'))
    except OSError as e:
        out.append('ERROR ' + type(e).__name__)
print(json.dumps(out))
'''

# Runs inside a guest namespace: GETs meta_data.json on a fresh connection from SOURCE until
# stdin closes; one line per answer: "start_monotonic status uuid-or-error".
LOOP = r'''
import http.client, json, sys, threading, time
source = sys.argv[1]
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
while not stop.is_set():
    start = time.monotonic()
    try:
        c = http.client.HTTPConnection('169.254.169.254', 80, timeout=5,
                                       source_address=(source, 0))
        c.request('GET', '/openstack/latest/meta_data.json')
        r = c.getresponse()
        body = r.read().decode('latin-1')
        c.close()
        who = json.loads(body)['uuid'] if r.status == 200 else '-'
        print(f'{start:.4f} {r.status} {who} {json.dumps(body)}', flush=True)
    except Exception as e:
        print(f'{start:.4f} {type(e).__name__} - ""', flush=True)
    time.sleep(0.03)
'''

# Runs inside a guest namespace: opens N connections (from the given sources, round robin) and
# holds them idle until stdin closes; prints how many the server kept open after a moment.
HOARD = r'''
import socket, sys, time
n, sources = int(sys.argv[1]), sys.argv[2].split(',')
held = []
for i in range(n):
    try:
        held.append(socket.create_connection(('169.254.169.254', 80), timeout=3,
                                             source_address=(sources[i % len(sources)], 0)))
    except OSError:
        pass
time.sleep(0.5)
alive = 0
for s in held:
    s.setblocking(False)
    try:
        alive += s.recv(1) != b''
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
print(alive, flush=True)
sys.stdin.read()
'''

# Runs inside a guest namespace: N POSTs of distinct passwords, K at a time; prints the statuses.
RACE = r'''
import concurrent.futures, http.client, json, sys
def post(i):
    c = http.client.HTTPConnection('169.254.169.254', 80, timeout=10)
    c.request('POST', '/openstack/latest/password', body=f'{sys.argv[1]}-{i}')
    r = c.getresponse()
    r.read()
    return r.status
with concurrent.futures.ThreadPoolExecutor(int(sys.argv[3])) as pool:
    print(json.dumps(list(pool.map(post, range(int(sys.argv[2]))))))
'''

# Runs inside a guest namespace: N GETs as fast as four keep-alive connections allow; prints the
# statuses and the Retry-After values seen.
FLOOD = r'''
import concurrent.futures, http.client, json, sys
def flood(n):
    c = http.client.HTTPConnection('169.254.169.254', 80, timeout=10)
    out = []
    for _ in range(n):
        c.request('GET', '/latest/meta-data/instance-id')
        r = c.getresponse()
        r.read()
        out.append((r.status, r.getheader('Retry-After')))
    return out
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    answers = [a for part in pool.map(flood, [int(sys.argv[1]) // 4] * 4) for a in part]
print(json.dumps({'statuses': [s for s, _ in answers],
                  'retry_after': sorted({r for s, r in answers if s == 429})}))
'''


class Net:
    """The namespaces every mode shares."""


class Tally:
    """Requests tried and cross-tenant answers seen in one mode."""

    def __init__(self):
        self.tried = 0
        self.leaks = []


def markers(tenant):
    return [tenant.uuid, tenant.hostname + '.', tenant.doc['ec2']['instance_id'],
            f'user{tenant.n}@host', f'echo tenant {tenant.n}']


def setUpModule():
    if run('id', '-u').stdout.strip() != '0':
        raise unittest.SkipTest('needs root')
    tmp = tempfile.TemporaryDirectory(prefix='metastack-isolation-')
    cleanup(tmp.cleanup)
    Net.tmp = pathlib.Path(tmp.name)
    Net.tmp.chmod(0o755)  # dnsmasq runs as nobody
    (Net.tmp / 'secret').write_text(SECRET)
    (Net.tmp / 'token').write_text(TOKEN)
    Net.a, Net.b, Net.d = Tenant(1, True), Tenant(2, True), Tenant(3, False)
    Net.c = Tenant(5, True, behind=Net.a)
    Net.tenants = [Net.a, Net.b, Net.c, Net.d]
    Net.guest_a, Net.router_a = router_topology(Net.a, tag='i')
    Net.guest_b, Net.router_b = router_topology(Net.b, tag='i')
    # A's second address: where A's port moves to.
    check('ip', '-n', Net.guest_a, 'addr', 'add', '10.0.0.7/24', 'dev', 'eth0')
    # B's extra addresses: one guest posing as many, to hoard a listener's whole share.
    for k in range(50, 50 + PER_LISTENER // PER_ADDRESS + 2):
        check('ip', '-n', Net.guest_b, 'addr', 'add', f'10.0.0.{k}/24', 'dev', 'eth0')
    Net.guest_d, Net.dhcp = guestnet.dhcp_topology(Net.d, Net.tmp / 'dhcp-state', tag='i')
    # D's guest configured as its DHCP lease would (test_namespace_path checks the lease).
    check('ip', '-n', Net.guest_d, 'addr', 'add', '10.0.0.5/24', 'dev', 'eth0')
    check('ip', '-n', Net.guest_d, 'route', 'add', '169.254.169.254/32', 'via', '10.0.0.2')
    Net.listeners = Net.tmp / 'listeners.json'
    Net.listeners.write_text(json.dumps({'listeners': [
        {'name': f'qrouter-{Net.a.router}', 'netns': Net.router_a, 'kind': 'router',
         'id': Net.a.router},
        {'name': f'qrouter-{Net.b.router}', 'netns': Net.router_b, 'kind': 'router',
         'id': Net.b.router},
        {'name': f'qdhcp-{Net.d.network}', 'netns': Net.dhcp, 'kind': 'network',
         'id': Net.d.network}]}))
    Net.cluster = None
    Net.reports = []
    cleanup(lambda: print('\n' + '\n'.join(Net.reports), flush=True))


def postgres():
    if Net.cluster is None:
        Net.cluster = Cluster(also_remove=Net.tmp / 'pg-unused')
        cleanup(Net.cluster.stop)
    return Net.cluster


class Deployment:
    """One mode's store and processes."""

    def __init__(self, store_kind, shape):
        self.shape = shape
        self.dir = Net.tmp / f'{store_kind}-{shape}'
        self.dir.mkdir()
        if store_kind == 'sqlite':
            self.store = f'sqlite:{self.dir / "metastack.db"}'
        else:
            self.store = postgres().create_database(f'iso_{shape}_{RUN}')
        for t in (Net.a, Net.b, Net.d):
            t.create(self.store, self.dir)
        self.procs = {}
        self.api_port = free_port()
        self.admin_port = free_port()
        self.agent_sock = self.dir / 'agent.sock'
        self.control = self.dir / 'proxy.control'
        for name in ('api', 'agent', 'proxy') if shape == 'separate' else ('serve',):
            self.start(name)

    def limits(self):
        return ['--max-connections-per-address', PER_ADDRESS,
                '--max-connections-per-listener', PER_LISTENER]

    def args(self, name):
        common = ['--log-level', 'warning']
        if name == 'api':
            return ['api', '--store', self.store, '--signed-listen', f'127.0.0.1:{self.api_port}',
                    '--admin-listen', f'127.0.0.1:{self.admin_port}', '--admin-token-file',
                    Net.tmp / 'token', '--secret-file', Net.tmp / 'secret', '--threads', 1,
                    '--rate-burst', RATE_BURST, '--rate-limit', RATE, *common]
        if name == 'agent':
            return ['agent', '--store', self.store, '--api-url',
                    f'http://127.0.0.1:{self.api_port}', '--agent-socket', self.agent_sock,
                    '--secret-file', Net.tmp / 'secret', '--api-timeout', 3, '--threads', 1,
                    *common]
        if name == 'proxy':
            return ['proxy', '--agent', f'unix:{self.agent_sock}', '--control', self.control,
                    '--listeners', Net.listeners, '--agent-timeout', 3, '--threads', 1,
                    *self.limits(), *common]
        return ['serve', '--store', self.store,
                '--admin-listen', f'127.0.0.1:{self.admin_port}', '--admin-token-file',
                Net.tmp / 'token', '--agent-socket', self.agent_sock, '--control', self.control,
                '--listeners', Net.listeners, '--threads', 1, '--rate-burst', RATE_BURST,
                '--rate-limit', RATE, *self.limits(), *common]

    def ready(self, name):
        if name == 'api':
            return lambda: run('curl', '-s', f'http://127.0.0.1:{self.admin_port}/healthz')\
                .returncode == 0
        if name == 'agent':
            return lambda: accepting(self.agent_sock)
        if name == 'proxy':
            return lambda: accepting(self.control)
        return lambda: accepting(self.control) and accepting(self.agent_sock)

    def start(self, name):
        daemon = Daemon(self.args(name), log=self.dir / f'{name}.log', ready=self.ready(name),
                        timeout=20, preexec_fn=die_with_parent)
        self.procs[name] = daemon
        cleanup(daemon.stop, 5)
        daemon.start()

    def restart(self, name, kill=False):
        if kill:
            self.procs[name].kill()
        else:
            self.procs[name].stop()
        time.sleep(0.3)  # down for a moment while guests keep asking
        self.start(name)

    def stop(self):
        for d in self.procs.values():
            d.stop()

    def cli(self, *args, direct=False):
        """The CLI through the admin API, or (direct) on the store itself."""
        where = ['--store', self.store] if direct else [
            '--url', f'http://127.0.0.1:{self.admin_port}', '--token-file', Net.tmp / 'token']
        return check(METASTACK, *args, *where)

    def place(self, tenant, ip, direct):
        doc = dict(tenant.doc)
        doc['ports'] = json.loads(json.dumps(tenant.doc['ports']))
        doc['ports'][0]['subnets'][0]['ip_address'] = ip
        path = self.dir / f'move-{tenant.n}-{ip}.json'
        path.write_text(json.dumps(doc))
        self.cli('instance', 'replace', tenant.uuid, '-f', path, direct=direct)


class Isolation:
    """The attacks, run against one Deployment; a mixin for one TestCase per mode."""
    STORE = SHAPE = None

    @classmethod
    def setUpClass(cls):
        cls.dep = Deployment(cls.STORE, cls.SHAPE)
        cls.tally = Tally()

    @classmethod
    def tearDownClass(cls):
        cls.dep.stop()
        Net.reports.append(f'tenant isolation [{cls.STORE}, {cls.SHAPE}]: {cls.tally.tried} '
                           f'requests tried, {len(cls.tally.leaks)} cross-tenant answers')

    # --- what every answer is checked for ---------------------------------------------------

    def judge(self, me, answer, what):
        """Counts one answer; records it if it carries another tenant's markers."""
        self.tally.tried += 1
        for other in Net.tenants:
            if other is me:
                continue
            for m in markers(other):
                if m in answer:
                    self.tally.leaks.append((what, me.n, other.n, answer[:300]))
                    self.fail(f'{what}: tenant {me.n}\'s guest got tenant {other.n}\'s data '
                              f'({m!r}): {answer[:300]!r}')

    def raw(self, guest, jobs):
        r = in_ns(guest, PYTHON, '-c', RAW, input=json.dumps(jobs), timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def get(self, guest, path, source=None):
        job = {'raw': f'GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n',
               'source': source}
        return self.raw(guest, [job])[0]

    def guests(self):
        return [(Net.guest_a, Net.a), (Net.guest_b, Net.b), (Net.guest_d, Net.d)]

    # --- the attacks -------------------------------------------------------------------------

    def test_1_forged_identity(self):
        for guest, me in self.guests():
            for other in Net.tenants:
                if other is me:
                    continue
                jobs = [{'raw': raw} for raw in forgeries(other)]
                answers = self.raw(guest, jobs)
                for job, answer in zip(jobs, answers):
                    self.judge(me, answer, f'forged {job["raw"][:60]!r}')
                    # Whatever was sent, a 200 on meta_data.json is the guest's own document.
                    if answer.startswith('HTTP/1.1 200') and '"uuid"' in answer:
                        self.assertIn(me.uuid, answer)
                self.assertTrue(any(a.startswith('HTTP/1.1 200') for a in answers),
                                'no forgery was even answered: the test sends nothing useful')

    def test_2_moves_and_reuse(self):
        dep = self.dep
        for direct in (False, True):
            how = 'CLI on the store' if direct else 'admin API'
            with self.subTest(how=how):
                # Warm every cache with A at 10.0.0.5.
                self.assertIn(Net.a.uuid, self.get(Net.guest_a, '/openstack/latest/meta_data.json',
                                                   source='10.0.0.5'))
                loop5 = Loop(Net.guest_a, '10.0.0.5')
                loop7 = Loop(Net.guest_a, '10.0.0.7')
                time.sleep(0.2)
                dep.place(Net.a, '10.0.0.7', direct)
                c_doc = self.dep.dir / f'instance-c-{direct}.json'
                c_doc.write_text(json.dumps(Net.c.doc))
                dep.cli('instance', 'create', '-f', c_doc, direct=direct)
                done = time.monotonic()
                time.sleep(MOVE_BOUND + 1.0)
                at5, at7 = loop5.stop(), loop7.stop()
                # While the move is under way 10.0.0.5 may answer A or C, and 10.0.0.7 A or
                # nobody; never anyone else, never a mixture.
                for answers, allowed in ((at5, (Net.a, Net.c)), (at7, (Net.a,))):
                    for _, status, who, body in answers:
                        owner = next((t for t in allowed if t.uuid == who), allowed[0])
                        self.judge(owner, body, f'{how}: move')
                        if status == '200':
                            self.assertEqual(who, owner.uuid, body)
                after5 = [(s, st, w) for s, st, w, _ in at5 if s > done + MOVE_BOUND]
                after7 = [(s, st, w) for s, st, w, _ in at7 if s > done + MOVE_BOUND]
                self.assertGreater(len(after5), 5, at5)
                self.assertEqual({w for _, _, w in after5}, {Net.c.uuid},
                                 f'{how}: 10.0.0.5 after the bound: {after5}')
                self.assertEqual({w for _, _, w in after7}, {Net.a.uuid},
                                 f'{how}: 10.0.0.7 after the bound: {after7}')
                # Undo: C goes, A comes back to 10.0.0.5 (the other way round next time).
                dep.cli('instance', 'delete', Net.c.uuid, direct=not direct)
                dep.place(Net.a, '10.0.0.5', not direct)
                deadline = time.monotonic() + 5
                while Net.a.uuid not in self.get(Net.guest_a, '/openstack/latest/meta_data.json',
                                                  source='10.0.0.5'):
                    self.assertLess(time.monotonic(), deadline, 'A never came back')
                    time.sleep(0.02)
                self.assertIn('404 Not Found', self.get(
                    Net.guest_a, '/openstack/latest/meta_data.json', source='10.0.0.7'))

    def test_3_hoarding(self):
        # B holds its whole share from its one address, then tries the listener's whole share
        # from many; A at the same address behind another router, and D, are answered at once.
        sources_b = [f'10.0.0.{k}' for k in range(50, 50 + PER_LISTENER // PER_ADDRESS + 2)]
        for sources, most in ((['10.0.0.5'], PER_ADDRESS), (sources_b, PER_LISTENER)):
            hoard = subprocess.Popen(['ip', 'netns', 'exec', Net.guest_b, PYTHON, '-c', HOARD,
                                      str(most + 8), ','.join(sources)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                held = int(hoard.stdout.readline())
                self.assertEqual(held, most, f'B held {held} connections from {sources}')
                for guest, me in ((Net.guest_a, Net.a), (Net.guest_d, Net.d)):
                    started = time.monotonic()
                    answer = self.get(guest, '/openstack/latest/meta_data.json')
                    self.assertLess(time.monotonic() - started, 2.0)
                    self.judge(me, answer, 'during hoarding')
                    self.assertIn(me.uuid, answer, 'starved while another tenant hoarded')
            finally:
                hoard.stdin.close()
                hoard.wait(10)
                hoard.stdout.close()

    def test_4_password_races(self):
        def race(guest, tenant):
            # Within the guest's connection share: a refused connection is not a lost race.
            r = in_ns(guest, PYTHON, '-c', RACE, f'pw{tenant.n}', '20', str(PER_ADDRESS // 2),
                      timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            return json.loads(r.stdout)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            a, b = pool.map(lambda gt: race(*gt), [(Net.guest_a, Net.a), (Net.guest_b, Net.b)])
        for statuses in (a, b):
            self.tally.tried += len(statuses)
            self.assertEqual(sorted(statuses), [200] + [409] * 19, statuses)
        for guest, me in self.guests():
            answer = self.get(guest, '/openstack/latest/password')
            self.judge(me, answer, 'password')
            body = answer.split('\r\n\r\n', 1)[1]
            if me is Net.d:
                self.assertEqual(body, '')
            else:
                self.assertRegex(body, rf'^pw{me.n}-\d+$')

    def test_5_rate_limit(self):
        r = in_ns(Net.guest_b, PYTHON, '-c', FLOOD, str(RATE_BURST + 8 * RATE), timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        flood = json.loads(r.stdout)
        self.tally.tried += len(flood['statuses'])
        self.assertIn(429, flood['statuses'])
        self.assertLessEqual(set(flood['statuses']), {200, 429})
        self.assertTrue(flood['retry_after'] and all(int(v) >= 1 for v in flood['retry_after']),
                        flood)
        # A shares the address and the proxy, not the bucket.
        answer = self.get(Net.guest_a, '/latest/meta-data/instance-id')
        self.judge(Net.a, answer, 'during a flood')
        self.assertTrue(answer.startswith('HTTP/1.1 200'), answer)

    def test_6_restarts_under_load(self):
        time.sleep(RATE_BURST / RATE + 0.2)  # the flood's bucket refills
        loops = [(Loop(guest, me.ip), me) for guest, me in self.guests()]
        time.sleep(0.3)
        for name in list(self.dep.procs):
            self.dep.restart(name, kill=name == 'agent')
            time.sleep(0.3)
        time.sleep(0.5)
        for loop, me in loops:
            answers = loop.stop()
            for start, status, who, body in answers:
                self.judge(me, body, 'restarts')
                if status == '200':
                    self.assertEqual(who, me.uuid)
            self.assertEqual(answers[-1][1], '200', answers[-5:])

    def test_7_no_leaks_counted(self):
        self.assertEqual(self.tally.leaks, [])


def forgeries(other):
    """Raw requests claiming `other`'s identity every way a header can be spelled."""
    sig = guestnet.signature(SECRET, other.uuid)
    claims = [('X-Instance-ID', other.uuid), ('X-Tenant-ID', other.project),
              ('X-Instance-ID-Signature', sig), ('X-Forwarded-For', '10.0.0.7'),
              ('X-Metadata-Provider', other.router or other.network),
              ('X-Metadata-Provider-Signature', guestnet.signature(SECRET, other.router or ''))]
    if other.router:
        claims.append(('X-Neutron-Router-ID', other.router))
    claims.append(('X-Neutron-Network-ID', other.network))
    spellings = [lambda n: n, str.lower, str.upper, lambda n: n.replace('-', '_')]
    paths = ['/openstack/latest/meta_data.json', '/openstack/latest/user_data',
             '/latest/meta-data/instance-id', '/latest/user-data', '/openstack/latest/password']
    out = []
    for path in paths:
        for spell in spellings:
            head = ''.join(f'{spell(n)}: {v}\r\n' for n, v in claims)
            out.append(f'GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\n{head}'
                       'Connection: close\r\n\r\n')
        # Every claim twice, and as a list.
        twice = ''.join(f'{n}: {v}\r\n{n}: {v}\r\n' for n, v in claims)
        out.append(f'GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\n{twice}Connection: close\r\n\r\n')
        listed = ''.join(f'{n}: {v}, {v}\r\n' for n, v in claims)
        out.append(f'GET {path} HTTP/1.0\r\n{listed}\r\n')
    mdj = '/openstack/latest/meta_data.json'
    router_claim = f'X-Neutron-Router-ID: {other.router or other.network}\r\n'
    out += [
        # An absolute URI naming another host, and Host headers naming the agent or API.
        f'GET http://127.0.0.1:8775{mdj} HTTP/1.1\r\nHost: 127.0.0.1\r\n{router_claim}'
        'Connection: close\r\n\r\n',
        # A folded header line (obs-fold) carrying a claim.
        f'GET {mdj} HTTP/1.1\r\nHost: x\r\nX-Note: a\r\n {router_claim}Connection: close\r\n\r\n',
        # Pipelined: the second request carries the claims.
        f'GET {mdj} HTTP/1.1\r\nHost: x\r\n\r\nGET {mdj} HTTP/1.1\r\nHost: x\r\n{router_claim}'
        f'X-Instance-ID: {other.uuid}\r\nX-Instance-ID-Signature: {sig}\r\nConnection: close\r\n\r\n',
        # Smuggling: a chunked body hiding a second request, with and without Content-Length.
        f'POST /openstack/latest/password HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n'
        f'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET {mdj} HTTP/1.1\r\nHost: x\r\n'
        f'{router_claim}Connection: close\r\n\r\n',
        f'POST /openstack/latest/password HTTP/1.1\r\nHost: x\r\n'
        f'Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\nGET {mdj} HTTP/1.1\r\nHost: x\r\n'
        f'{router_claim}Connection: close\r\n\r\n',
        # Claims in a trailer of a chunked body.
        f'POST /openstack/latest/password HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n'
        f'Trailer: X-Neutron-Router-ID\r\nConnection: close\r\n\r\n0\r\n{router_claim}\r\n',
    ]
    return out


class Loop:
    """LOOP running in a guest namespace until stop(); stop() returns
    [(start, status, uuid or '-', raw body)]."""

    def __init__(self, guest, source):
        self.proc = subprocess.Popen(['ip', 'netns', 'exec', guest, PYTHON, '-c', LOOP, source],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout))
        self.reader.start()

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(15)
        self.reader.join(15)
        self.proc.stdout.close()
        out = []
        for line in self.lines:
            start, status, who, body = line.rstrip('\n').split(' ', 3)
            out.append((float(start), status, who, json.loads(body)))
        return out


class SqliteSeparate(Isolation, unittest.TestCase):
    STORE, SHAPE = 'sqlite', 'separate'


class SqliteServe(Isolation, unittest.TestCase):
    STORE, SHAPE = 'sqlite', 'serve'


class PostgresSeparate(Isolation, unittest.TestCase):
    STORE, SHAPE = 'postgresql', 'separate'


class PostgresServe(Isolation, unittest.TestCase):
    STORE, SHAPE = 'postgresql', 'serve'


if __name__ == '__main__':
    unittest.main(verbosity=2)
