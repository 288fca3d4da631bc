#!/usr/bin/python3
"""metastack against OpenStack Nova, byte for byte.

For every instance document in instances/ and for dhcp_domain 'novalocal'
and '', this asks Nova's real metadata code (nova_reference.py) and our
binary the same questions and compares the answers:

* HTTP: every path Nova's own listings lead to (crawled recursively for
  every EC2 and OpenStack version), every OpenStack file name in every
  version, and edge cases; status, Content-Type and body must be equal.
* config drive: the same set of files with the same bytes.

``random_seed`` is random per response: both sides must carry base64 of
exactly 512 bytes there, and it is replaced by a placeholder before
comparing. Where we differ from Nova on purpose, INTENDED_DIFFERENCES says
what we answer instead and why.

Run with Debian's interpreter (python3-nova is needed):

    /usr/bin/python3 tests/integration/test_nova_compare.py \
        --metastack build/release/apps/metastack/metastack [unittest args]

Without a binary only the checks of the reference side run.
"""

import argparse
import base64
import binascii
import collections
import glob
import json
import os
import posixpath
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import nova_reference as nr  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_BINARY = os.path.join(REPO, 'build', 'release', 'apps', 'metastack',
                              'metastack')
FIXTURES = sorted(glob.glob(os.path.join(HERE, 'instances', '*.json')))
DHCP_DOMAINS = ('novalocal', '')
ADDRESS = nr.DEFAULT_ADDRESS

EC2_VERSIONS = nr.base.VERSIONS + ['latest']
OS_VERSIONS = nr.base.OPENSTACK_VERSIONS + ['latest']
OS_FILES = ('meta_data.json', 'user_data', 'password', 'vendor_data.json',
            'network_data.json', 'vendor_data2.json')
# A path every Nova answers 404 to; its answer is the 404 we must copy.
NOT_FOUND_PATH = '/openstack/2099-01-01/meta_data.json'

EDGE_PATHS = (
    '//', '/..', '/ec2', '/ec2/', '/openstack//', '/openstack/..',
    '/openstack/latest/meta_data.json/', '/openstack/latest/user_data/',
    '/latest/user-data/', '/latest/meta-data/public-keys/0/openssh-key/',
    '/openstack/latest/../latest/meta_data.json', '/latest//meta-data/',
    '/latest/meta-data/../meta-data/hostname', '/ec2/latest/meta-data/',
    '/ec2/latest/meta-data/instance-id', '/ec2/2009-04-04/user-data',
    '/openstack/2099-01-01/meta_data.json', '/openstack/2099-01-01/',
    '/openstack/foo/', '/openstack/foo', '/2099-01-01/meta-data/',
    '/2099-01-01/', '/foo', '/Latest/meta-data/', '/openstack/LATEST/',
    '/openstack/content', '/openstack/content/', '/openstack/content/0000',
    '/openstack/content/0001', '/openstack/latest/content/0000',
    '/openstack/latest/nonexistent.json', '/openstack/latest/meta_data',
    '/latest/meta-data/nonexistent', '/latest/meta-data/hostname/a/b',
    '/latest/meta-data/hostname/extra', '/latest/user-data/x',
    '/latest/meta-data/placement/availability-zone/x',
    '/latest/meta-data/ami-launch-index/x', '/latest/meta-data/ami-id/x',
    '/latest/meta-data/block-device-mapping/root/x',
    '/latest/meta-data/public-keys/0/openssh-key/x',
    '/latest/meta-data/public-keys/0=mykey', '/latest/meta-data/public-keys/x',
    '/latest/meta-data/security-groups/0',
    '/latest/meta-data/security-groups/default',
    '/openstack/latest/meta_data.json/x', '/openstack/latest/user_data/x',
    '/openstack/latest/password/x', '/openstack/2012-08-10/password',
    '/2012-08-10/password', '/latest/password',
    '//openstack/latest/meta_data.json', '//latest/meta-data/',
    '//openstack', '//latest/meta-data/hostname/extra',
    '///openstack/latest/meta_data.json',
    '/openstack/latest/meta%5Fdata.json', '/latest/meta-data/%68ostname',
)
HEAD_PATHS = ('/', '/openstack', '/openstack/latest/meta_data.json',
              '/openstack/latest/network_data.json', '/latest/meta-data/',
              '/latest/meta-data/hostname', '/latest/user-data',
              NOT_FOUND_PATH, '/latest/meta-data/hostname/extra')

# Every method on one path of each family: Nova answers any method as GET, but on the password
# (GET reads, POST sets, anything else 400); HEAD and GET are compared on every path above.
METHODS = ('POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT', 'FOO')
# The fixtures every method is tried on. A method decides only whether a path is read (api::UseOf),
# whatever the document holds, and every fixture's every path is compared under GET above; these
# cover what a method's answer can depend on: no user data, content files, several keys, a
# unicode hostname, two ports.
METHOD_FIXTURES = ('two_ports', 'no_userdata', 'files', 'multikey', 'unicode_hostname')
TOKEN_PATH = '/latest/api/token'  # EC2 IMDSv2: Nova has none (404); ours: 'session-token-path'
METHOD_PATHS = (
    '/', '/latest', '/2009-04-04/', '/latest/meta-data/', '/latest/meta-data/hostname',
    '/latest/meta-data/local-hostname', '/latest/meta-data/public-keys/0/openssh-key',
    '/latest/meta-data/placement/availability-zone', '/latest/user-data',
    '/openstack', '/openstack/', '/openstack/latest', '/openstack/2013-04-04/',
) + tuple('/openstack/latest/' + f for f in OS_FILES) + (
    '/openstack/2012-08-10/password', '/openstack/2013-04-04/password',
    '/openstack/content/0000', '/openstack/latest/content/0000', '/foo',
    '/latest/meta-data/nonexistent', '/latest/meta-data/hostname/extra', TOKEN_PATH,
    NOT_FOUND_PATH)

_RANDOM_SEED = re.compile(rb'"random_seed": "([A-Za-z0-9+/=]*)"')
_SEED_PLACEHOLDER = b'"random_seed": "<512 random bytes>"'

Answer = collections.namedtuple('Answer', 'status content_type body')


# ---------------------------------------------------------------- helpers

def _answer(d):
    body = d['body'] if 'body' in d else base64.b64decode(d['body_b64'])
    return Answer(d['status'], d['content_type'], body)


def _keys(doc):
    types = doc.get('public_key_types') or {}
    return [(name, key, types.get(name, 'ssh'))
            for name, key in (doc.get('public_keys') or {}).items()]


def _canonical(path):
    """The path Nova must be asked for to learn what we answer."""
    return re.sub(r'^/+', '/', path)


def _ec2_tokens(path):
    """Path tokens after the EC2 version, or None if not an EC2 path."""
    tokens = posixpath.normpath(path).split('/')[1:]
    if tokens and tokens[0] == 'ec2':
        tokens = tokens[1:]
    if not tokens or tokens[0] not in EC2_VERSIONS:
        return None
    return tokens[1:]


def _with_all_keys(body, keys):
    """Nova's JSON document with every public key where Nova has one."""
    data = json.loads(body)
    if not isinstance(data, dict):
        return body
    if 'public_keys' in data:
        data['public_keys'] = {name: key for name, key, _ in keys}
        data['keys'] = [{'name': name, 'type': typ, 'data': key}
                        for name, key, typ in keys]
    if 'public-keys' in data:
        data['public-keys'] = {
            str(i): {'_name': '%d=%s' % (i, name), 'openssh-key': key}
            for i, (name, key, _) in enumerate(keys)}
    return json.dumps(data).encode()


# ------------------------------------------------- intended differences

Context = collections.namedtuple('Context', 'doc path nova not_found method')


def _double_slash(ctx, expected):
    if ctx.path.startswith('//'):
        return ctx.nova[_canonical(ctx.path)]
    return None


def _below_leaf(ctx, expected):
    if expected.status == 500:
        return ctx.not_found
    return None


def _all_public_keys(ctx, expected):
    keys = _keys(ctx.doc)
    if len(keys) < 2:
        return None
    tokens = _ec2_tokens(_canonical(ctx.path))
    if tokens and tokens[:2] == ['meta-data', 'public-keys']:
        rest = tokens[2:]
        index = {str(i): key for i, (_, key, _) in enumerate(keys)}
        text = 'text/plain; charset=UTF-8'
        if not rest:
            listing = sorted('%d=%s' % (i, name)
                             for i, (name, _, _) in enumerate(keys))
            return Answer(200, text, '\n'.join(listing).encode())
        if rest[0] in index and len(rest) == 1:
            return Answer(200, text, b'openssh-key')
        if rest[0] in index and rest[1:] == ['openssh-key']:
            return Answer(200, text, index[rest[0]].encode())
        return ctx.not_found
    if expected.status == 200 and expected.content_type == \
            'application/json' and b'"public_keys"' in expected.body:
        return expected._replace(body=_with_all_keys(expected.body, keys))
    return None


def _session_token_path(ctx, expected):
    if posixpath.normpath(_canonical(ctx.path)) != TOKEN_PATH:
        return None
    if ctx.method == 'PUT':  # without X-aws-ec2-metadata-token-ttl-seconds
        return Answer(400, 'text/plain; charset=UTF-8',
                      b'400 Bad Request\n\nX-aws-ec2-metadata-token-ttl-seconds must be a whole '
                      b'number of seconds in 1..21600.\n\n   ')
    if ctx.method == 'HEAD':
        return Answer(405, 'text/html; charset=UTF-8', b'')
    return Answer(405, 'text/plain; charset=UTF-8',
                  b'405 Method Not Allowed\n\nA session token is requested with PUT.\n\n   ')


# Applied in order to Nova's answer (HTTP) to get the answer we must give.
# Each rule returns the answer it requires, or None where it does not apply.
INTENDED_DIFFERENCES = (
    ('leading-double-slash', _double_slash,
     "Python's posixpath.normpath keeps exactly two leading slashes, so "
     "Nova serves e.g. //openstack/latest/meta_data.json as the EC2 "
     "version list; we collapse them as every other '//' is collapsed."),
    ('below-a-leaf', _below_leaf,
     'A path below a leaf (hostname/extra, user-data/x, security-groups/'
     '<group>) makes find_path_in_tree index a str/bytes/list with a str '
     'and Nova answers 500 from the uncaught TypeError; we answer the '
     '404 Nova gives for any other missing path.'),
    ('all-public-keys', _all_public_keys,
     'Nova only ever exposes the first keypair; we expose all of them: '
     'public_keys/keys in meta_data.json, 0=a\\n1=b listings and '
     'N/openssh-key in the EC2 tree, one public-keys entry per key in the '
     "config drive's EC2 meta-data.json. With one key we equal Nova."),
    ('session-token-path', _session_token_path,
     'IMDSv2 sessions (docs/extensions.md): /latest/api/token issues tokens to a PUT with '
     'X-aws-ec2-metadata-token-ttl-seconds; a PUT without it is 400 and any other method 405, '
     'where Nova, which has no sessions, answers 404.'),
)


def expected_http(doc, path, nova, not_found, method='GET'):
    """(answer we must give, names of the INTENDED_DIFFERENCES applied)."""
    ctx = Context(doc, path, nova, not_found, method)
    expected, applied = nova[path], []
    for name, rule, _ in INTENDED_DIFFERENCES:
        required = rule(ctx, expected)
        if required is not None:
            expected = required
            applied.append(name)
    return expected, applied


def expected_file(doc, relpath, body):
    keys = _keys(doc)
    if len(keys) > 1 and relpath.endswith(('meta_data.json',
                                           'meta-data.json')):
        return _with_all_keys(body, keys)
    return body


# ------------------------------------------------------------ comparison

def _mask_seed(body, problems, side):
    def check(match):
        try:
            n = len(base64.b64decode(match.group(1), validate=True))
        except binascii.Error:
            n = -1
        if n != 512:
            problems.append('%s random_seed is not base64 of 512 bytes '
                            '(decodes to %d)' % (side, n))
        return _SEED_PLACEHOLDER
    return _RANDOM_SEED.sub(check, body)


def body_diff(expected, got):
    """One readable paragraph about where two byte strings part."""
    i = next((k for k, (a, b) in enumerate(zip(expected, got)) if a != b),
             min(len(expected), len(got)))
    lo = max(0, i - 40)
    return ('bodies differ at byte %d (expected %d bytes, ours %d)\n'
            '      expected: %r\n      ours:     %r'
            % (i, len(expected), len(got), expected[lo:i + 80],
               got[lo:i + 80]))


def compare(expected, got):
    """Problems found comparing two Answers, [] when equal."""
    problems = []
    if expected.status != got.status:
        problems.append('status: expected %s, ours %s'
                        % (expected.status, got.status))
    if expected.content_type != got.content_type:
        problems.append('content type: expected %r, ours %r'
                        % (expected.content_type, got.content_type))
    exp_body = _mask_seed(expected.body, problems, 'nova')
    got_body = _mask_seed(got.body, problems, 'ours')
    if exp_body != got_body:
        problems.append(body_diff(exp_body, got_body))
    return problems


# ------------------------------------------------------------- path set

def crawl(ref):
    """Every path Nova's listings lead to, in every version."""
    paths = ['/', '/openstack', '/openstack/']
    paths += ['/' + v for v in EC2_VERSIONS]
    paths += ['/openstack/' + v for v in OS_VERSIONS]
    dirs = (['/%s/' % v for v in EC2_VERSIONS] +
            ['/openstack/%s/' % v for v in OS_VERSIONS])
    seen = set()
    while dirs:
        seen.update(dirs)
        found = []
        for d, a in zip(dirs, ref.http([('GET', d) for d in dirs])):
            paths.append(d)
            if a['status'] != 200:
                continue
            for line in a['body'].decode('utf-8').split('\n'):
                if line.endswith('/'):
                    found.append(d + line)
                    paths.append(d + line[:-1])
                elif '=' in line:  # public-keys/ lists N=name for dir N/
                    index = line.split('=', 1)[0]
                    found.append(d + index + '/')
                    paths.append(d + index)
                elif line:
                    paths += [d + line, d + line + '/']
        dirs = [d for d in found if d not in seen]
    return paths


def path_set(doc, ref):
    paths = crawl(ref)
    for v in OS_VERSIONS:
        paths += ['/openstack/%s/%s' % (v, f) for f in OS_FILES]
    paths += EDGE_PATHS
    groups = (doc.get('ec2') or {}).get('security_groups') or []
    paths += ['/latest/meta-data/security-groups/' + g for g in groups[:2]]
    for v in ('1.0', '2009-04-04', 'latest'):
        for i in range(len(_keys(doc)) + 1):
            base_path = '/%s/meta-data/public-keys/%d' % (v, i)
            paths += [base_path, base_path + '/', base_path + '/openssh-key',
                      base_path + '/openssh-key/']
    paths += [_canonical(p) for p in paths]
    paths.append(NOT_FOUND_PATH)
    return list(dict.fromkeys(paths))


# ------------------------------------------------------------- the tests

class Metastack:
    """Our binary, driven through its CLI."""

    def __init__(self, binary):
        self.binary = binary

    def _run(self, args):
        proc = subprocess.run([self.binary] + args, capture_output=True,
                              timeout=300)
        if proc.returncode != 0:
            raise AssertionError(
                'metastack %s exited %d\nstderr: %s'
                % (' '.join(args[:3]), proc.returncode,
                   proc.stderr.decode('utf-8', 'replace')[-2000:]))
        return proc.stdout

    def get(self, instance, paths, dhcp_domain, method='GET'):
        out = self._run(['get', instance] + list(paths) + [
            '--json', '--dhcp-domain', dhcp_domain, '--method', method,
            '--address', ADDRESS])
        answers = json.loads(out)
        got_paths = [a['path'] for a in answers]
        if got_paths != list(paths):
            raise AssertionError('metastack get answered for other paths: '
                                 '%r...' % got_paths[:5])
        return {a['path']: _answer(a) for a in answers}

    def render(self, instance, dhcp_domain):
        with tempfile.TemporaryDirectory() as out:
            self._run(['render', instance, '--out', out,
                       '--dhcp-domain', dhcp_domain])
            files = {}
            for root, _, names in os.walk(out):
                for name in names:
                    full = os.path.join(root, name)
                    with open(full, 'rb') as f:
                        files[os.path.relpath(full, out)] = f.read()
            return files


def _problem(fixture, domain, what, issues, applied=()):
    head = '%s dhcp_domain=%r %s' % (os.path.basename(fixture), domain, what)
    if applied:
        head += '  [expected per INTENDED_DIFFERENCES: %s]' % ', '.join(
            applied)
    return head + ''.join('\n    ' + i for i in issues)


def _report(problems, limit=20):
    text = '%d mismatches\n' % len(problems) + '\n'.join(problems[:limit])
    if len(problems) > limit:
        text += '\n... and %d more' % (len(problems) - limit)
    return text


class NovaCompare(unittest.TestCase):
    """Tests are added per fixture below, by _add_fixture_tests."""

    metastack = None  # set by main()
    _paths = {}

    @classmethod
    def setUpClass(cls):
        if cls.metastack is None:
            raise unittest.SkipTest('no metastack binary (--metastack)')

    def _paths_for(self, fixture, doc):
        if fixture not in self._paths:
            with nr.NovaReference(doc, 'novalocal', ADDRESS) as ref:
                self._paths[fixture] = path_set(doc, ref)
        return self._paths[fixture]

    def check_http(self, fixture):
        doc = nr.load_doc(fixture)
        paths = self._paths_for(fixture, doc)
        problems = []
        for domain in DHCP_DOMAINS:
            with nr.NovaReference(doc, domain, ADDRESS) as ref:
                nova = {a['path']: _answer(a)
                        for a in ref.http([('GET', p) for p in paths])}
                nova_head = {a['path']: _answer(a) for a in ref.http(
                    [('HEAD', p) for p in HEAD_PATHS])}
            ours = self.metastack.get(fixture, paths, domain)
            ours_head = self.metastack.get(fixture, HEAD_PATHS, domain,
                                           method='HEAD')
            for method, nova_ans, our_ans in (('GET', nova, ours),
                                              ('HEAD', nova_head, ours_head)):
                # Nova's HEAD 404 differs from its GET 404 (text/html).
                not_found = nova_ans[NOT_FOUND_PATH]
                for path in our_ans:
                    expected, applied = expected_http(doc, path, nova_ans,
                                                      not_found, method)
                    if method == 'HEAD':
                        expected = expected._replace(body=b'')
                    issues = compare(expected, our_ans[path])
                    if issues:
                        problems.append(_problem(
                            fixture, domain, '%s %s' % (method, path),
                            issues, applied))
        if problems:
            self.fail(_report(problems))

    def check_methods(self, fixture):
        doc = nr.load_doc(fixture)
        methods = METHODS + ('HEAD',)
        with nr.NovaReference(doc, 'novalocal', ADDRESS) as ref:
            answers = ref.http([(m, p) for m in methods for p in METHOD_PATHS])
        nova = collections.defaultdict(dict)
        for a in answers:
            nova[a['method']][a['path']] = _answer(a)
        problems = []
        for method in methods:
            ours = self.metastack.get(fixture, METHOD_PATHS, 'novalocal',
                                      method=method)
            for path in METHOD_PATHS:
                expected, applied = expected_http(
                    doc, path, nova[method], nova[method][NOT_FOUND_PATH], method)
                if method == 'HEAD':
                    expected = expected._replace(body=b'')
                issues = compare(expected, ours[path])
                if issues:
                    problems.append(_problem(fixture, 'novalocal',
                                             '%s %s' % (method, path), issues,
                                             applied))
        if problems:
            self.fail(_report(problems))

    def check_config_drive(self, fixture):
        doc = nr.load_doc(fixture)
        problems = []
        for domain in DHCP_DOMAINS:
            with nr.NovaReference(doc, domain, ADDRESS) as ref:
                nova = ref.config_drive()
            ours = self.metastack.render(fixture, domain)
            for relpath in sorted(set(nova) - set(ours)):
                problems.append(_problem(fixture, domain, relpath,
                                         ['missing from our config drive']))
            for relpath in sorted(set(ours) - set(nova)):
                problems.append(_problem(fixture, domain, relpath,
                                         ["extra file, not on Nova's drive"]))
            for relpath in sorted(set(nova) & set(ours)):
                expected = expected_file(doc, relpath, nova[relpath])
                issues = compare(Answer(None, None, expected),
                                 Answer(None, None, ours[relpath]))
                if issues:
                    applied = ['all-public-keys'] if (
                        expected != nova[relpath]) else []
                    problems.append(_problem(fixture, domain, relpath,
                                             issues, applied))
        if problems:
            self.fail(_report(problems))


def _add_fixture_tests():
    for fixture in FIXTURES:
        name = os.path.splitext(os.path.basename(fixture))[0]
        setattr(NovaCompare, 'test_http_' + name,
                lambda self, f=fixture: self.check_http(f))
        setattr(NovaCompare, 'test_config_drive_' + name,
                lambda self, f=fixture: self.check_config_drive(f))
        if name in METHOD_FIXTURES:
            setattr(NovaCompare, 'test_methods_' + name,
                    lambda self, f=fixture: self.check_methods(f))


_add_fixture_tests()


# ---------------------------------------------------------- on the wire

WIRE_FIXTURE = os.path.join(HERE, 'instances', 'unicode_hostname.json')
WIRE_SECRET = 'shared-secret-of-the-wire-test'
LINE_ENDINGS = {'CRLF': '\r\n', 'LF': '\n'}


def _wire_request(method, path, headers, ending):
    lines = ['%s %s HTTP/1.1' % (method, path)]
    lines += ['%s: %s' % kv for kv in headers]
    return (ending.join(lines) + ending + ending).encode('latin-1')


def _exchange(port, data, timeout=10):
    """Sends one request (which asks to close) and reads the answer to the
    end: an Answer, its Content-Type None when there is none."""
    status, fields, body = _raw_exchange(port, data, timeout)
    return Answer(status, fields.get('content-type'), body)


def _raw_exchange(port, data, timeout=10):
    """(status, {lower-case header name: value}, body) of one request."""
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        s.sendall(data)
        raw = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            raw += chunk
    head, _, body = raw.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    fields = dict((k.strip().lower(), v.strip()) for k, _, v in
                  (line.partition(':') for line in lines[1:]))
    return int(lines[0].split(' ')[1]), fields, body


def _wait_for(predicate, what, proc, log_path, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            with open(log_path, errors='replace') as f:
                raise AssertionError('%s did not start:\n%s' % (what, f.read()))
        time.sleep(0.02)


class NovaWire(unittest.TestCase):
    """The same raw requests, every method, with CRLF and with bare-LF line
    endings, to Nova's WSGI app under eventlet (nova_reference.py --serve, as
    nova-api-metadata serves it) and to `metastack api`'s signed listener,
    both holding WIRE_FIXTURE and one shared secret."""

    @classmethod
    def setUpClass(cls):
        if NovaCompare.metastack is None:
            raise unittest.SkipTest('no metastack binary (--metastack)')
        cls.tmp = tempfile.TemporaryDirectory(prefix='metastack-nova-wire-')
        d = cls.tmp.name
        cls.doc = nr.load_doc(WIRE_FIXTURE)
        cls.nova = cls.api = None
        try:
            port_file, log = os.path.join(d, 'nova.port'), os.path.join(
                d, 'nova.log')
            with open(log, 'ab') as out:
                cls.nova = subprocess.Popen(
                    [sys.executable, nr.__file__, WIRE_FIXTURE,
                     '--shared-secret', WIRE_SECRET, '--serve', port_file],
                    stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL)
            for name, text in (('secret', WIRE_SECRET), ('token', 'wire-test-admin-token-0123456789')):
                with open(os.path.join(d, name), 'w') as f:
                    f.write(text + '\n')
            ready = os.path.join(d, 'ready.json')
            cls.api = harness.Daemon(
                ['api', '--store', 'memory:', '--signed-listen', '127.0.0.1:0',
                 '--admin-listen', '127.0.0.1:0', '--dhcp-domain', 'novalocal',
                 '--admin-token-file', os.path.join(d, 'token'),
                 '--secret-file', os.path.join(d, 'secret'),
                 '--rate-limit', '0', '--ready-file', ready],
                log=os.path.join(d, 'api.log'), ready_file=ready).start()
            ports = cls.api.ports()
            cls.ours_port = ports['signed'][0]
            admin = ['--url', 'http://127.0.0.1:%d' % ports['admin'],
                     '--token-file', os.path.join(d, 'token')]
            port = cls.doc['ports'][0]
            project = ['--project', cls.doc['project_id']]
            for args, stdin in (
                    (['router', 'create', port['router_id']] + project, None),
                    (['network', 'create', port['network_id'], '--name',
                      port['network_name'], '--router', port['router_id']]
                     + project, None),
                    (['instance', 'create', '-f', '-'],
                     json.dumps(cls.doc).encode())):
                r = subprocess.run([NovaCompare.metastack.binary] + args + admin,
                                   input=stdin, capture_output=True)
                if r.returncode != 0:
                    raise AssertionError('metastack %s: %s' % (
                        ' '.join(args[:2]), r.stderr.decode('utf-8', 'replace')))
            _wait_for(lambda: os.path.exists(port_file),
                      'nova_reference.py --serve', cls.nova, log)
            with open(port_file) as f:
                cls.nova_port = int(f.read())
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.api:
            cls.api.stop()
        if cls.nova:
            harness.stop_process(cls.nova)
        cls.tmp.cleanup()

    def _headers(self, extra=()):
        doc = self.doc
        address = doc['ports'][0]['subnets'][0]['ip_address']
        return [('Host', '169.254.169.254')] + [
            (k, v) for k, v in nr.signed_headers(
                doc['uuid'], doc['project_id'], address, WIRE_SECRET).items()
        ] + list(extra) + [('Connection', 'close')]

    def _both(self, method, paths, ending, extra=()):
        """{path: (Nova's answer, ours)}"""
        out = {}
        for path in paths:
            data = _wire_request(method, path, self._headers(extra), ending)
            out[path] = (_exchange(self.nova_port, data),
                         _exchange(self.ours_port, data))
        return out

    def test_every_method_with_each_line_ending(self):
        problems = []
        for ending_name, ending in LINE_ENDINGS.items():
            for method in ('GET', 'HEAD') + METHODS:
                # As clients send a POST without data (see nova_reference.http).
                extra = [('Content-Length', '0')] if method == 'POST' else []
                got = self._both(method, METHOD_PATHS, ending, extra)
                nova = {p: n for p, (n, _) in got.items()}
                for path, (_, ours) in got.items():
                    expected, applied = expected_http(
                        self.doc, path, nova, nova[NOT_FOUND_PATH], method)
                    if method == 'HEAD':
                        expected = expected._replace(body=b'')
                    issues = compare(expected, ours)
                    if issues:
                        problems.append(_problem(
                            WIRE_FIXTURE, 'novalocal', '%s %s (%s)' % (
                                method, path, ending_name), issues, applied))
        if problems:
            self.fail(_report(problems))

    def test_etag_is_ours_alone(self):
        """A deliberate difference (docs/architecture.md): each 200 carries an
        ETag (GCE's form: 16 hex digits, unquoted) and If-None-Match naming it
        gets a 304 without body; Nova sends no ETag and ignores If-None-Match.
        Status, Content-Type and body, which the other tests compare, are
        Nova's."""
        path = '/openstack/latest/meta_data.json'
        plain = _wire_request('GET', path, self._headers(), '\r\n')
        nova, ours = _raw_exchange(self.nova_port, plain), _raw_exchange(self.ours_port, plain)
        self.assertEqual((nova[0], ours[0]), (200, 200))
        self.assertNotIn('etag', nova[1])
        self.assertRegex(ours[1]['etag'], '^[0-9a-f]{16}$')
        conditional = _wire_request('GET', path, self._headers(
            [('If-None-Match', ours[1]['etag'])]), '\r\n')
        self.assertEqual(_raw_exchange(self.nova_port, conditional)[0], 200)
        status, fields, body = _raw_exchange(self.ours_port, conditional)
        self.assertEqual((status, fields['etag'], body), (304, ours[1]['etag'], b''))

    def test_post_password_without_length(self):
        """Nova's password handler compares the missing Content-Length with
        its limit and raises TypeError (500); we take it as an empty POST (as
        in docs/architecture.md's table)."""
        path = '/openstack/latest/password'
        for ending in LINE_ENDINGS.values():
            nova, ours = self._both('POST', [path], ending)[path]
            self.assertEqual(500, nova.status)
            self.assertEqual(Answer(200, 'text/html; charset=UTF-8', b''), ours)


def _nova_stores_hostname(name):
    """Whether Nova 26 can hold `name` as instance.hostname: given through the API's
    `hostname` field, or made by sanitize_hostname from a display name."""
    api = nr.parameter_types.hostname
    if (api['minLength'] <= len(name) <= api['maxLength']
            and re.match(api['pattern'], name)):
        return True
    return name != '' and nr.nova_utils.sanitize_hostname(name) == name
_DOC_KEYS = {
    'uuid', 'name', 'hostname', 'project_id', 'user_id', 'availability_zone',
    'launch_index', 'created_at', 'image_id', 'public_keys',
    'public_key_types', 'user_data', 'user_data_b64', 'meta', 'files',
    'admin_pass', 'password', 'ec2', 'block_devices', 'ports', 'vendor_data',
    'devices', 'dedicated_cpus', 'conf'}


class ReferenceSelfTest(unittest.TestCase):
    """The fixtures are valid, and Nova still does what the table assumes."""

    def test_fixtures_within_nova_limits(self):
        self.assertGreaterEqual(len(FIXTURES), 17)
        names = {os.path.splitext(os.path.basename(f))[0] for f in FIXTURES}
        self.assertLessEqual(set(METHOD_FIXTURES), names)
        for fixture in FIXTURES:
            with self.subTest(fixture=os.path.basename(fixture)):
                doc = nr.load_doc(fixture)
                self.assertLessEqual(set(doc), _DOC_KEYS)
                self.assertTrue(_nova_stores_hostname(doc['hostname']),
                                doc['hostname'])
                meta = doc.get('meta') or {}
                self.assertLessEqual(len(meta), 128)
                for key, value in meta.items():
                    self.assertTrue(0 < len(key) <= 255, key)
                    self.assertLessEqual(len(value), 255, key)
                pw = doc.get('password') or ''
                self.assertLessEqual(len(pw), nr.password.MAX_SIZE)

    def test_a_fixture_has_a_hostname_nova_made_from_unicode(self):
        names = {nr.load_doc(f)['name']: nr.load_doc(f)['hostname']
                 for f in FIXTURES}
        self.assertEqual('ünïcode-café-straße', names['Ünïcode Café Straße'])
        self.assertEqual(
            'ünïcode-café-straße',
            nr.nova_utils.sanitize_hostname('Ünïcode Café Straße'))

    def test_every_fixture_renders(self):
        for fixture in FIXTURES:
            with self.subTest(fixture=os.path.basename(fixture)):
                doc = nr.load_doc(fixture)
                with nr.NovaReference(doc) as ref:
                    drive = ref.config_drive()
                    self.assertIn('openstack/latest/meta_data.json', drive)
                    paths = path_set(doc, ref)
                    answers = ref.http([('GET', p) for p in paths])
                    self.assertGreater(len(paths), 300)
                    self.assertEqual(
                        200, answers[paths.index(
                            '/openstack/latest/meta_data.json')]['status'])

    def _get(self, fixture, *paths):
        doc = nr.load_doc(os.path.join(HERE, 'instances', fixture))
        with nr.NovaReference(doc) as ref:
            return {a['path']: _answer(a)
                    for a in ref.http([('GET', p) for p in paths])}

    def test_nova_quirks_the_table_relies_on(self):
        got = self._get('two_ports.json', '/latest/meta-data/hostname/extra',
                        '/latest/meta-data/security-groups/default',
                        '//openstack/latest/meta_data.json', '/',
                        NOT_FOUND_PATH)
        self.assertEqual(500, got['/latest/meta-data/hostname/extra'].status)
        self.assertEqual(
            500, got['/latest/meta-data/security-groups/default'].status)
        self.assertEqual(got['/'].body,
                         got['//openstack/latest/meta_data.json'].body)
        self.assertEqual(
            Answer(404, 'text/plain; charset=UTF-8',
                   b'404 Not Found\n\nThe resource could not be found.\n\n   '),
            got[NOT_FOUND_PATH])
        got = self._get('multikey.json', '/latest/meta-data/public-keys/',
                        '/latest/meta-data/public-keys/1/openssh-key')
        self.assertEqual(b'0=zeta', got['/latest/meta-data/public-keys/'].body)
        self.assertEqual(
            404, got['/latest/meta-data/public-keys/1/openssh-key'].status)

    def test_expectations_equal_nova_with_one_key(self):
        doc = nr.load_doc(os.path.join(HERE, 'instances', 'files.json'))
        with nr.NovaReference(doc) as ref:
            for relpath, body in ref.config_drive().items():
                self.assertEqual(body, expected_file(doc, relpath, body))

    def test_multikey_expectations(self):
        doc = nr.load_doc(os.path.join(HERE, 'instances', 'multikey.json'))
        keys = list(doc['public_keys'])
        with nr.NovaReference(doc) as ref:
            drive = ref.config_drive()
            nova = {a['path']: _answer(a) for a in ref.http([
                ('GET', p) for p in ('/latest/meta-data/public-keys',
                                     '/latest/meta-data/public-keys/2/',
                                     NOT_FOUND_PATH)])}
        ec2 = json.loads(expected_file(
            doc, 'ec2/latest/meta-data.json',
            drive['ec2/latest/meta-data.json']))
        self.assertEqual(['0', '1', '2'], list(ec2['public-keys']))
        self.assertEqual('2=' + keys[2], ec2['public-keys']['2']['_name'])
        md = json.loads(expected_file(
            doc, 'openstack/latest/meta_data.json',
            drive['openstack/latest/meta_data.json']))
        self.assertEqual(keys, list(md['public_keys']))
        self.assertEqual(keys, [k['name'] for k in md['keys']])
        nf = nova[NOT_FOUND_PATH]
        listing, _ = expected_http(doc, '/latest/meta-data/public-keys',
                                   nova, nf)
        self.assertEqual(('0=%s\n1=%s\n2=%s' % tuple(keys)).encode(),
                         listing.body)
        self.assertEqual(b'openssh-key', expected_http(
            doc, '/latest/meta-data/public-keys/2/', nova, nf)[0].body)


def main():
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument('--metastack', default=os.environ.get('METASTACK'))
    args, rest = ap.parse_known_args()
    binary = args.metastack
    if binary is None and os.access(DEFAULT_BINARY, os.X_OK):
        binary = DEFAULT_BINARY
    if binary is not None:
        if not os.access(binary, os.X_OK):
            sys.exit('not an executable: %s' % binary)
        NovaCompare.metastack = Metastack(os.path.abspath(binary))
        # The binary harness.Daemon starts (`metastack api` in NovaWire).
        os.environ['METASTACK_BIN'] = NovaCompare.metastack.binary
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == '__main__':
    main()
