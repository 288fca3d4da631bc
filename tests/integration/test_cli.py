#!/usr/bin/python3
"""The metastack command line as an operator uses it: exit codes, messages read verbatim, and
that a failed render writes nothing. The operators' verbs (instance, network, router, port) run
one script twice, directly on a SQLite store (--store) and through a running admin API (--url,
--token-file), and must print the same thing both ways."""
import base64
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import unittest

from harness import Daemon, metastack_binary

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / 'examples' / 'instance.json'


METASTACK = metastack_binary()


def run(*args, stdin=None):
    return subprocess.run([METASTACK, *map(str, args)], input=stdin, capture_output=True)


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = pathlib.Path(self.tmp.name)
        self.doc = json.loads(EXAMPLE.read_text())

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, doc, name='i.json'):
        p = self.dir / name
        p.write_text(json.dumps(doc))
        return p

    def test_validate_ok(self):
        r = run('validate', EXAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(),
                         f'{EXAMPLE}: valid instance b65cee2f-8c69-4aeb-be2f-f79742548fc2\n')

    def test_validate_names_the_field(self):
        self.doc['ports'][0]['subnets'].append({'cidr': '10.1.0.0/33'})
        p = self.write(self.doc)
        r = run('validate', p)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.decode(),
                         f'metastack: {p}: ports[0].subnets[1].cidr: not a CIDR\n')

    def test_validate_missing_file(self):
        r = run('validate', self.dir / 'nope.json')
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.decode(),
                         f'metastack: {self.dir}/nope.json: cannot read: No such file or directory\n')

    def test_validate_from_stdin(self):
        r = run('validate', '-', stdin=EXAMPLE.read_bytes())
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_get_body_and_exit_codes(self):
        r = run('get', EXAMPLE, '/latest/meta-data/hostname')
        self.assertEqual((r.returncode, r.stdout), (0, b'web-01.novalocal'))
        r = run('get', EXAMPLE, '/latest/meta-data/hostname', '--dhcp-domain', '')
        self.assertEqual(r.stdout, b'web-01')
        r = run('get', EXAMPLE, '/openstack/latest/nothing')
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, b'404 Not Found\n\nThe resource could not be found.\n\n   ')
        self.assertEqual(r.stderr, b'metastack: /openstack/latest/nothing: 404 Not Found\n')

    def test_get_json_many_paths(self):
        r = run('get', EXAMPLE, '/openstack/latest/user_data', '/x/y', '--json')
        self.assertEqual(r.returncode, 0, r.stderr)
        answers = json.loads(r.stdout)
        self.assertEqual([a['status'] for a in answers], [200, 404])
        self.assertEqual(base64.b64decode(answers[0]['body_b64']).decode(),
                         self.doc['user_data'])
        self.assertEqual(answers[0]['content_type'], 'text/plain; charset=UTF-8')

    def test_get_any_method_as_the_service(self):
        r = run('get', EXAMPLE, '/latest/meta-data/hostname', '--method', 'DELETE')
        self.assertEqual((r.returncode, r.stdout), (0, b'web-01.novalocal'))
        r = run('get', EXAMPLE, '/openstack/latest/password', '--method', 'PUT')
        self.assertEqual((r.returncode, r.stdout),
                         (1, b'400 Bad Request\n\nGET and POST only are supported.\n\n   '))
        self.assertEqual(r.stderr, b'metastack: /openstack/latest/password: 400 Bad Request\n')

    def test_unicode_hostname_served_and_listed(self):
        self.doc['hostname'] = 'café-01'
        p = self.write(self.doc)
        r = run('get', p, '/latest/meta-data/hostname')
        self.assertEqual(r.stdout, 'café-01.novalocal'.encode())
        r = run('get', p, '/openstack/latest/meta_data.json')
        self.assertIn(b'"hostname": "caf\\u00e9-01.novalocal"', r.stdout)
        store = ['--store', f'sqlite:{self.dir}/store.db']
        run('router', 'create', ROUTER, '--name', 'edge', '--project', PROJECT, *store)
        run('network', 'create', NETWORK, '--name', 'n', '--project', PROJECT, '--router', ROUTER,
            *store)
        r = run('instance', 'create', '-f', p, *store)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = run('instance', 'list', *store).stdout.decode().splitlines()
        self.assertEqual(lines[1], f'{UUID}  café-01   {PROJECT}  3')  # as the script's
        self.assertEqual(lines[0].index('PROJECT'), lines[1].index(PROJECT))
        self.doc['hostname'] = 'Café-01'  # Nova lower-cases what it keeps of a display name
        r = run('validate', self.write(self.doc))
        self.assertEqual(r.stderr.decode(),
                         f'metastack: {self.dir}/i.json: hostname: not a valid hostname\n')

    def test_get_needs_one_path_without_json(self):
        r = run('get', EXAMPLE, '/a', '/b')
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, b'metastack: give exactly one PATH, or use --json\n')

    def test_vendor_data_flag(self):
        del self.doc['vendor_data']
        p = self.write(self.doc)
        vd = self.dir / 'vd.json'
        vd.write_text('{"site": "lab", "n": 1.5}')
        r = run('get', p, '/openstack/latest/vendor_data2.json', '--vendor-data', vd)
        self.assertEqual(r.stdout, b'{"static": {"site": "lab", "n": 1.5}}')
        vd.write_text('{not json')
        r = run('get', p, '/openstack/latest/vendor_data.json', '--vendor-data', vd)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.decode(), f'metastack: {vd}: not valid JSON\n')

    def test_render_writes_the_tree(self):
        out = self.dir / 'drive'
        r = run('render', EXAMPLE, '--out', out)
        self.assertEqual(r.returncode, 0, r.stderr)
        files = sorted(str(p.relative_to(out)) for p in out.rglob('*') if p.is_file())
        self.assertIn('openstack/latest/meta_data.json', files)
        self.assertIn('openstack/content/0001', files)
        self.assertIn('ec2/latest/meta-data.json', files)
        self.assertEqual((out / 'openstack/content/0000').read_text(), 'Welcome to web-01\n')
        self.assertEqual(r.stderr.decode(), f'metastack: wrote {len(files)} files to {out}\n')

    def test_render_refuses_and_leaves_nothing(self):
        out = self.dir / 'drive'
        out.mkdir()
        (out / 'keep').write_text('x')
        r = run('render', EXAMPLE, '--out', out)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.decode(),
                         f'metastack: {out}: exists and is not an empty directory\n')
        self.assertEqual(sorted(os.listdir(self.dir)), ['drive'])
        self.doc['files'][0]['path'] = '/etc/../../x'
        bad = self.write(self.doc, 'bad.json')
        r = run('render', bad, '--out', self.dir / 'other')
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.decode(),
                         f"metastack: {bad}: files[0].path: contains a '.' or '..' component\n")
        self.assertEqual(sorted(os.listdir(self.dir)), ['bad.json', 'drive'])

    def test_help_and_usage(self):
        r = run('--help')
        self.assertEqual(r.returncode, 0)
        for verb in (b'validate', b'render', b'get'):
            self.assertIn(verb, r.stdout)
        r = run('render', '--help')
        self.assertIn(b'--dhcp-domain', r.stdout)
        r = run('render', EXAMPLE)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b'--out is required', r.stderr)
        r = run('frobnicate')
        self.assertEqual(r.returncode, 2)


class TwoBinariesTest(unittest.TestCase):
    """`metastack` runs validate, render, configdrive and get itself and hands every other verb
    to metastack-server beside it (apps/metastack/CMakeLists.txt): here a copy of `metastack`
    alone in a directory, then beside a stand-in metastack-server that reports what it got."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = pathlib.Path(self.tmp.name)
        self.bin = self.dir / 'metastack'
        shutil.copy2(METASTACK, self.bin)

    def tearDown(self):
        self.tmp.cleanup()

    def run_copy(self, *args, env=None):
        return subprocess.run([self.bin, *map(str, args)], capture_output=True, text=True,
                              env=env)

    def test_light_verbs_need_no_server_binary(self):
        self.assertEqual(self.run_copy('validate', EXAMPLE).returncode, 0)
        r = self.run_copy('get', EXAMPLE, '/openstack/latest/meta_data.json')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)['uuid'], 'b65cee2f-8c69-4aeb-be2f-f79742548fc2')
        for fmt in ('iso', 'vfat'):
            r = self.run_copy('configdrive', 'build', '-f', EXAMPLE, '-o', self.dir / f'd.{fmt}',
                              '--format', fmt)
            self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_copy('render', EXAMPLE, '--out', self.dir / 'tree')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_copy('--help')
        self.assertEqual(r.returncode, 0)
        for verb in ('validate', 'render', 'configdrive', 'get', 'api', 'agent', 'proxy',
                     'proxy-ctl', 'serve', 'instance', 'network', 'router', 'port', 'net'):
            self.assertRegex(r.stdout, rf'\n  {verb} +\S')

    def test_server_verbs_without_the_server_binary(self):
        message = f'metastack: cannot run {self.bin}-server: No such file or directory\n'
        for args in (['api', '--help'], ['instance', 'list'],
                     ['configdrive', 'build', 'b65cee2f', '--store',
                      f'sqlite:{self.dir}/none.db', '-o', self.dir / 'd.iso']):
            r = self.run_copy(*args)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (1, '', message), args)
        self.assertFalse((self.dir / 'd.iso').exists())

    def test_server_verbs_keep_the_process_and_its_command_line(self):
        server = self.dir / 'metastack-server'
        server.write_text('#!/bin/sh\necho "$$ $METASTACK_TEST_MARK $*"\n')
        server.chmod(0o755)
        env = dict(os.environ, METASTACK_TEST_MARK='mark')
        for args in (['serve', '--config', '/etc/x.toml'], ['net', 'router-setup', '--help'],
                     ['configdrive', 'build', 'b65cee2f', '-o', 'd.iso']):
            p = subprocess.Popen([self.bin, *args], stdout=subprocess.PIPE, text=True, env=env)
            out, _ = p.communicate(timeout=30)
            self.assertEqual((p.returncode, out), (0, f'{p.pid} mark {" ".join(args)}\n'))


ROUTER = 'c0ffee00-1234-4abc-8def-0123456789ab'
NETWORK = '7e5a1b2c-3d4e-4f50-9a8b-7c6d5e4f3a2b'
UUID = 'b65cee2f-8c69-4aeb-be2f-f79742548fc2'
PORT = '1f8b2e6a-3c4d-4e5f-8a9b-0c1d2e3f4a5b'
PROJECT = '3d2b1fa1c2e84b6d9f4e0d7c9a6b5e41'
TOKEN = 'operator-token-0123456789abcdef'


class OperatorVerbsTest(unittest.TestCase):
    """(arguments, exit code, stdout, stderr) of each step, in order; stdout None = not compared
    (JSON whose shape other tests check)."""

    SCRIPT = [
        (['router', 'create', ROUTER, '--name', 'edge', '--project', PROJECT], 0, None, ''),
        (['router', 'create', ROUTER], 1, '', f'metastack: router {ROUTER} exists\n'),
        (['network', 'create', NETWORK, '--name', 'private', '--project', PROJECT, '--router',
          'nope'], 1, '', 'metastack: router_id: unknown router nope\n'),
        (['network', 'create', NETWORK, '--name', 'private', '--project', PROJECT, '--router',
          ROUTER], 0, None, ''),
        (['instance', 'create', '-f', EXAMPLE], 0, None, ''),
        (['instance', 'create', '-f', EXAMPLE], 1, '', f'metastack: instance {UUID} exists\n'),
        (['instance', 'list'], 0,
         'UUID                                  HOSTNAME  PROJECT                           REVISION\n'
         f'{UUID}  web-01    {PROJECT}  3\n', ''),
        (['network', 'list'], 0,
         'ID                                    NAME     PROJECT                           ROUTER'
         '                                HOST  HTTP_TOKENS\n'
         f'{NETWORK}  private  {PROJECT}  {ROUTER}  -     -\n', ''),
        (['router', 'list'], 0,
         'ID                                    NAME  PROJECT                           HOST\n'
         f'{ROUTER}  edge  {PROJECT}  -\n', ''),
        (['port', 'list'], 0,
         'NETWORK                               IP        MAC                PORT'
         '                                  INSTANCE\n'
         f'{NETWORK}  10.0.0.5  fa:16:3e:12:34:56  {PORT}  {UUID}\n', ''),
        (['port', 'lookup', '--ip', '::ffff:10.0.0.5', '--router', ROUTER], 0,
         json.dumps({'port_id': PORT, 'mac': 'fa:16:3e:12:34:56', 'network_id': NETWORK,
                     'ip_address': '10.0.0.5', 'instance_id': UUID, 'project_id': PROJECT},
                    indent=2) + '\n', ''),
        (['port', 'lookup', '--ip', '10.0.0.6', '--network', NETWORK], 1, '',
         f'metastack: no port with IP 10.0.0.6 on network {NETWORK}\n'),
        (['instance', 'set-meta', UUID, 'role=db', '--unset', 'tier'], 0, None, ''),
        (['instance', 'set-meta', UUID, 'nonsense'], 2, '',
         'metastack: expected key=value: nonsense\n'),
        (['instance', 'show', UUID], 0, None, ''),
        (['router', 'set-host', ROUTER, 'node-1'], 0, None, ''),
        (['router', 'list'], 0,
         'ID                                    NAME  PROJECT                           HOST\n'
         f'{ROUTER}  edge  {PROJECT}  node-1\n', ''),
        (['router', 'set-host', ROUTER], 2, '', 'metastack: give a HOST or --unassign\n'),
        (['network', 'set-host', NETWORK, 'node 1'], 1, '',
         'metastack: host: contains spaces or control characters\n'),
        (['network', 'set-host', NETWORK, 'node-2'], 0, None, ''),
        (['network', 'set-host', NETWORK, '--unassign'], 0, None, ''),
        (['network', 'delete', NETWORK], 1, '',
         f'metastack: network {NETWORK} has port {PORT} of instance {UUID}\n'),
        (['router', 'delete', ROUTER], 1, '',
         f'metastack: router {ROUTER} has network {NETWORK} attached\n'),
        (['instance', 'delete', UUID], 0, '', ''),
        (['instance', 'delete', UUID], 1, '', f'metastack: no instance {UUID}\n'),
        (['network', 'delete', NETWORK], 0, '', ''),
        (['router', 'delete', ROUTER], 0, '', ''),
        (['instance', 'list'], 0, 'UUID  HOSTNAME  PROJECT  REVISION\n', ''),
        (['port', 'list', '--json'], 0, '[]\n', ''),
    ]

    def play(self, target):
        transcript = []
        for args, code, stdout, stderr in self.SCRIPT:
            r = run(*args, *target)
            out = r.stdout.decode()
            transcript.append((args, r.returncode, out if stdout is not None else None,
                               r.stderr.decode()))
            if args[:2] == ['instance', 'show'] and r.returncode == 0:
                shown = json.loads(out)
                self.assertEqual(shown['instance']['meta'], {'role': 'db'})
                self.assertEqual(shown['revision'], 4)
        return transcript

    def test_same_script_on_a_store_and_through_the_admin_api(self):
        want = [(args, code, stdout, stderr) for args, code, stdout, stderr in self.SCRIPT]
        with tempfile.TemporaryDirectory() as d:
            d = pathlib.Path(d)
            on_store = self.play(['--store', f'sqlite:{d}/store.db'])
            self.assertEqual(on_store, want)
            (d / 'token').write_text(TOKEN + '\n')
            ready = d / 'ready.json'
            with Daemon(['api', '--store', 'memory:', '--source-listen', '127.0.0.1:0',
                         '--admin-listen', '127.0.0.1:0', '--admin-token-file', d / 'token',
                         '--ready-file', ready, '--log-level', 'error'],
                        log=d / 'api.log', ready_file=ready) as api:
                url = f'http://127.0.0.1:{api.ports()["admin"]}'
                through_api = self.play(['--url', url, '--token-file', d / 'token'])
                self.assertEqual(through_api, want)
                (d / 'wrong').write_text('x' * 32)
                r = run('router', 'list', '--url', url, '--token-file', d / 'wrong')
                self.assertEqual((r.returncode, r.stderr.decode()),
                                 (1, 'metastack: wrong token\n'))

if __name__ == '__main__':
    unittest.main(verbosity=2)
