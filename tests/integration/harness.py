"""What the integration tests share: which metastack binary they run, and how a daemon of it
is started, awaited and stopped."""
import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


_binary = None


def metastack_binary():
    """The binary under test: `--metastack PATH` on the command line (taken out of sys.argv so
    that unittest does not see it), else $METASTACK_BIN, else the release build's. The same
    answer on every call."""
    global _binary
    if _binary is None:
        if '--metastack' in sys.argv:
            i = sys.argv.index('--metastack')
            _binary = sys.argv[i + 1]
            del sys.argv[i:i + 2]
        else:
            _binary = os.environ.get('METASTACK_BIN',
                                     str(ROOT / 'build/release/apps/metastack/metastack'))
    return _binary


def guest_binary():
    """metastack-guest from the same build as metastack_binary(): `--guest PATH` on the command
    line (taken out of sys.argv), else $METASTACK_GUEST_BIN, else apps/metastack-guest/ beside
    the metastack binary's apps/metastack/."""
    if '--guest' in sys.argv:
        i = sys.argv.index('--guest')
        path = sys.argv[i + 1]
        del sys.argv[i:i + 2]
        os.environ['METASTACK_GUEST_BIN'] = path
    default = pathlib.Path(metastack_binary()).resolve().parents[1] / 'metastack-guest'
    return os.environ.get('METASTACK_GUEST_BIN', str(default / 'metastack-guest'))


def network_instance(uuid, ec2_id, network, addresses, prefix='it'):
    """examples/instance.json as an instance with one port on `network` (no router), owning
    `addresses` [(cidr, ip), ...], without DHCP or a gateway, nor vendor data of its own; named
    PREFIX-NNN after the last three hex digits of `uuid`."""
    doc = json.loads((ROOT / 'examples' / 'instance.json').read_text())
    n = uuid[-3:]
    doc.update(uuid=uuid, name=f'{prefix}-{n}', hostname=f'{prefix}-{n}', files=[], devices=[])
    doc.pop('vendor_data', None)
    doc['ec2'] = dict(doc['ec2'], instance_id=ec2_id)
    port = doc['ports'][0]
    port.pop('router_id', None)
    port.update(id=uuid[:-4] + 'c' + n, mac=f'fa:16:3e:5e:1f:{int(n, 16):02x}', network_id=network)
    template = port['subnets'][0]
    port['subnets'] = [dict(template, id=uuid[:-4] + f'd{i}' + n[1:], cidr=cidr, ip_address=ip,
                            gateway_ip=None, enable_dhcp=False)
                       for i, (cidr, ip) in enumerate(addresses)]
    return doc


def tcp_get(port, target, host='127.0.0.1', source=None, timeout=5):
    """GET over TCP, from `source` when given (a guest's address) -> (status, body)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout,
                                   source_address=(source, 0) if source else None)
    try:
        c.request('GET', target)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def unix_get(path, target, headers=None, timeout=5):
    """GET over a UNIX socket (a control API, the agent's) -> (status, body), or None when
    nothing answers."""
    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(str(path))
    c = Conn('localhost', timeout=timeout)
    try:
        c.request('GET', target, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    except OSError:
        return None
    finally:
        c.close()


def wait_for(predicate, what, timeout=10):
    """Polls `predicate()` until it returns a true value, and returns that value; an
    AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if got := predicate():
            return got
        time.sleep(0.02)
    raise AssertionError(f'timed out waiting for {what}')


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds; returns its exit
    code (negative: the signal that ended it)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Daemon:
    """One long-running `metastack VERB ...` process for a test.

    start() launches it with its stdout and stderr appended to `log` (a path), then waits until
    it is ready: its --ready-file exists (`ready_file`, removed first so that a stale one from a
    previous run cannot answer), or `ready()` holds (e.g. a UNIX socket accepts), whichever is
    given. It fails with an AssertionError naming the daemon and carrying its log when the
    process exits first or `timeout` seconds pass. stop() sends SIGTERM (SIGKILL after
    `timeout`) and returns the exit code; kill() sends SIGKILL. As a context manager it starts
    on entry and stops on exit. `popen` goes to subprocess.Popen (e.g. preexec_fn).
    """

    def __init__(self, args, log, ready_file=None, ready=None, timeout=20, **popen):
        self.args = [str(a) for a in args]
        self.name = 'metastack ' + (self.args[0] if self.args else '')
        self.log = pathlib.Path(log)
        self.ready_file = pathlib.Path(ready_file) if ready_file else None
        self.ready = ready
        self.timeout = timeout
        self.popen = popen
        self.proc = None

    def start(self):
        """Launches and waits until ready; returns self."""
        return self.launch().wait_ready()

    def launch(self):
        """Launches without waiting (several daemons may then start at once); returns self."""
        if self.ready_file:
            self.ready_file.unlink(missing_ok=True)
        with open(self.log, 'ab') as log:
            self.proc = subprocess.Popen([metastack_binary(), *self.args], stdout=log,
                                         stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, **self.popen)
        return self

    def wait_ready(self):
        """Waits until the daemon is ready (see the class); returns self."""
        def is_ready():
            if self.ready_file and not self.ready_file.exists():
                return False
            return self.ready is None or self.ready()
        deadline = time.monotonic() + self.timeout
        while not is_ready():
            if self.proc.poll() is not None:
                self.fail(f'exited {self.proc.returncode} before it was ready')
            if time.monotonic() > deadline:
                self.stop()
                self.fail(f'was not ready within {self.timeout} s')
            time.sleep(0.02)
        return self

    def fail(self, what):
        raise AssertionError(f'{self.name} {what}; its log ({self.log}):\n{self.log_text()}')

    def ports(self):
        """What the ready file says (listener name -> port(s))."""
        return json.loads(self.ready_file.read_text())

    def log_text(self):
        return self.log.read_text(errors='replace') if self.log.exists() else ''

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after `timeout` s; the exit code (None if never started)."""
        return stop_process(self.proc, timeout) if self.proc else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait() if self.proc else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


class Notifications:
    """A SOCK_DGRAM UNIX socket standing in for systemd's NOTIFY_SOCKET (sd_notify(3)): each
    datagram is kept as {VAR: value} plus '_at', when it arrived. `mode` opens the socket to a
    daemon of another user."""

    def __init__(self, path, mode=None):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        if mode is not None:
            os.chmod(self.path, mode)
        self.messages = []
        self._returned = 0  # messages[:_returned] were looked at by wait()

    def close(self):
        self.sock.close()

    def _receive(self, timeout):
        """One datagram within `timeout` s, kept and returned; None if none came."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        m = dict(line.split('=', 1) for line in data.decode().split('\n') if '=' in line)
        m['_at'] = time.monotonic()
        self.messages.append(m)
        return m

    def wait(self, predicate, timeout, what, proc=None):
        """The next message (after the last one wait() returned) that satisfies `predicate`,
        read until it arrives; AssertionError after `timeout` s or when `proc` exits first."""
        deadline = time.monotonic() + timeout
        while True:
            while self._returned < len(self.messages):
                m = self.messages[self._returned]
                self._returned += 1
                if predicate(m):
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f'no {what} within {timeout} s; got {self.messages}')
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f'the daemon exited {proc.returncode} before {what}; '
                                     f'got {self.messages}')
            self._receive(min(left, 0.2))

    def drain(self, seconds):
        """Reads for `seconds`; returns the messages that came in that time."""
        before = len(self.messages)
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self._receive(left)
        return self.messages[before:]
