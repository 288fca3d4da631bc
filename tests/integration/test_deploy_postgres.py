#!/usr/bin/python3
"""docs/deploy.md, recipe 3 (several hosts on one PostgreSQL), run as written as the first host,
`network-1`, with a second host, `network-2`, beside it on the same database.

The database server is a real PostgreSQL (pgcluster.py) listening on 127.0.0.1:5432, which
`db` names (/etc/hosts); the recipe's `runuser -u postgres -- psql/createdb` reach it through
PGHOST. Every shell command of the recipe runs in order in private /etc, /var/lib and /run and
a network namespace of its own (doc_commands.enter_sandbox); its TOML block is written where it
says. While the recipe's `serve` (network-1) runs, the test starts network-2's serve on the same
database and checks what the recipe promises:
  - the router the recipe assigned to network-1 is served there (a guest behind its namespace
    gets its metadata) and not by network-2;
  - a router assigned to network-2 (created with the CLI straight on the database, as from an
    operator's laptop) is served by network-2 alone;
  - an edit through network-1's admin API is served by network-2 at once.

Run (as root):  /usr/bin/python3 tests/integration/test_deploy_postgres.py --metastack BINARY
"""
import json
import os
import pathlib
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, Daemon, metastack_binary, unix_get  # noqa: E402
import doc_commands  # noqa: E402
from guestnet import Tenant, check, guest_behind, namespace, served_json, wait_for  # noqa: E402
from pgcluster import Cluster  # noqa: E402

METASTACK = metastack_binary()
RECIPE = 'Recipe 3: several hosts on one PostgreSQL'
DOC = json.loads((ROOT / 'examples' / 'instance.json').read_text())
PORT = DOC['ports'][0]
STORE = 'postgresql://metastack:DB_PASSWORD@db:5432/metastack'  # the recipe's URL
ADMIN = ['--url', 'http://127.0.0.1:8776', '--token-file', '/etc/metastack/admin-token']


def listener_names(control):
    answer = unix_get(control, '/listeners')
    assert answer is not None and answer[0] == 200, answer
    return {listener['name'] for listener in json.loads(answer[1])['listeners']}


class DeployPostgresTest(unittest.TestCase):
    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix='metastack-deploy-pg-'))
        self.tmp.chmod(0o755)
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        with open('/etc/hosts', 'a') as hosts:  # the sandbox's own /etc
            hosts.write('127.0.0.1 db\n')
        self.cluster = Cluster(also_remove=self.tmp / 'pg-unused', tcp_port=5432)
        self.addCleanup(self.cluster.stop)

    def two_hosts(self):
        # network-2, beside the recipe's network-1, on the same database.
        ready = self.tmp / 'network-2.ready'
        control2 = self.tmp / 'proxy-2.sock'
        second = Daemon(['serve', '--store', STORE, '--host', 'network-2', '--admin-listen', '',
                         '--agent-socket', self.tmp / 'agent-2.sock', '--control', control2,
                         '--manage', '--ready-file', ready],
                        log=self.tmp / 'network-2.log', ready_file=ready, timeout=30)
        with second:
            # The recipe's router, network-1's: served there, not by network-2.
            guest1 = guest_behind(namespace(f'qrouter-{PORT["router_id"]}'), PORT['mac'],
                                  PORT['subnets'][0]['ip_address'], 'pga')
            self.assertEqual(served_json(guest1)['uuid'], DOC['uuid'])
            first = f'qrouter-{PORT["router_id"]}'
            self.assertIn(first, listener_names('/run/metastack/proxy.sock'))
            self.assertNotIn(first, listener_names(control2))
            # A router of network-2's, made straight on the database (an operator's laptop).
            tenant = Tenant(2, True, ip='10.0.0.7')
            doc = self.tmp / 'instance-2.json'
            doc.write_text(json.dumps(tenant.doc))
            check(METASTACK, 'router', 'create', tenant.router, '--project', tenant.project,
                  '--host', 'network-2', '--store', STORE)
            check(METASTACK, 'network', 'create', tenant.network, '--router', tenant.router,
                  '--store', STORE)
            check(METASTACK, 'instance', 'create', '-f', doc, '--store', STORE)
            guest2 = guest_behind(namespace(f'qrouter-{tenant.router}'), tenant.mac, tenant.ip,
                                  'pgb')
            self.assertEqual(served_json(guest2)['uuid'], tenant.uuid)
            self.assertIn(f'qrouter-{tenant.router}', listener_names(control2))
            self.assertNotIn(f'qrouter-{tenant.router}',
                             listener_names('/run/metastack/proxy.sock'))
            # An edit through network-1's admin API, served by network-2.
            check(METASTACK, 'instance', 'set-meta', tenant.uuid, 'role=db', *ADMIN)
            wait_for(lambda: served_json(guest2)['meta'].get('role') == 'db',
                     'network-2 to serve the edit made through network-1', timeout=10)

    def test_recipe_runs_as_written(self):
        # PGHOST: the database server's own psql and createdb reach it.
        steps, runner = doc_commands.reader(ROOT, 'docs/deploy.md', RECIPE, METASTACK, self.tmp,
                                            env=dict(PGHOST=str(self.cluster.dir), PGPORT='5432'))
        runner.run_all(steps, then=self.two_hosts)
        self.assertEqual((len(runner.ran) + 1, runner.skipped), (len(steps), []))
        listed = next(r.stdout for _, c, r in runner.ran if c.startswith('metastack router list'))
        self.assertIn('network-1', listed)


if __name__ == '__main__':
    doc_commands.enter_sandbox(METASTACK, net=True, etc=True)
    unittest.main()
