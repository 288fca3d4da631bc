"""Certificates for the TLS tests, made by the `openssl` command as an operator would make them:
a CA, server certificates (subjectAltName naming 127.0.0.1, ::1 and localhost unless told
otherwise), client certificates, an expired one, and a second CA that signed none of them.

    pki = Pki(directory)
    ca = pki.ca('ca')                       # ca.cert, ca.key (PEM paths)
    server = pki.leaf('server', ca)         # server.cert, server.key
    client = pki.leaf('client', ca, client=True)
    expired = pki.leaf('old', ca, days=-1)  # notAfter one day in the past

Keys are P-256 ECDSA: quick to make (a whole set takes ~50 ms) and what current deployments
issue. Every file is written 0600 in `directory`; nothing else is touched."""
import os
import pathlib
import subprocess

OPENSSL = '/usr/bin/openssl'


class Cert:
    def __init__(self, name, cert, key):
        self.name = name
        self.cert = cert
        self.key = key

    def __repr__(self):
        return f'Cert({self.name})'


class Pki:
    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.serial = 0x5000

    def _run(self, *args):
        r = subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f'openssl {" ".join(map(str, args))}: {r.stderr}')
        return r.stdout

    def _key_and_request(self, name, subject):
        key = self.dir / f'{name}.key'
        csr = self.dir / f'{name}.csr'
        self._run('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
                  '-nodes', '-keyout', key, '-out', csr, '-subj', subject)
        os.chmod(key, 0o600)
        return key, csr

    def ca(self, name, days=30):
        """A self-signed CA."""
        key, csr = self._key_and_request(name, f'/CN=metastack test {name}')
        ext = self.dir / f'{name}.ext'
        ext.write_text('basicConstraints = critical, CA:TRUE\n'
                       'keyUsage = critical, keyCertSign, cRLSign\n'
                       'subjectKeyIdentifier = hash\n')
        cert = self.dir / f'{name}.cert'
        self._run('x509', '-req', '-in', csr, '-signkey', key, '-days', days, '-out', cert,
                  '-extfile', ext, '-set_serial', self._next_serial())
        return Cert(name, cert, key)

    def leaf(self, name, ca, client=False, days=30,
             names=('IP:127.0.0.1', 'IP:::1', 'DNS:localhost'), cn=None):
        """A certificate signed by `ca`: for a server (serverAuth, subjectAltName `names`) or,
        with client=True, for a client (clientAuth). days=-1: expired yesterday. `cn`: the
        subject's common name (default "metastack test NAME"; PostgreSQL's
        clientcert=verify-full wants the role's name there)."""
        key, csr = self._key_and_request(name, f'/CN={cn or "metastack test " + name}')
        ext = self.dir / f'{name}.ext'
        lines = ['basicConstraints = critical, CA:FALSE',
                 'keyUsage = critical, digitalSignature',
                 'extendedKeyUsage = ' + ('clientAuth' if client else 'serverAuth'),
                 'authorityKeyIdentifier = keyid']
        if names and not client:
            lines.append('subjectAltName = ' + ', '.join(names))
        ext.write_text('\n'.join(lines) + '\n')
        cert = self.dir / f'{name}.cert'
        self._run('x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-days', days,
                  '-out', cert, '-extfile', ext, '-set_serial', self._next_serial())
        return Cert(name, cert, key)

    def serial_of(self, cert_path):
        """The serial number of a PEM certificate, as openssl prints it (hex)."""
        return self._run('x509', '-in', cert_path, '-noout', '-serial').strip().split('=')[1]

    def _next_serial(self):
        self.serial += 1
        return self.serial
