"""Guests, routers and DHCP namespaces for the tests that run the namespace path for real:
namespaces, veth pairs, `metastack net` plumbing and tenants loaded into a store.

Every name carries RUN (this process's id) so that concurrent runs do not collide; everything
made is undone by a cleanup registered with unittest.addModuleCleanup, even when a test fails.
Needs root.
"""
import hashlib
import hmac
import json
import os
import pathlib
import socket
import subprocess
import unittest

from harness import metastack_binary, wait_for  # noqa: F401 (wait_for: for importers)

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / 'examples' / 'instance.json'
METASTACK = metastack_binary()
PYTHON = '/usr/bin/python3'  # Debian's: cloud-init lives in its dist-packages
RUN = f'{os.getpid() % 100000:05d}'
GUEST_IP = '10.0.0.5'


def cleanup(fn, *args, **kw):
    unittest.addModuleCleanup(fn, *args, **kw)


def run(*args, timeout=60, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, **kw)


def check(*args, **kw):
    r = run(*args, **kw)
    if r.returncode != 0:
        raise AssertionError(f'{" ".join(map(str, args))}: exit {r.returncode}: {r.stderr}')
    return r.stdout


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def accepting(path):
    """Whether a UNIX socket listens (a killed server leaves its socket file behind)."""
    with socket.socket(socket.AF_UNIX) as s:
        return s.connect_ex(str(path)) == 0


def fd_count(pid):
    return len(os.listdir(f'/proc/{pid}/fd'))


def signature(secret, instance_id):
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


def uid(n, prefix):
    """A stable UUID for this run: prefix (4 hex) + the run id + n."""
    return f'{prefix}{RUN[:4]}-{RUN[4:]:0<4}-4000-8000-{n:012d}'


class Tenant:
    """One project: its router (or none: an isolated network), network and instance."""

    def __init__(self, n, routed, ip=GUEST_IP, cidr='10.0.0.0/24', gateway='10.0.0.1',
                 behind=None):
        """`behind`: another Tenant whose network (and router) this one's port is on."""
        self.n, self.routed, self.ip = n, routed, ip
        self.cidr, self.gateway = cidr, gateway
        self.router = (behind.router if behind else uid(n, 'a0a0')) if routed else None
        self.network = behind.network if behind else uid(n, 'b0b0')
        self.uuid = uid(n, 'c0c0')
        self.project = f'{n:04d}{RUN}' + 'f' * 23
        self.hostname = f'guest-{n}'
        self.mac = f'fa:16:3e:00:{n // 256:02x}:{n % 256:02x}'
        self.keys = {f'key{n}': f'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA{n:08d} user{n}@host'}
        self.user_data = f'#!/bin/sh\necho tenant {n}\n'
        doc = json.loads(EXAMPLE.read_text())
        doc.update(uuid=self.uuid, name=self.hostname, hostname=self.hostname,
                   project_id=self.project, public_keys=self.keys, user_data=self.user_data,
                   files=[], devices=[])
        doc['ec2'] = dict(doc['ec2'], instance_id=f'i-{n:08x}')
        port = doc['ports'][0]
        port.update(id=uid(n, 'd0d0'), mac=self.mac, network_id=self.network)
        if routed:
            port['router_id'] = self.router
        else:
            port.pop('router_id', None)
        port['subnets'][0].update(id=uid(n, 'e0e0'), cidr=cidr, gateway_ip=gateway,
                                  ip_address=ip, enable_dhcp=not routed)
        self.doc = doc

    def create(self, store, tmp, network=True):
        """Creates the router and network (unless `network` is False: another tenant's) and the
        instance, with the CLI on `store`."""
        if network and self.routed:
            check(METASTACK, 'router', 'create', self.router, '--project', self.project,
                  '--store', store)
            check(METASTACK, 'network', 'create', self.network, '--router', self.router,
                  '--store', store)
        elif network:
            check(METASTACK, 'network', 'create', self.network, '--store', store)
        path = pathlib.Path(tmp) / f'instance-{self.n}.json'
        path.write_text(json.dumps(self.doc))
        check(METASTACK, 'instance', 'create', '-f', path, '--store', store)


def managed_config(tmp, store, host, router_ns, network_ns, dhcp_server, admin=''):
    """A `serve` configuration with `[proxy] manage` on, its files under `tmp`: the ready file,
    the agent's socket, the proxy's control socket (proxy.sock) and DHCP state (dhcp/); ops on
    a free loopback port, a resync every second. `admin`: extra sections (TOML) to add."""
    return f'''store = "{store}"
host = "{host}"
threads = 1
ready-file = "{tmp / 'ready.json'}"
{admin}
[ops]
listen = "127.0.0.1:0"

[agent]
socket = "{tmp / 'agent.sock'}"

[proxy]
control = "{tmp / 'proxy.sock'}"
manage = true
router-namespace = "{router_ns}"
network-namespace = "{network_ns}"
dhcp-server = "{dhcp_server}"
dhcp-interface-prefix = "tap"
dhcp-state-dir = "{tmp / 'dhcp'}"
resync-interval = 1
'''


def namespace(name):
    check('ip', 'netns', 'add', name)

    def remove():
        for pid in run('ip', 'netns', 'pids', name).stdout.split():
            run('kill', '-9', pid)
        run('ip', 'netns', 'del', name)
    cleanup(remove)
    check('ip', '-n', name, 'link', 'set', 'lo', 'up')
    return name


def veth_guest(name, ns, peer, mac, address=None):
    """A guest namespace `name` joined to namespace `ns` by a veth: eth0 in the guest with `mac`,
    up; `peer` in `ns` with `address` (a CIDR) if given, up. Returns the guest's name."""
    guest = namespace(name)
    check('ip', 'link', 'add', 'eth0', 'netns', guest, 'type', 'veth', 'peer', 'name', peer,
          'netns', ns)
    if address:
        check('ip', '-n', ns, 'addr', 'add', address, 'dev', peer)
    check('ip', '-n', ns, 'link', 'set', peer, 'up')
    check('ip', '-n', guest, 'link', 'set', 'eth0', 'address', mac, 'up')
    return guest


def router_topology(tenant, tag=''):
    """guest ns --veth--> router ns with `metastack net router-setup`; returns both names."""
    guest = namespace(f'msg{tag}{tenant.n}-{RUN}')
    router = namespace(f'msr{tag}{tenant.n}-{RUN}')
    qr = f'qr-{tag}{tenant.n}-{RUN}'
    check('ip', 'link', 'add', 'eth0', 'netns', guest, 'type', 'veth', 'peer', 'name', qr,
          'netns', router)
    check('ip', '-n', router, 'addr', 'add', '10.0.0.1/24', 'dev', qr)
    check('ip', '-n', router, 'link', 'set', qr, 'up')
    check('ip', '-n', guest, 'link', 'set', 'eth0', 'address', tenant.mac, 'up')
    check('ip', '-n', guest, 'addr', 'add', f'{tenant.ip}/24', 'dev', 'eth0')
    check('ip', '-n', guest, 'route', 'add', 'default', 'via', '10.0.0.1')
    router_setup(router)
    return guest, router


def guest_behind(router, mac, ip, tag, gateway='10.0.0.1'):
    """A guest namespace behind the existing router namespace `router` (a veth: eth0 in the
    guest with `mac` and `ip`/24 and a default route via `gateway`, qr-<tag><RUN> in the router
    with `gateway`/24); returns the guest's name."""
    guest = namespace(f'msg{tag}-{RUN}')
    qr = f'qr-{tag}{RUN}'
    check('ip', 'link', 'add', 'eth0', 'netns', guest, 'type', 'veth', 'peer', 'name', qr,
          'netns', router)
    check('ip', '-n', router, 'addr', 'add', f'{gateway}/24', 'dev', qr)
    check('ip', '-n', router, 'link', 'set', qr, 'up')
    check('ip', '-n', guest, 'link', 'set', 'eth0', 'address', mac, 'up')
    check('ip', '-n', guest, 'addr', 'add', f'{ip}/24', 'dev', 'eth0')
    check('ip', '-n', guest, 'route', 'add', 'default', 'via', gateway)
    return guest


def served_json(guest, path='/openstack/latest/meta_data.json', timeout=30):
    """The JSON `guest` gets for `path` from 169.254.169.254 once it answers 200 (its namespace
    may still be being set up); the failure names the last answer."""
    last = {}

    def served():
        last['answer'] = curl(guest, f'http://169.254.169.254{path}')
        return last['answer'][1] == 200
    try:
        wait_for(served, f'{guest} to be served {path}', timeout=timeout)
    except AssertionError as e:
        raise AssertionError(f'{e}; last answer {last.get("answer")}') from None
    return json.loads(last['answer'][2])


def router_setup(router):
    """`metastack net router-setup` in a router namespace; router-teardown at exit."""
    check(METASTACK, 'net', 'router-setup', '--netns', router)
    cleanup(run, METASTACK, 'net', 'router-teardown', '--netns', router)


def dhcp_setup(tenant, dhcp, interface, dhcp_ip, state_dir):
    """`metastack net dhcp-setup --start-dnsmasq` for `tenant`'s subnet in DHCP namespace `dhcp`,
    whose port `interface` already has `dhcp_ip`: a static lease for the tenant's MAC and IP;
    dhcp-teardown at exit."""
    cleanup(run, METASTACK, 'net', 'dhcp-teardown', '--netns', dhcp, '--state-dir', state_dir)
    check(METASTACK, 'net', 'dhcp-setup', '--netns', dhcp, '--interface', interface, '--dhcp-ip',
          dhcp_ip, '--subnet', tenant.cidr, '--gateway', tenant.gateway, '--state-dir',
          state_dir, '--start-dnsmasq', '--host', f'{tenant.mac},{tenant.ip},{tenant.hostname}')


def dhcp_topology(tenant, state_dir, tag=''):
    """guest ns --veth--> DHCP ns with `metastack net dhcp-setup --start-dnsmasq`."""
    guest = namespace(f'msg{tag}{tenant.n}-{RUN}')
    dhcp = namespace(f'msd{tag}{tenant.n}-{RUN}')
    tap = f'tap{tag}{tenant.n}-{RUN}'
    check('ip', 'link', 'add', 'eth0', 'netns', guest, 'type', 'veth', 'peer', 'name', tap,
          'netns', dhcp)
    check('ip', '-n', guest, 'link', 'set', 'eth0', 'address', tenant.mac, 'up')
    check('ip', '-n', dhcp, 'addr', 'add', '10.0.0.2/24', 'dev', tap)
    check('ip', '-n', dhcp, 'link', 'set', tap, 'up')
    dhcp_setup(tenant, dhcp, tap, '10.0.0.2', state_dir)
    return guest, dhcp


def in_ns(ns, *args, timeout=30, **kw):
    return run('ip', 'netns', 'exec', ns, *args, timeout=timeout, **kw)


def curl(ns, url, *headers, max_time=5):
    """(curl exit code, HTTP status, body) of a GET from inside `ns`."""
    args = ['curl', '-sS', '--max-time', max_time, '-w', '\n%{http_code}']
    for h in headers:
        args += ['-H', h]
    r = in_ns(ns, *args, url, timeout=max_time + 10)
    body, _, status = r.stdout.rpartition('\n')
    return r.returncode, int(status or 0), body
