"""Runs the shell commands a Markdown document shows, as written and in order, and fails naming
the first one that fails: README.md's "Using it" (test_readme.py) and docs/deploy.md's recipes
(test_deploy_libvirt.py).

What counts as a command: each line of a section's code blocks — blocks indented by four
spaces, or fenced as sh, shell or bash (other fences, such as xml or toml, are file contents) —
with backslash continuations joined; blank lines and comment lines are skipped. Each runs in
its own `bash -c`, so a block must not rely on a shell variable set by an earlier line. A
fence whose info string names an absolute path after the language (```` ```toml /etc/x.toml ````)
is that file's whole content: one command writes it there.

One convention: a command whose trailing comment mentions Ctrl-C (`metastack serve ...   # in
the foreground, until Ctrl-C`) is a daemon the reader leaves running while they go on. It is
started in the background, awaited until its log says it is serving (the "serving:" line every
metastack daemon logs once its listeners are up), kept running for the commands after it, and
stopped at the end with SIGTERM, after which it must exit 0.
"""
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

FOREGROUND = 'Ctrl-C'
READY = 'serving:'
SHELL_FENCES = ('sh', 'shell', 'bash')
FILE_END = 'METASTACK_DOC_FILE_END'


def section(text, heading):
    """The lines of the section headed `heading` (any level) up to the next heading of the same
    or a higher level, as [(line number, line)]; AssertionError when there is none."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r'(#+) (.*)$', line)
        if m and m.group(2).strip() == heading:
            level = len(m.group(1))
            out = []
            for j in range(i + 1, len(lines)):
                n = re.match(r'(#+) ', lines[j])
                if n and len(n.group(1)) <= level and not in_fence(lines, i + 1, j):
                    break
                out.append((j + 1, lines[j]))
            return out
    raise AssertionError(f'no section "{heading}"')


def in_fence(lines, start, j):
    return sum(1 for k in range(start, j) if lines[k].lstrip().startswith('```')) % 2 == 1


def commands(numbered_lines):
    """[(line number, command)] of the code blocks among `numbered_lines` (see the module)."""
    out = []
    fence = None  # None: prose; 'sh': a shell fence; 'other': a file's contents
    pending = None
    previous = 'blank'  # the line before: blank, code or prose (an indented block follows a blank)
    file_block = None  # (line number, path, [lines]) of a fence naming a file
    for number, line in numbered_lines:
        if line.lstrip().startswith('```'):
            if fence is None:
                info = line.lstrip()[3:].split()
                lang = info[0] if info else ''
                fence = 'sh' if lang in SHELL_FENCES else 'other'
                if fence == 'other' and len(info) > 1 and info[1].startswith('/'):
                    file_block = (number, info[1], [])
            else:
                fence = None
                if file_block is not None:
                    start, path, body = file_block
                    out.append((start, f"cat > {path} <<'{FILE_END}'\n" + ''.join(
                        b + '\n' for b in body) + FILE_END))
                    file_block = None
            previous = 'blank'
            continue
        if fence == 'other':
            if file_block is not None:
                file_block[2].append(line)
            continue
        if fence == 'sh':
            code = line
        elif line.startswith('    ') and previous in ('blank', 'code'):
            code, previous = line[4:], 'code'
        else:
            previous = 'prose' if line.strip() else 'blank'
            continue
        if pending is not None:
            start, text = pending
            code, pending = text + '\n' + code, None
        else:
            start = number
        stripped = code.strip()
        if not stripped or stripped.startswith('#'):
            continue
        if code.endswith('\\'):
            pending = (start, code)
            continue
        out.append((start, code))
    return out


class CommandFailed(AssertionError):
    pass


class Runner:
    """Runs commands in `cwd` with `env`; `where` names the document in failures. Daemon logs
    go to `log_dir`. Each command runs as `*prefix bash -c COMMAND` (a prefix such as
    `ip netns exec HOST` puts it on a simulated host). Commands for which `skip(command)` holds
    are not run but kept in `skipped` (what needs a peer this machine lacks, checked otherwise
    by the caller)."""

    def __init__(self, where, cwd, env, log_dir, timeout=120, ready_timeout=30, prefix=(),
                 skip=None):
        self.where, self.cwd, self.env = where, cwd, env
        self.log_dir = pathlib.Path(log_dir)
        self.timeout, self.ready_timeout = timeout, ready_timeout
        self.prefix, self.skip = list(prefix), skip
        self.daemons = []  # (line, command, Popen, log path)
        self.ran = []
        self.skipped = []

    def run(self, number, command):
        name = f'{self.where} line {number}: `{command}`'
        if self.skip and self.skip(command):
            self.skipped.append((number, command))
            return None
        if FOREGROUND in command.partition(' #')[2]:
            return self.start_daemon(number, command, name)
        try:
            r = subprocess.run([*self.prefix, 'bash', '-c', command], cwd=self.cwd, env=self.env,
                               capture_output=True, text=True, timeout=self.timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise CommandFailed(f'{name} did not finish within {self.timeout} s') from None
        self.ran.append((number, command, r))
        if r.returncode != 0:
            raise CommandFailed(f'{name} exited {r.returncode}:\n{r.stdout}{r.stderr}')
        return r

    def start_daemon(self, number, command, name):
        log = self.log_dir / f'daemon-{len(self.daemons)}.log'
        with open(log, 'wb') as f:
            proc = subprocess.Popen([*self.prefix, 'bash', '-c', 'exec ' + command], cwd=self.cwd,
                                    env=self.env, stdout=f, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        self.daemons.append((number, command, proc, log))
        deadline = time.monotonic() + self.ready_timeout
        while True:
            exited = proc.poll() is not None  # before reading: an exited daemon's log is whole
            if READY in log.read_text(errors='replace'):
                break
            if exited:
                raise CommandFailed(f'{name} exited {proc.returncode} before it was serving:\n'
                                    + log.read_text(errors='replace'))
            if time.monotonic() > deadline:
                raise CommandFailed(f'{name} was not serving within {self.ready_timeout} s:\n'
                                    + log.read_text(errors='replace'))
            time.sleep(0.05)
        return proc

    def stop_daemons(self):
        """SIGTERM to each daemon still running, last started first; each must exit 0."""
        failures = []
        for number, command, proc, log in reversed(self.daemons):
            name = f'{self.where} line {number}: `{command}`'
            if proc.poll() is not None:
                failures.append(f'{name} exited {proc.returncode} before it was stopped:\n'
                                + log.read_text(errors='replace'))
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.returncode != 0:
                failures.append(f'{name} exited {proc.returncode} on SIGTERM:\n'
                                + log.read_text(errors='replace'))
        self.daemons = []
        if failures:
            raise CommandFailed('\n'.join(failures))

    def run_all(self, cmds, then=None):
        """Runs `cmds` in order, then `then()` (checks while the daemons still run), then stops
        the daemons."""
        try:
            for number, command in cmds:
                self.run(number, command)
            if then:
                then()
        except BaseException:
            try:
                self.stop_daemons()
            except CommandFailed:
                pass  # the first failure is the one to report
            raise
        self.stop_daemons()


def checkout_mirror(root, dest):
    """`dest` filled with symlinks to the checkout's top-level entries (but build/ and .git), so
    that commands read examples/ and etc/ as in the checkout and write their files in `dest`."""
    root, dest = pathlib.Path(root), pathlib.Path(dest)
    for entry in root.iterdir():
        if entry.name not in ('build', '.git'):
            os.symlink(entry, dest / entry.name)
    return dest


SANDBOX_ENV = 'METASTACK_DOC_SANDBOX'


def enter_sandbox(binary, net, etc=False):
    """Re-runs this test inside private namespaces, unless it already runs there: a mount
    namespace with empty tmpfs over /var/lib and /run (the commands then make
    /var/lib/metastack and /run/metastack as on a fresh machine, and never touch this host's;
    `ip netns` names made inside stay inside), with `etc` a private copy of /etc (commands may
    write /etc/metastack, the test /etc/hosts) and, with `net`, a network namespace of its own
    (ports such as the admin API's 127.0.0.1:8776 are private). Needs root. Returns when
    inside; outside it exits with the inner run's status."""
    if os.environ.get(SANDBOX_ENV) == '1':
        return
    if os.geteuid() != 0:
        raise SystemExit(f'{sys.argv[0]}: needs root (namespaces, mounts)')
    binary = os.path.realpath(binary)
    for hidden in ('/var/lib/', '/run/'):
        if binary.startswith(hidden):
            raise SystemExit(f'{sys.argv[0]}: {binary} would be hidden by the sandbox')
    script = f'''set -e
mount -t tmpfs -o mode=0755 tmpfs /var/lib
mount -t tmpfs -o mode=0755 tmpfs /run
{"mkdir /run/sandbox-etc && cp -a /etc/. /run/sandbox-etc/ && mount --bind /run/sandbox-etc /etc"
 if etc else ""}
{"ip link set lo up" if net else ""}
exec "$@"'''
    argv = ['unshare', '--mount', '--propagation', 'private'] + (['--net'] if net else []) + [
        '--', 'bash', '-c', script, 'sandbox', sys.executable, os.path.abspath(sys.argv[0]),
        '--metastack', binary, *sys.argv[1:]]
    env = dict(os.environ, **{SANDBOX_ENV: '1'})
    raise SystemExit(subprocess.run(argv, env=env).returncode)


def reader(root, document, heading, binary, tmp, env=None, **runner_kw):
    """What a test of a document's section sets up: the section's commands, and a Runner for
    them as a reader runs them, from `tmp`/checkout (checkout_mirror of `root`) with `binary`
    on PATH as `metastack` (`tmp`/bin; command_env), plus `env`. `document` is relative to
    `root`; `runner_kw` go to Runner. Returns (commands, runner)."""
    tmp = pathlib.Path(tmp)
    cmds = commands(section((pathlib.Path(root) / document).read_text(), heading))
    (tmp / 'checkout').mkdir()
    (tmp / 'bin').mkdir()
    checkout = checkout_mirror(root, tmp / 'checkout')
    environment = command_env(binary, tmp / 'bin')
    environment.update(env or {})
    return cmds, Runner(document, checkout, environment, tmp, **runner_kw)


def command_env(binary, bin_dir):
    """The environment of a reader who put `metastack` on PATH and set nothing else of ours:
    `bin_dir` gets a `metastack` symlink to `binary` and goes first on PATH; METASTACK_*
    variables are dropped, so each command gets its defaults."""
    link = pathlib.Path(bin_dir) / 'metastack'
    link.symlink_to(os.path.realpath(binary))
    env = {k: v for k, v in os.environ.items() if not k.startswith('METASTACK_')}
    env['PATH'] = f'{bin_dir}:{env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}'
    return env
