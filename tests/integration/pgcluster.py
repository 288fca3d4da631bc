"""A throwaway PostgreSQL server for the integration tests: initdb into a temp dir, a free
port naming its unix socket, TCP (127.0.0.1) only when asked; run as the `postgres` user when
the test runs as root. A watchdog process stops it and removes its directory when the test
process ends, whether the tests pass, fail or the process is killed."""
import ctypes
import glob
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile


_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent():
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no orphan outlives a killed test


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Cluster:
    """A throwaway PostgreSQL server on a unix socket in a temp dir (see module docstring)."""

    def __init__(self, also_remove, tcp_port=None):
        """`tcp_port`: also listen on 127.0.0.1:tcp_port (trust authentication, as on the
        socket), for clients that connect as a remote host's would."""
        found = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'),
                       key=lambda p: int(p.split('/')[4]))
        if not found:
            raise AssertionError('PostgreSQL server binaries not found '
                                 '(/usr/lib/postgresql/*/bin): run scripts/setup.sh')
        self.bin = pathlib.Path(found[-1]).parent
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix='metastack-pgn-', dir='/tmp'))
        self.data = self.dir / 'data'
        self.port = tcp_port or _free_port()
        listen = '127.0.0.1' if tcp_port else ''
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
        self.run('pg_ctl', '-D', self.data, '-l', self.dir / 'server.log', '-w', '-t', '60',
                 '-s', '-o', f"-p {self.port} -k {self.dir} -c listen_addresses='{listen}' "
                             '-c fsync=off -c full_page_writes=off', 'start')

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
