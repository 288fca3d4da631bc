#!/usr/bin/python3
"""The metastack command line as an operator uses it: exit codes, messages read verbatim, and
that a failed render writes nothing."""
import base64
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / 'examples' / 'instance.json'


def _binary():
    if '--metastack' in sys.argv:
        i = sys.argv.index('--metastack')
        path = sys.argv[i + 1]
        del sys.argv[i:i + 2]
        return path
    return os.environ.get('METASTACK_BIN', str(ROOT / 'build/release/apps/metastack/metastack'))


METASTACK = _binary()


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


if __name__ == '__main__':
    unittest.main(verbosity=2)
