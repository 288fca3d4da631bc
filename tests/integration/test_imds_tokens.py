#!/usr/bin/python3
"""IMDSv2 sessions (docs/extensions.md, "Sessions") through `serve`, from guest namespaces behind
routers, with the real clients that use them:

    guest ns --default route--> router ns (metastack net router-setup: REDIRECT :80 -> :9697)
        --> serve: proxy listener [::]:9697 --> agent --> API, in one process

* `ec2-metadata --instance-id` (amazon-ec2-utils), `ec2metadata --instance-id` (cloud-guest-utils),
  botocore's InstanceMetadataFetcher (its token PUT and a read with the token) and
  InstanceMetadataRegionFetcher, and cloud-init's Ec2 datasource in AWS mode (platform detection
  forced to AWS: no DMI here) read their own instance, with the policy `optional` and with
  `required` (set on the network with the CLI on the SQLite file), when a tokenless curl is
  then 401;
* the token answer leaves the proxy with IP TTL 1 (packets counted by iptables `-m ttl` in the
  guest), other answers with the normal TTL;
* a token PUT carrying X-Forwarded-For is 403; GET on the token path 405; another instance's
  token 401; an instance's own policy (set with the CLI) applies to it alone.

Needs root. Names carry this run's id; cleanups run even when an assertion fails.
"""
import json
import os
import pathlib
import shutil
import tempfile
import unittest

import guestnet
from guestnet import METASTACK, PYTHON, RUN, Tenant, check, cleanup, curl, in_ns, wait_for
from harness import Daemon

TOKEN_URL = 'http://169.254.169.254/latest/api/token'
TTL = 'X-aws-ec2-metadata-token-ttl-seconds: 60'
ID_URL = 'http://169.254.169.254/latest/meta-data/instance-id'


def plain(status, reason, explanation):
    return f'{status} {reason}\n\n{explanation}\n\n   '


REQUIRED = plain(401, 'Unauthorized', 'A session token is required: PUT /latest/api/token first.')
OTHER = plain(401, 'Unauthorized', 'token not valid for this instance')
FORWARDED = plain(403, 'Forbidden', 'A session token request must not carry X-Forwarded-For.')
NOT_PUT = plain(405, 'Method Not Allowed', 'A session token is requested with PUT.')

# botocore, inside a guest namespace: the fetcher's own token PUT, a read with its token, and
# the region fetcher (a public API that reads placement/availability-zone the same way).
BOTOCORE = r'''
import json
from botocore.utils import InstanceMetadataFetcher, InstanceMetadataRegionFetcher
f = InstanceMetadataFetcher(timeout=3, num_attempts=1)
token = f._fetch_metadata_token()
r = f._get_request('latest/meta-data/instance-id', None, token)
region = InstanceMetadataRegionFetcher(timeout=3, num_attempts=1).retrieve_region()
print(json.dumps({'token': token is not None, 'instance_id': r.text, 'region': region}))
'''

# cloud-init's Ec2 datasource in AWS mode, inside a guest namespace (the platform is what DMI
# would say on EC2; the metadata URL is the default 169.254.169.254).
CLOUDINIT = r'''
import json, sys, tempfile
from unittest import mock
from cloudinit import helpers
from cloudinit.sources import DataSourceEc2 as ds_ec2
tmp = tempfile.mkdtemp()
paths = helpers.Paths({'cloud_dir': tmp, 'run_dir': tmp})
cfg = {'datasource': {'Ec2': {'metadata_urls': ['http://169.254.169.254'], 'max_wait': 10,
                              'timeout': 3}}}
with mock.patch.object(ds_ec2, 'identify_platform', return_value=ds_ec2.CloudNames.AWS):
    ds = ds_ec2.DataSourceEc2(cfg, None, paths)
    found = ds.get_data()
    print(json.dumps({'found': found, 'cloud_name': ds.cloud_name,
                      'token': bool(getattr(ds, '_api_token', None)),
                      'instance_id': ds.metadata.get('instance-id') if found else None,
                      'hostname': ds.metadata.get('hostname') if found else None}))
'''


class Env:
    tmp = store = serve = None
    a = b = None
    guest_a = guest_b = None


def cli(*args):
    return check(METASTACK, *args, '--store', Env.store)


def status(guest, *headers, method='GET', url=ID_URL):
    args = ['curl', '-sS', '--max-time', '5', '-o', '/dev/stderr', '-w', '%{http_code}', '-X',
            method]
    for h in headers:
        args += ['-H', h]
    r = in_ns(guest, *args, url)
    return int(r.stdout or 0), r.stderr


def token(guest):
    code, body = status(guest, TTL, method='PUT', url=TOKEN_URL)
    assert code == 200, (code, body)
    return body


def run_in(guest, *args):
    r = in_ns(guest, *args, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f'{args[0]} in {guest}: exit {r.returncode}: {r.stdout} {r.stderr}')
    return r.stdout


def no_resolver(guest):
    """An empty resolv.conf in the guest namespace (`ip netns exec` mounts /etc/netns/NAME/):
    name look-ups fail at once instead of waiting on the host's resolvers, which the guest
    cannot reach (cloud-init's Ec2 source resolves made-up names to detect DNS hijacking)."""
    etc = pathlib.Path('/etc/netns') / guest
    etc.mkdir(parents=True)
    cleanup(shutil.rmtree, etc, ignore_errors=True)
    (etc / 'resolv.conf').write_text('# no resolver in this guest\n')


def setUpModule():
    if os.geteuid() != 0:
        raise unittest.SkipTest('needs root')
    tmp = tempfile.TemporaryDirectory(prefix='metastack-tokens-')
    cleanup(tmp.cleanup)
    Env.tmp = pathlib.Path(tmp.name)
    Env.store = f'sqlite:{Env.tmp / "metastack.db"}'
    Env.a, Env.b = Tenant(1, True), Tenant(2, True)
    for t in (Env.a, Env.b):
        t.create(Env.store, Env.tmp)
    Env.guest_a, router_a = guestnet.router_topology(Env.a, 'tk')
    Env.guest_b, router_b = guestnet.router_topology(Env.b, 'tk')
    no_resolver(Env.guest_a)
    listen = [f'qrouter-{t.router},{ns},router,{t.router}'
              for t, ns in ((Env.a, router_a), (Env.b, router_b))]
    config = Env.tmp / 'metastack.toml'
    config.write_text(f'''store = "{Env.store}"
threads = 1
ready-file = "{Env.tmp / 'ready.json'}"

[api]
http-tokens = "optional"

[admin]
listen = ""

[agent]
socket = "{Env.tmp / 'agent.sock'}"

[proxy]
control = "{Env.tmp / 'proxy.sock'}"
listen = {json.dumps(listen)}
''')
    Env.serve = Daemon(['serve', '--config', config], log=Env.tmp / 'serve.log',
                       ready_file=Env.tmp / 'ready.json')
    cleanup(lambda: Env.serve.stop(timeout=5))
    Env.serve.start()
    wait_for(lambda: status(Env.guest_a)[0] == 200 and status(Env.guest_b)[0] == 200,
             'both guests served')


class ImdsTokensTest(unittest.TestCase):
    def network_policy(self, tenant, policy):
        cli('network', 'set-http-tokens', tenant.network, *([policy] if policy else ['--unset']))

    def require_tokens(self, tenant, guest):
        """The policy `required` on the tenant's network, undone at the end of the test; waits
        until the change has reached serve (a tokenless request is 401)."""
        self.network_policy(tenant, 'required')
        self.addCleanup(lambda: (self.network_policy(tenant, None),
                                 wait_for(lambda: status(guest)[0] == 200, 'optional again')))
        wait_for(lambda: status(guest)[0] == 401, 'the policy required to apply')

    def clients_read_their_instance(self, tenant, guest):
        iid = f'i-{tenant.n:08x}'
        self.assertEqual(run_in(guest, 'ec2-metadata', '--instance-id').strip(),
                         f'instance-id: {iid}')
        self.assertEqual(run_in(guest, 'ec2metadata', '--instance-id').strip(), iid)
        boto = json.loads(run_in(guest, PYTHON, '-c', BOTOCORE))
        self.assertEqual(boto, {'token': True, 'instance_id': iid,
                                'region': tenant.doc['availability_zone'][:-1]})
        ci = json.loads(run_in(guest, PYTHON, '-c', CLOUDINIT).splitlines()[-1])
        self.assertEqual(ci, {'found': True, 'cloud_name': 'aws', 'token': True,
                              'instance_id': iid, 'hostname': f'{tenant.hostname}.novalocal'})

    def test_clients_with_tokens_optional(self):
        self.assertEqual(status(Env.guest_a), (200, 'i-00000001'))
        self.clients_read_their_instance(Env.a, Env.guest_a)

    def test_clients_with_tokens_required(self):
        self.require_tokens(Env.a, Env.guest_a)
        self.assertEqual(status(Env.guest_a), (401, REQUIRED))
        self.assertEqual(status(Env.guest_a, method='GET',
                                url='http://169.254.169.254/openstack/latest/meta_data.json'),
                         (401, REQUIRED))
        # The other router's guest, on another network, is not affected.
        self.assertEqual(status(Env.guest_b), (200, 'i-00000002'))
        self.clients_read_their_instance(Env.a, Env.guest_a)
        # Firecracker's header names are as good.
        code, t = status(Env.guest_a, 'X-metadata-token-ttl-seconds: 30', method='PUT',
                         url=TOKEN_URL)
        self.assertEqual(code, 200)
        self.assertEqual(status(Env.guest_a, f'X-metadata-token: {t}'), (200, 'i-00000001'))

    def test_instance_policy(self):
        cli('instance', 'set-http-tokens', Env.b.uuid, 'required')
        self.addCleanup(cli, 'instance', 'set-http-tokens', Env.b.uuid, '--unset')
        wait_for(lambda: status(Env.guest_b)[0] == 401, "the instance's policy to apply")
        self.assertEqual(status(Env.guest_b), (401, REQUIRED))
        self.assertEqual(status(Env.guest_b, f'X-aws-ec2-metadata-token: {token(Env.guest_b)}'),
                         (200, 'i-00000002'))
        self.assertEqual(status(Env.guest_a), (200, 'i-00000001'))

    def test_token_of_another_instance_is_401(self):
        theirs = token(Env.guest_b)
        self.assertEqual(status(Env.guest_a, f'X-aws-ec2-metadata-token: {theirs}'), (401, OTHER))
        self.assertEqual(status(Env.guest_b, f'X-aws-ec2-metadata-token: {theirs}'),
                         (200, 'i-00000002'))

    def test_forwarded_token_request_is_403(self):
        self.assertEqual(status(Env.guest_a, TTL, 'X-Forwarded-For: 192.0.2.7', method='PUT',
                                url=TOKEN_URL), (403, FORWARDED))

    def test_get_on_the_token_path_is_405(self):
        self.assertEqual(status(Env.guest_a, TTL, url=TOKEN_URL), (405, NOT_PUT))

    def test_token_answer_leaves_with_ttl_1(self):
        """Data packets from port 80 (longer than a bare ACK) counted in the guest by their IP
        TTL: the token answer's are 1, a metadata answer's are not."""
        chain = f'MSTTL{RUN}'
        guest = Env.guest_a
        check('ip', 'netns', 'exec', guest, 'iptables', '-N', chain)
        cleanup(in_ns, guest, 'iptables', '-X', chain)
        rules = [['-m', 'ttl', '--ttl-eq', '1'], ['-m', 'ttl', '--ttl-gt', '1']]
        for match in rules:
            check('ip', 'netns', 'exec', guest, 'iptables', '-A', chain, '-p', 'tcp', '--sport',
                  '80', '-m', 'length', '--length', '120:65535', *match)
        check('ip', 'netns', 'exec', guest, 'iptables', '-I', 'INPUT', '-j', chain)
        cleanup(in_ns, guest, 'iptables', '-D', 'INPUT', '-j', chain)

        def counts():
            out = check('ip', 'netns', 'exec', guest, 'iptables', '-L', chain, '-v', '-x', '-n')
            return [int(line.split()[0]) for line in out.splitlines()[2:]]

        def after(*args, **kw):
            check('ip', 'netns', 'exec', guest, 'iptables', '-Z', chain)
            status(guest, *args, **kw)
            return counts()

        ttl1, other = after()
        self.assertEqual(ttl1, 0)
        self.assertGreaterEqual(other, 1)
        ttl1, other = after(TTL, method='PUT', url=TOKEN_URL)
        self.assertGreaterEqual(ttl1, 1)
        self.assertEqual(other, 0)


if __name__ == '__main__':
    unittest.main(verbosity=2)
