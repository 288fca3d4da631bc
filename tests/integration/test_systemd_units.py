#!/usr/bin/python3
"""The systemd units of dist/systemd/ and what the daemons tell systemd (src/daemon/systemd.h).

- `systemd-analyze verify` accepts every unit (its ExecStart pointed at the binary under test),
  and rejects a unit with an unknown key or a missing binary, so the check can fail.
- Each unit's ExecStart= line, run as systemd would run it (the binary and the configuration
  replaced by the test's: a temporary store, sockets in a temporary directory, ports 0) with
  NOTIFY_SOCKET naming a datagram socket this test reads, and WATCHDOG_USEC and WATCHDOG_PID
  set for the daemon's own pid: READY=1 (with STATUS= and MAINPID= its pid) once it serves,
  WATCHDOG=1 pings at half the interval, RELOADING=1 then READY=1 when its ExecReload= line
  runs, STOPPING=1 on SIGTERM, and exit status 0.
- No pings without WATCHDOG_USEC, nor when WATCHDOG_PID names another process; no
  NOTIFY_SOCKET: the daemon serves and says nothing about systemd.

Usage: test_systemd_units.py --metastack PATH"""
import configparser
import os
import pathlib
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import ROOT, Notifications, metastack_binary, stop_process

UNITS = {
    'metastack.service': 'serve',
    'metastack-api.service': 'api',
    'metastack-agent.service': 'agent',
    'metastack-proxy.service': 'proxy',
}
INSTALLED_BINARY = '/usr/bin/metastack'
INSTALLED_CONFIG = '/etc/metastack/metastack.toml'
WATCHDOG_USEC = 1_000_000  # pings every 0.5 s


def read_unit(path):
    """The unit file as {section: {key: value}} (the last value of a repeated key)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read_string(pathlib.Path(path).read_text())
    return {s: dict(parser[s]) for s in parser.sections()}


def verify(unit_path):
    """`systemd-analyze verify` on one unit file -> (exit code, what it printed)."""
    done = subprocess.run(['systemd-analyze', 'verify', '--man=no', unit_path.name],
                          cwd=unit_path.parent, capture_output=True, text=True, timeout=120)
    return done.returncode, (done.stdout + done.stderr).strip()


def write_config(work):
    """One configuration file for every role (each takes the sections it runs)."""
    secret = work / 'secret'
    secret.write_text('s' * 32)
    secret.chmod(0o600)
    path = work / 'metastack.toml'
    path.write_text(f'''
store = "sqlite:{work}/metastack.db"
secret-file = "{secret}"
ready-file = "{work}/ready.json"
threads = 1
store-threads = 1
[api]
signed-listen = ["127.0.0.1:0"]
[admin]
listen = "127.0.0.1:0"
[agent]
socket = "{work}/agent.sock"
api-url = "http://127.0.0.1:9"
[proxy]
control = "{work}/proxy.sock"
agent = "unix:{work}/agent.sock"
[limits]
drain-timeout = 2
''')
    return path


class SystemdUnitsTest(unittest.TestCase):
    def setUp(self):
        self.work = pathlib.Path(tempfile.mkdtemp(prefix=f'metastack-units-{os.getpid()}-'))
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.work, ignore_errors=True)

    def unit_copy(self, name, directory):
        """The unit with its ExecStart binary replaced by the one under test."""
        text = (ROOT / 'dist' / 'systemd' / name).read_text()
        self.assertIn(f'ExecStart={INSTALLED_BINARY} ', text)
        directory.mkdir(exist_ok=True)
        out = directory / name
        out.write_text(text.replace(INSTALLED_BINARY, os.path.abspath(metastack_binary())))
        return out

    # --- the unit files ---

    def test_every_unit_verifies(self):
        for name in UNITS:
            with self.subTest(unit=name):
                code, out = verify(self.unit_copy(name, self.work / 'units'))
                self.assertEqual((code, out), (0, ''))

    def test_guest_units_verify(self):
        """The guest image's units (dist/guest/), their binary metastack-guest beside the one
        under test, verify; the drive phase runs before the network is configured and the
        service phase after it is online."""
        guest = pathlib.Path(metastack_binary()).resolve().parents[1] / 'metastack-guest'
        for name in ('metastack-guest.service', 'metastack-guest-network.service'):
            with self.subTest(unit=name):
                text = (ROOT / 'dist' / 'guest' / name).read_text()
                self.assertIn('ExecStart=/usr/bin/metastack-guest ', text)
                (self.work / 'guest').mkdir(exist_ok=True)
                unit = self.work / 'guest' / name
                unit.write_text(text.replace('/usr/bin/metastack-guest',
                                             str(guest / 'metastack-guest')))
                self.assertEqual(verify(unit), (0, ''))
        drive = read_unit(ROOT / 'dist' / 'guest' / 'metastack-guest.service')['Unit']
        self.assertIn('network-pre.target', drive['Before'])
        online = read_unit(ROOT / 'dist' / 'guest' / 'metastack-guest-network.service')['Unit']
        self.assertIn('network-online.target', online['After'])

    def test_verify_rejects_broken_units(self):
        """The check above can fail: a misspelt key, a bad value, a missing binary."""
        units = self.work / 'broken'
        cases = {
            'a misspelt key': ('NotifyAccess=main', 'NotifyAcess=main', 'Unknown key'),
            'a bad value': ('Type=notify', 'Type=notifyy', 'Failed to parse service type'),
            'a missing binary': (os.path.abspath(metastack_binary()), '/nonexistent/metastack',
                                 'is not executable'),
        }
        for what, (old, new, message) in cases.items():
            with self.subTest(what):
                unit = self.unit_copy('metastack-api.service', units)
                text = unit.read_text()
                self.assertIn(old, text)
                unit.write_text(text.replace(old, new, 1))
                code, out = verify(unit)
                self.assertTrue(code != 0 or out, f'{what} passed verify')
                self.assertIn(message, out)

    def test_units_run_the_verbs_with_the_installed_configuration(self):
        for name, verb in UNITS.items():
            with self.subTest(unit=name):
                s = read_unit(ROOT / 'dist' / 'systemd' / name)['Service']
                self.assertEqual(shlex.split(s['ExecStart']),
                                 [INSTALLED_BINARY, verb, '--config', INSTALLED_CONFIG])
                self.assertEqual(s['Type'], 'notify')
                self.assertEqual(s['NotifyAccess'], 'main')
                self.assertEqual(s['ExecReload'], '/bin/kill -HUP $MAINPID')
                self.assertEqual(s['User'], 'metastack')
                caps = set(s.get('CapabilityBoundingSet', '').split())
                self.assertEqual(caps, set(s.get('AmbientCapabilities', '').split()))
                if verb in ('api', 'agent'):
                    self.assertEqual(caps, set())
                else:
                    self.assertEqual(caps, {'CAP_SYS_ADMIN', 'CAP_NET_ADMIN',
                                            'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'})

    # --- the notifications ---

    def start(self, name, env_extra, own_watchdog_pid=True):
        """Runs the unit's ExecStart= as systemd would; returns (process, notifications)."""
        unit = read_unit(ROOT / 'dist' / 'systemd' / name)['Service']
        config = write_config(self.work)
        argv = [os.path.abspath(metastack_binary()) if a == INSTALLED_BINARY else
                str(config) if a == INSTALLED_CONFIG else a
                for a in shlex.split(unit['ExecStart'])]
        notify = Notifications(self.work / 'notify.sock')
        self.addCleanup(notify.close)
        env = {k: v for k, v in os.environ.items() if not k.startswith('WATCHDOG_')}
        env.update(NOTIFY_SOCKET=notify.path, **env_extra)
        # exec keeps the shell's pid, so $$ is the daemon's pid, as systemd sets it.
        script = ('export WATCHDOG_PID=$$; ' if own_watchdog_pid else '') + 'exec "$@"'
        log = open(self.work / 'daemon.log', 'ab')
        self.addCleanup(log.close)
        proc = subprocess.Popen(['sh', '-c', script, 'sh', *argv], env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc, notify, unit

    def log(self):
        return (self.work / 'daemon.log').read_text(errors='replace')

    def test_each_unit_notifies_ready_watchdog_reload_and_stopping(self):
        for name, verb in UNITS.items():
            with self.subTest(unit=name):
                proc, notify, unit = self.start(name, {'WATCHDOG_USEC': str(WATCHDOG_USEC)})
                try:
                    ready = notify.wait(lambda m: m.get('READY') == '1', 60, 'READY=1', proc)
                    self.assertEqual(ready.get('MAINPID'), str(proc.pid))
                    self.assertTrue(ready.get('STATUS', '').startswith('serving: '), ready)
                    self.assertIn(verb if verb != 'serve' else 'proxy -> agent -> api',
                                  ready['STATUS'])
                    # Ready means listening: the ready file is written before.
                    self.assertTrue((self.work / 'ready.json').exists())
                    pings = [notify.wait(lambda m: m.get('WATCHDOG') == '1', 5, 'WATCHDOG=1',
                                         proc) for _ in range(3)]
                    gaps = [b['_at'] - a['_at'] for a, b in zip(pings, pings[1:])]
                    # Every gap inside WATCHDOG_USEC (what systemd enforces); on average half of
                    # it, give or take the scheduler of a loaded machine and this test's reads.
                    self.assertLess(max(gaps), WATCHDOG_USEC / 1e6, gaps)
                    self.assertTrue(0.35 < sum(gaps) / len(gaps) < 0.75, gaps)
                    # The unit's own ExecReload= line, $MAINPID as systemd fills it in.
                    reload = shlex.split(unit['ExecReload'].replace('$MAINPID', str(proc.pid)))
                    subprocess.run(reload, check=True, timeout=10)
                    notify.wait(lambda m: m.get('RELOADING') == '1', 20, 'RELOADING=1', proc)
                    again = notify.wait(lambda m: m.get('READY') == '1', 20,
                                        'READY=1 after the reload', proc)
                    self.assertNotIn('refused', again.get('STATUS', ''))
                    proc.send_signal(signal.SIGTERM)
                    stopping = notify.wait(lambda m: m.get('STOPPING') == '1', 20, 'STOPPING=1')
                    self.assertIn('draining', stopping.get('STATUS', ''))
                    self.assertEqual(proc.wait(30), 0, self.log())
                except AssertionError as e:
                    raise AssertionError(f'{e}\nthe daemon\'s log:\n{self.log()}') from None
                finally:
                    stop_process(proc)
                    notify.close()
                    (self.work / 'notify.sock').unlink(missing_ok=True)

    def test_a_refused_reload_is_still_followed_by_ready(self):
        proc, notify, unit = self.start('metastack-api.service', {})
        notify.wait(lambda m: m.get('READY') == '1', 60, 'READY=1', proc)
        config = self.work / 'metastack.toml'
        config.write_text(config.read_text().replace('[limits]', '[limits]\nheader-limit = "x"'))
        proc.send_signal(signal.SIGHUP)
        notify.wait(lambda m: m.get('RELOADING') == '1', 20, 'RELOADING=1', proc)
        again = notify.wait(lambda m: m.get('READY') == '1', 20, 'READY=1', proc)
        self.assertIn('refused', again.get('STATUS', ''))
        self.assertEqual(stop_process(proc), 0, self.log())

    def test_no_pings_unless_the_watchdog_is_for_this_process(self):
        cases = {
            'no WATCHDOG_USEC': ({}, True),
            'WATCHDOG_PID of another process': ({'WATCHDOG_USEC': str(WATCHDOG_USEC),
                                                 'WATCHDOG_PID': '1'}, False),
        }
        for what, (env, own_pid) in cases.items():
            with self.subTest(what):
                proc, notify, _ = self.start('metastack-api.service', env, own_watchdog_pid=own_pid)
                notify.wait(lambda m: m.get('READY') == '1', 60, 'READY=1', proc)
                got = notify.drain(1.5)  # three pings would have come
                self.assertFalse([m for m in got if 'WATCHDOG' in m], got)
                self.assertEqual(stop_process(proc), 0, self.log())
                notify.close()
                (self.work / 'notify.sock').unlink(missing_ok=True)

    def test_without_notify_socket_nothing_is_sent_and_nothing_complains(self):
        config = write_config(self.work)
        env = dict(os.environ, WATCHDOG_USEC=str(WATCHDOG_USEC))
        env.pop('NOTIFY_SOCKET', None)
        with open(self.work / 'daemon.log', 'ab') as log:
            proc = subprocess.Popen([metastack_binary(), 'api', '--config', str(config)], env=env,
                                    stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        deadline = time.monotonic() + 60
        while not (self.work / 'ready.json').exists():
            self.assertIsNone(proc.poll(), self.log())
            self.assertLess(time.monotonic(), deadline, self.log())
            time.sleep(0.05)
        time.sleep(1.2)  # pings would have been due
        self.assertEqual(stop_process(proc), 0, self.log())
        self.assertNotIn('systemd notification', self.log())
        self.assertNotIn('NOTIFY_SOCKET', self.log())


if __name__ == '__main__':
    metastack_binary()
    unittest.main(verbosity=2)
