"""A throwaway PostgreSQL server for the integration tests: initdb into a temp dir, a free
port naming its unix socket, TCP (127.0.0.1) only when asked; run as the `postgres` user when
the test runs as root. A watchdog process stops it and removes its directory when the test
process ends, whether the tests pass, fail or the process is killed.

With `tls=Tls(...)` the server also listens on 127.0.0.1 with `ssl = on`, and its pg_hba.conf
lets TCP clients in over TLS only (`hostssl`, and `hostnossl ... reject`), optionally requiring
a client certificate (`clientcert=verify-full`) of some roles or all."""
import ctypes
import dataclasses
import glob
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from urllib.parse import quote, urlencode


_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent():
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no orphan outlives a killed test


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Tls:
    """What a Cluster serves TLS with (PEM paths, e.g. tls_certs.Pki's): its certificate and key,
    and the CA that client certificates must chain to (ssl_ca_file)."""
    cert: pathlib.Path
    key: pathlib.Path
    ca: pathlib.Path
    # Roles that must present a client certificate whose CN is the role's name
    # (`clientcert=verify-full`); ('all',) for every role.
    client_cert_roles: tuple = ()
    # The hostssl lines' method: 'trust', or 'scram-sha-256' to check the roles' passwords.
    auth: str = 'trust'


class Cluster:
    """A throwaway PostgreSQL server on a unix socket in a temp dir (see module docstring)."""

    def __init__(self, also_remove, tcp_port=None, tls=None):
        """`tcp_port`: also listen on 127.0.0.1:tcp_port (trust authentication, as on the
        socket), for clients that connect as a remote host's would. `tls`: a Tls; the server
        then listens on 127.0.0.1 (at tcp_port, else at the socket's free port) for TLS clients
        only, and logs each connection (log_connections, in server.log)."""
        found = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'),
                       key=lambda p: int(p.split('/')[4]))
        if not found:
            raise AssertionError('PostgreSQL server binaries not found '
                                 '(/usr/lib/postgresql/*/bin): run scripts/setup.sh')
        self.bin = pathlib.Path(found[-1]).parent
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix='metastack-pgn-', dir='/tmp'))
        self.data = self.dir / 'data'
        self.port = tcp_port or _free_port()
        listen = '127.0.0.1' if tcp_port or tls else ''
        self.as_root = os.geteuid() == 0
        self.user_prefix = []
        if self.as_root:
            pw = pwd.getpwnam('postgres')  # the postgresql package creates it
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.user_prefix = [shutil.which('runuser') or '/usr/sbin/runuser', '-u',
                                'postgres', '--']
        # Cleans up when our end of its stdin closes: at stop(), or when this process dies
        # (then `also_remove`, the test's own temp dir, goes too).
        script = ('read _; "$@" "$PGCTL" stop -D "$DATA" -m immediate -s >/dev/null 2>&1; '
                  'rm -rf "$DIR" "$ALSO"')
        self.watchdog = subprocess.Popen(
            ['/bin/sh', '-c', script, 'sh', *self.user_prefix], stdin=subprocess.PIPE,
            start_new_session=True,
            env=dict(os.environ, PGCTL=str(self.bin / 'pg_ctl'), DATA=str(self.data),
                     DIR=str(self.dir), ALSO=str(also_remove)))
        self.run('initdb', '-D', self.data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8',
                 '--locale=C', '-N')
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses='{listen}' "
                   '-c fsync=off -c full_page_writes=off')
        if tls:
            options += ' ' + self._serve_tls(tls)
        self.run('pg_ctl', '-D', self.data, '-l', self.dir / 'server.log', '-w', '-t', '60',
                 '-s', '-o', options, 'start')

    def _serve_tls(self, tls):
        """Copies the files where the server's user reads them (the key 0600: the server
        refuses a key others can read), writes pg_hba.conf; the server's options for them."""
        def server_owns(path):
            if self.as_root:
                pw = pwd.getpwnam('postgres')
                os.chown(path, pw.pw_uid, pw.pw_gid)
        copies = {}
        for name in ('cert', 'key', 'ca'):
            copy = self.dir / f'server-tls.{name}'
            shutil.copyfile(getattr(tls, name), copy)
            os.chmod(copy, 0o600)
            server_owns(copy)
            copies[name] = copy
        lines = ['local all all trust']
        for role in tls.client_cert_roles:
            lines.append(f'hostssl all {role} 127.0.0.1/32 {tls.auth} clientcert=verify-full')
        lines += [f'hostssl all all 127.0.0.1/32 {tls.auth}',
                  'hostnossl all all 0.0.0.0/0 reject']
        hba = self.data / 'pg_hba.conf'
        hba.write_text('\n'.join(lines) + '\n')
        server_owns(hba)
        return (f"-c ssl=on -c ssl_cert_file={copies['cert']} -c ssl_key_file={copies['key']} "
                f"-c ssl_ca_file={copies['ca']} -c log_connections=on")

    def run(self, program, *args, as_server_user=True):
        argv = ([*self.user_prefix] if as_server_user else []) + [str(self.bin / program),
                                                                  *map(str, args)]
        r = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, cwd='/')
        if r.returncode != 0:
            log = self.dir / 'server.log'
            raise AssertionError(f'{" ".join(argv)}: rc {r.returncode}\n{r.stdout.decode()}'
                                 f'{r.stderr.decode()}'
                                 f'{log.read_text(errors="replace") if log.exists() else ""}')
        return r.stdout.decode()

    def uri(self, database):
        return f'postgresql:///{database}?host={self.dir}&port={self.port}&user=postgres'

    def tcp_uri(self, database, user, password=None, host='127.0.0.1', **params):
        """postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE?PARAMS (TCP), the way a remote
        host's metastack names the store; `params` are libpq's (sslmode=..., sslrootcert=...)."""
        auth = quote(user, safe='') + (':' + quote(password, safe='') if password else '')
        query = ('?' + urlencode({k: str(v) for k, v in params.items()}, safe='/')
                 if params else '')
        return f'postgresql://{auth}@{host}:{self.port}/{database}{query}'

    def server_log(self):
        log = self.dir / 'server.log'
        return log.read_text(errors='replace') if log.exists() else ''

    def sql(self, database, statement):
        return self.run('psql', '-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-h', self.dir,
                        '-p', self.port, '-U', 'postgres', '-d', database, '-c', statement,
                        as_server_user=False).strip()

    def create_database(self, name):
        self.sql('postgres', f'CREATE DATABASE {name}')
        return self.uri(name)

    def stop(self):
        if self.watchdog.poll() is None:
            self.watchdog.stdin.close()
            self.watchdog.wait(60)
