#!/usr/bin/python3
"""The EC2 instance identity document through `metastack serve`, from a guest address on a proxy
listener, verified the way a guest verifies it: a self-signed certificate made with the openssl
command line is the deployment's identity key; the guest fetches
/latest/dynamic/instance-identity/{document,signature,pkcs7,rsa2048} and checks them with
`openssl dgst -sha256 -verify` and `openssl smime -verify` / `openssl cms -verify` as AWS's
documentation does, and a tampered document fails; cloud-init's own reader of the tree
(cloudinit.sources.helpers.ec2.get_instance_identity, which its Ec2 source runs in AWS mode)
reads the same document. A key that does not match the certificate stops `serve --check`.

Run:  /usr/bin/python3 tests/integration/test_identity_document.py --metastack BINARY
"""
import base64
import json
import pathlib
import subprocess
import tempfile
import unittest

from harness import Daemon, metastack_binary, network_instance, tcp_get

METASTACK = metastack_binary()
TOKEN = 'admin-token-0123456789abcdef'
NETWORK = '0d0d0d0d-1111-4222-8333-555555555555'
PROJECT = '3d2b1fa1c2e84b6d9f4e0d7c9a6b5e41'
IDENTITY = '/latest/dynamic/instance-identity/'
INSTANCE = network_instance('6b6b6b6b-0000-4000-8000-00000000d021', 'i-0000d001', NETWORK,
                            [('127.0.0.0/8', '127.0.0.1')], prefix='id')
INSTANCE.update(project_id=PROJECT, availability_zone='az-1', created_at='2026-03-04T05:06:07Z')


def openssl(*args, stdin=None, check=True):
    r = subprocess.run(['openssl', *map(str, args)], input=stdin, capture_output=True)
    if check and r.returncode != 0:
        raise AssertionError(f'openssl {args}: rc {r.returncode}: {r.stderr.decode()}')
    return r


def setUpModule():
    global TMP, DIR, SERVE, ADMIN, GUEST_PORT, KEY, CERT
    TMP = tempfile.TemporaryDirectory(prefix='metastack-identity-')
    DIR = pathlib.Path(TMP.name)
    KEY, CERT = DIR / 'identity.key', DIR / 'identity.crt'
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', KEY, '-out', CERT,
            '-days', '1', '-subj', '/CN=metastack identity test')
    (DIR / 'secret').write_text('s3cret-of-the-agent\n')
    (DIR / 'token').write_text(TOKEN + '\n')
    ready = DIR / 'ready.json'
    SERVE = Daemon(serve_args() + ['--ready-file', ready], log=DIR / 'serve.log',
                   ready_file=ready, timeout=15).start()
    ports = SERVE.ports()
    ADMIN = ports['admin']
    GUEST_PORT = next(l['port'] for l in ports['proxy'] if l['name'] == 'g1')
    cli('network', 'create', NETWORK, '--name', 'id', '--project', PROJECT)
    cli('instance', 'create', '-f', '-', stdin=json.dumps(INSTANCE).encode())


def serve_args(key=None, cert=None):
    return ['serve', '--store', 'memory:', '--secret-file', DIR / 'secret',
            '--admin-listen', '127.0.0.1:0', '--admin-token-file', DIR / 'token',
            '--ops-listen', '', '--threads', '2',
            '--agent-socket', DIR / 'agent.sock', '--control', DIR / 'proxy.sock',
            '--listen', f'g1,,network,{NETWORK},127.0.0.1,0',
            '--identity-key-file', key or KEY, '--identity-certificate-file', cert or CERT]


def tearDownModule():
    try:
        rc = SERVE.stop()
        if rc != 0:
            raise AssertionError(f'metastack serve exited {rc} on SIGTERM')
    finally:
        TMP.cleanup()


def cli(*args, stdin=None):
    r = subprocess.run([METASTACK, *map(str, args), '--url', f'http://127.0.0.1:{ADMIN}',
                        '--token-file', DIR / 'token'], input=stdin, capture_output=True)
    if r.returncode != 0:
        raise AssertionError(f'metastack {args}: rc {r.returncode}: {r.stderr.decode()}')
    return r


def guest_get(path):
    """A guest's GET on the proxy listener from 127.0.0.1 -> (status, body bytes)."""
    return tcp_get(GUEST_PORT, path, source='127.0.0.1', timeout=10)


def fetch(leaf):
    status, body = guest_get(IDENTITY + leaf)
    if status != 200:
        raise AssertionError(f'{leaf}: {status} {body!r}')
    return body


class IdentityDocumentTest(unittest.TestCase):

    def test_listings(self):
        self.assertEqual(guest_get('/latest/'), (200, b'dynamic/\nmeta-data/\nuser-data'))
        self.assertEqual(guest_get('/latest/dynamic/'), (200, b'instance-identity/'))
        self.assertEqual(guest_get(IDENTITY), (200, b'document\npkcs7\nrsa2048\nsignature'))
        # Versions before 2009-04-04 have no dynamic/, as before.
        self.assertEqual(guest_get('/2008-09-01/')[1], b'meta-data/\nuser-data')
        self.assertEqual(guest_get('/2008-09-01/dynamic/instance-identity/document')[0], 404)

    def test_document_fields(self):
        doc = fetch('document')
        self.assertEqual(fetch('document'), doc)  # the same bytes every time
        self.assertTrue(doc.startswith(b'{\n  "accountId" : "'), doc)
        self.assertEqual(json.loads(doc), {
            'accountId': PROJECT, 'architecture': None, 'availabilityZone': 'az-1',
            'billingProducts': None, 'devpayProductCodes': None,
            'marketplaceProductCodes': None, 'imageId': INSTANCE['ec2']['ami_id'],
            'instanceId': 'i-0000d001', 'instanceType': INSTANCE['ec2']['instance_type'],
            'kernelId': INSTANCE['ec2'].get('kernel_id'), 'pendingTime': '2026-03-04T05:06:07Z',
            'privateIp': '127.0.0.1', 'ramdiskId': INSTANCE['ec2'].get('ramdisk_id'),
            'region': None, 'version': '2017-09-30'})
        self.assertEqual(guest_get('/latest/meta-data/instance-id')[1], b'i-0000d001')

    def test_signature_verifies_with_openssl_dgst(self):
        doc, sig = fetch('document'), fetch('signature')
        (DIR / 'document').write_bytes(doc)
        (DIR / 'sig.bin').write_bytes(base64.b64decode(sig))
        pub = openssl('x509', '-pubkey', '-noout', '-in', CERT).stdout
        (DIR / 'pub.pem').write_bytes(pub)
        r = openssl('dgst', '-sha256', '-verify', DIR / 'pub.pem', '-signature', DIR / 'sig.bin',
                    DIR / 'document')
        self.assertEqual(r.stdout, b'Verified OK\n')
        (DIR / 'tampered').write_bytes(doc.replace(b'i-0000d001', b'i-0000d002'))
        r = openssl('dgst', '-sha256', '-verify', DIR / 'pub.pem', '-signature', DIR / 'sig.bin',
                    DIR / 'tampered', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, b'Verification failure\n')

    def test_pkcs7_verifies_with_openssl_smime_and_cms(self):
        doc = fetch('document')
        (DIR / 'document').write_bytes(doc)
        (DIR / 'tampered').write_bytes(doc.replace(b'i-0000d001', b'i-0000d002'))
        for leaf in ('pkcs7', 'rsa2048'):
            body = fetch(leaf)
            self.assertFalse(body.startswith(b'-----'), leaf)  # no armour, as AWS
            # AWS's documented recipe: armour it, then verify against the certificate.
            pem = DIR / f'{leaf}.pem'
            pem.write_bytes(b'-----BEGIN PKCS7-----\n' + body + b'\n-----END PKCS7-----\n')
            # cms must be told that the content is binary (else it digests LF as CRLF); smime
            # verifies the bytes as given either way.
            for tool, binary in (('smime', []), ('cms', ['-binary'])):
                r = openssl(tool, '-verify', *binary, '-in', pem, '-inform', 'PEM', '-content',
                            DIR / 'document', '-certfile', CERT, '-noverify')
                self.assertEqual(r.stdout, doc, (leaf, tool))
                # The document travels inside: verified without -content, it comes out.
                r = openssl(tool, '-verify', *binary, '-in', pem, '-inform', 'PEM',
                            '-certfile', CERT, '-noverify')
                self.assertEqual(r.stdout, doc, (leaf, tool))
                r = openssl(tool, '-verify', *binary, '-in', pem, '-inform', 'PEM', '-content',
                            DIR / 'tampered', '-certfile', CERT, '-noverify', check=False)
                self.assertNotEqual(r.returncode, 0, (leaf, tool))
                self.assertIn(b'Verification failure', r.stderr, (leaf, tool))

    def test_cloud_init_reads_the_document(self):
        from cloudinit.sources.helpers import ec2
        for version in ('2009-04-04', 'latest'):
            got = ec2.get_instance_identity(version, f'http://127.0.0.1:{GUEST_PORT}',
                                            retries=0)
            self.assertEqual(sorted(got), ['document', 'pkcs7', 'rsa2048', 'signature'])
            self.assertEqual(got['document'], json.loads(fetch('document')))
            self.assertEqual(got['document']['instanceId'], 'i-0000d001')

    def test_a_key_that_does_not_match_stops_startup(self):
        other = DIR / 'other.key'
        openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', other)
        r = subprocess.run([METASTACK, *map(str, serve_args(key=other)), '--check'],
                           capture_output=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f'--identity-key-file {other}, --identity-certificate-file {CERT}: '
                      'the identity certificate does not match the identity key',
                      r.stderr.decode())


if __name__ == '__main__':
    unittest.main()
