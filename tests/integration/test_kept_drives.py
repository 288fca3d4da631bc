#!/usr/bin/python3
"""Config drives kept current by `serve` ([configdrive] dir): docs/configdrive.md, "Drives kept
current".

Run:  /usr/bin/python3 tests/integration/test_kept_drives.py --metastack BINARY
      (or METASTACK_BIN=BINARY); other arguments go to unittest.

One daemon per class, each with its own store and drive directory:

* SqliteIso: SQLite, ISO9660 drives (the default), read back with isoinfo (Rock Ridge names);
* SqliteVfat: SQLite, 1 MiB VFAT drives, read back with mtools, where a document too large for
  the image makes a build fail;
* PostgresVfat: the same on PostgreSQL (a throwaway cluster, pgcluster.py);
* ApiMemory: `metastack api` on the memory store (the keeper runs wherever the API does).

In each: an instance created with "config_drive": true gets DIR/UUID.EXT; an admin-API edit
(PUT of the document with a new hostname) is in the drive's meta_data.json within BOUND of the
PUT's answer (the bound the docs state: the store announces the commit, the keeper's thread
rebuilds and renames), polled, failing after BOUND + MARGIN; an edit by the CLI in another
process (`--store`, straight on the database: SQLite's feed table, PostgreSQL's NOTIFY) the
same; deleting the instance removes the drive; an instance without config_drive gets none; and
(VFAT) a failed build keeps the previous drive byte for byte, raises
metastack_configdrive_build_failures_total{stage="build"} and is logged once, and the next good
edit builds again. At start, a stale UUID.EXT of no instance is removed and files that are not
the keeper's are left alone. /metrics passes promtool.
"""
import hashlib
import http.client
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import Daemon, metastack_binary, wait_for
from pgcluster import Cluster, die_with_parent

METASTACK = metastack_binary()
BOUND = 1.0    # seconds: a change is on disk within this of its commit (docs/configdrive.md)
MARGIN = 1.0   # the test's own polling and a loaded machine
TOKEN = 'kept-drives-admin-token-0123456789'
STALE = 'dddddddd-0000-4000-8000-00000000000d'  # no instance has this uuid
DELAYS = []    # (class, what, seconds)


def instance(uuid, hostname, config_drive=True, **extra):
    doc = {'uuid': uuid, 'hostname': hostname, 'project_id': 'p-kept',
           'created_at': '2024-05-06T07:08:09Z', 'meta': {}}
    if config_drive is not None:
        doc['config_drive'] = config_drive
    doc.update(extra)
    return doc


def run(*args, stdin=None):
    r = subprocess.run([METASTACK, *map(str, args)], input=stdin, capture_output=True)
    if r.returncode != 0:
        raise AssertionError(f'metastack {" ".join(map(str, args))}: rc {r.returncode}: '
                             f'{r.stderr.decode()}')
    return r.stdout


class KeptDrives:
    """The tests; a subclass names the store and the drive format."""
    FORMAT = 'iso'
    EXT = 'iso'
    EXTRA = ''          # more [configdrive] keys
    FAILS = False       # whether a too-large document can make a build fail
    PREFIX = '0'        # the first hex digit of this class's uuids
    VERB = 'serve'

    @classmethod
    def store_url(cls, tmp):
        return f'sqlite:{tmp / "metastack.db"}'

    @classmethod
    def setUpClass(cls):
        cls.tmp = pathlib.Path(tempfile.mkdtemp(prefix='metastack-kept-'))
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.cluster = None
        cls.store = cls.store_url(cls.tmp)
        cls.drives = cls.tmp / 'drives'
        cls.drives.mkdir()
        cls.foreign = ['notes.txt', f'{STALE}.{cls.EXT}.bak', 'not-a-uuid.' + cls.EXT]
        for name in cls.foreign:
            (cls.drives / name).write_text('not the keeper\'s\n')
        (cls.drives / f'{STALE}.{cls.EXT}').write_text('a drive of an instance that is gone\n')
        (cls.tmp / 'token').write_text(TOKEN + '\n')
        ready = cls.tmp / 'ready.json'
        cls.log = cls.tmp / f'{cls.VERB}.log'
        (cls.tmp / 'metastack.toml').write_text(f'''
store = "{cls.store}"
threads = 1
ready-file = "{ready}"
[api]
dhcp-domain = "kept.test"
source-listen = ["127.0.0.1:0"]
[admin]
listen = "127.0.0.1:0"
token-file = "{cls.tmp / 'token'}"
[agent]
socket = "{cls.tmp / 'agent.sock'}"
[proxy]
control = "{cls.tmp / 'proxy.sock'}"
[configdrive]
dir = "{cls.drives}"
format = "{cls.FORMAT}"
{cls.EXTRA}
''')
        cls.serve = Daemon([cls.VERB, '--config', cls.tmp / 'metastack.toml'], log=cls.log,
                           ready_file=ready, timeout=30, preexec_fn=die_with_parent).start()
        cls.addClassCleanup(cls.stop_serve)
        cls.admin = cls.serve.ports()['admin']
        assert cls.serve.ports()['configdrive'] == str(cls.drives)

    @classmethod
    def stop_serve(cls):
        """Stops serve; its exit must be clean (a sanitizer's report fails the class)."""
        rc = cls.serve.stop()
        log = cls.serve.log_text()
        if rc != 0 or 'Sanitizer' in log or 'runtime error:' in log:
            raise AssertionError(f'serve exited {rc}; its log:\n{log}')

    def uuid(self, n):
        return f'{self.PREFIX}{n:07x}-0000-4000-8000-{n:012x}'

    def path(self, uuid):
        return self.drives / f'{uuid}.{self.EXT}'

    def call(self, method, target, body=None):
        c = http.client.HTTPConnection('127.0.0.1', self.admin, timeout=30)
        try:
            headers = {'Authorization': 'Bearer ' + TOKEN}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers['Content-Type'] = 'application/json'
            c.request(method, target, body=data, headers=headers)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def admin_ok(self, method, target, body=None):
        status, data = self.call(method, target, body)
        self.assertIn(status, (200, 201, 204), f'{method} {target}: {status} {data[:300]!r}')

    def metric(self, series):
        status, text = self.call('GET', '/metrics')
        self.assertEqual(status, 200)
        for line in text.decode().splitlines():
            if line.startswith(series + ' '):
                return float(line.split()[-1])
        self.fail(f'{series} not in /metrics')

    def meta_data(self, uuid):
        """meta_data.json off the drive, as a guest reads it; None when there is no drive."""
        try:
            fd = os.open(self.path(uuid), os.O_RDONLY)
        except FileNotFoundError:
            return None
        # The reader gets the drive this opened (a rename may replace the path meanwhile).
        try:
            image = f'/dev/fd/{fd}'
            if self.EXT == 'qcow2':  # the raw drive inside, as QEMU reads it
                raw = self.tmp / 'read.raw'
                subprocess.run(['qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw', image, raw],
                               check=True, capture_output=True, pass_fds=(fd,))
                image = str(raw)
            if self.FORMAT in ('vfat', 'nocloud-vfat'):
                argv = ['mtype', '-i', image, '::/openstack/latest/meta_data.json']
            else:
                argv = ['isoinfo', '-i', image, '-R', '-x', '/openstack/latest/meta_data.json']
            r = subprocess.run(argv, capture_output=True, pass_fds=(fd,),
                               env=dict(os.environ, MTOOLS_SKIP_CHECK='1'))
        finally:
            os.close(fd)
        self.assertEqual(r.returncode, 0, f'{argv}: {r.stderr.decode()}')
        return json.loads(r.stdout)

    def on_disk_within_bound(self, what, uuid, want):
        """Polls the drive until `want(meta_data or None)` holds; the delay must be within
        BOUND (failing after BOUND + MARGIN, with what was last read)."""
        start = time.monotonic()
        while True:
            got = self.meta_data(uuid)
            if want(got):
                delay = time.monotonic() - start
                DELAYS.append((type(self).__name__, what, delay))
                self.assertLessEqual(delay, BOUND + MARGIN)
                return got
            if time.monotonic() - start > BOUND + MARGIN:
                self.fail(f'{what}: not on disk within {BOUND + MARGIN} s; last read: '
                          f'{json.dumps(got)[:300] if got else got}')
            time.sleep(0.01)

    def eventually(self, what, check):
        """The keeper renames a drive into place first, then counts it in its gauges and logs
        it: those are polled, within the same BOUND + MARGIN."""
        return wait_for(check, what, timeout=BOUND + MARGIN)

    def hostname_is(self, name):
        return lambda md: md is not None and md['hostname'] == f'{name}.kept.test'

    def test_start_removed_stale_drives_and_nothing_else(self):
        self.eventually('the stale drive removed',
                        lambda: not (self.drives / f'{STALE}.{self.EXT}').exists())
        for name in self.foreign:
            self.assertEqual((self.drives / name).read_text(), 'not the keeper\'s\n', name)

    def test_admin_edit_reaches_the_drive_within_the_bound(self):
        uuid = self.uuid(1)
        self.admin_ok('POST', '/v1/instances', instance(uuid, 'web-01'))
        self.on_disk_within_bound('create', uuid, self.hostname_is('web-01'))
        self.assertEqual(self.path(uuid).stat().st_mode & 0o777, 0o644)
        self.admin_ok('PUT', f'/v1/instances/{uuid}', instance(uuid, 'web-02'))
        md = self.on_disk_within_bound('PUT', uuid, self.hostname_is('web-02'))
        self.assertEqual(md['uuid'], uuid)
        self.admin_ok('DELETE', f'/v1/instances/{uuid}')
        self.on_disk_within_bound('DELETE', uuid, lambda md: md is None)

    def test_cli_edit_from_another_process(self):
        if self.store == 'memory:':
            self.skipTest('the memory store is the daemon\'s own')
        uuid = self.uuid(2)
        run('instance', 'create', '-f', '-', '--store', self.store,
            stdin=json.dumps(instance(uuid, 'cli-01')).encode())
        self.on_disk_within_bound('CLI create', uuid, self.hostname_is('cli-01'))
        run('instance', 'set-meta', uuid, 'role=db', '--store', self.store)
        self.on_disk_within_bound('CLI set-meta', uuid,
                                  lambda md: md is not None and md['meta'] == {'role': 'db'})
        run('instance', 'delete', uuid, '--store', self.store)
        self.on_disk_within_bound('CLI delete', uuid, lambda md: md is None)

    def test_only_instances_that_ask_for_one(self):
        plain, wanted = self.uuid(3), self.uuid(4)
        self.admin_ok('POST', '/v1/instances', instance(plain, 'plain-01', config_drive=None))
        self.admin_ok('POST', '/v1/instances', instance(wanted, 'wanted-01'))
        self.on_disk_within_bound('create', wanted, self.hostname_is('wanted-01'))
        # Announced before `wanted`: dealt with by then.
        self.assertFalse(self.path(plain).exists())
        self.admin_ok('PUT', f'/v1/instances/{plain}', instance(plain, 'plain-01'))
        self.on_disk_within_bound('config_drive set', plain, self.hostname_is('plain-01'))
        self.admin_ok('PUT', f'/v1/instances/{plain}', instance(plain, 'plain-01', False))
        self.on_disk_within_bound('config_drive unset', plain, lambda md: md is None)
        self.assertTrue(self.path(wanted).exists())

    def test_failed_build_keeps_the_last_good_drive(self):
        if not self.FAILS:
            self.skipTest('nothing in a document makes this format fail')
        uuid = self.uuid(5)
        self.admin_ok('POST', '/v1/instances', instance(uuid, 'big-01'))
        self.on_disk_within_bound('create', uuid, self.hostname_is('big-01'))
        good = hashlib.sha256(self.path(uuid).read_bytes()).hexdigest()
        series = 'metastack_configdrive_build_failures_total{stage="build"}'
        before = self.metric(series)
        # 2 MiB of injected files cannot fit a 1 MiB VFAT drive.
        files = [{'path': f'/srv/blob{i}', 'contents': 'x' * (1 << 20)} for i in range(2)]
        for n in (2, 3):
            self.admin_ok('PUT', f'/v1/instances/{uuid}',
                          instance(uuid, f'big-0{n}', files=files))
            self.eventually('a failure counted', lambda: self.metric(series) >= before + 1)
            before += 1
            self.assertEqual(hashlib.sha256(self.path(uuid).read_bytes()).hexdigest(), good)
            self.assertEqual(self.meta_data(uuid)['hostname'], 'big-01.kept.test')
        self.eventually('failing gauge at 1',
                        lambda: self.metric('metastack_configdrive_failing') == 1)
        lines = self.eventually('the failure logged', lambda: [
            l for l in self.log.read_text().splitlines() if 'not rebuilt' in l])
        self.assertEqual(len(lines), 1, lines)  # the same reason twice: logged once
        self.assertRegex(lines[0], re.escape(f'{self.path(uuid)}: not rebuilt (build: the files '
                                             f'need ') + r'\d+ clusters .*; the last good drive '
                                                         r'stays$')
        self.admin_ok('PUT', f'/v1/instances/{uuid}', instance(uuid, 'big-04'))
        self.on_disk_within_bound('fixed', uuid, self.hostname_is('big-04'))
        self.eventually('failing gauge back at 0',
                        lambda: self.metric('metastack_configdrive_failing') == 0)
        self.eventually('the recovery logged',
                        lambda: f'{self.path(uuid)}: built again' in self.log.read_text())

    def test_metrics_and_health(self):
        uuid = self.uuid(6)
        self.admin_ok('POST', '/v1/instances', instance(uuid, 'm-01'))
        self.on_disk_within_bound('create', uuid, self.hostname_is('m-01'))
        self.eventually('the build counted',
                        lambda: self.metric('metastack_configdrive_builds_total') >= 1)
        self.eventually('the drive counted',
                        lambda: self.metric('metastack_configdrive_drives') >= 1)
        status, text = self.call('GET', '/metrics')
        r = subprocess.run(['promtool', 'check', 'metrics'], input=text, capture_output=True)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())
        status, body = self.call('GET', '/healthz')
        self.assertEqual(status, 200)
        health = json.loads(body)['configdrive']
        self.assertEqual(health['dir'], str(self.drives))
        self.assertEqual(health['format'], self.FORMAT)
        self.assertGreaterEqual(health['drives'], 1)


class SqliteIso(KeptDrives, unittest.TestCase):
    PREFIX = 'a'


class SqliteVfat(KeptDrives, unittest.TestCase):
    FORMAT, EXT, FAILS, PREFIX = 'vfat', 'img', True, 'b'
    EXTRA = 'vfat-size = 1'


class SqliteQcow2(KeptDrives, unittest.TestCase):
    """A disk container (docs/configdrive.md, "Disk formats"): the drive inside a qcow2 file."""
    EXT, PREFIX = 'qcow2', 'd'
    EXTRA = 'disk-format = "qcow2"'


class ApiMemory(KeptDrives, unittest.TestCase):
    """`metastack api`: the keeper runs wherever the API does."""
    VERB, PREFIX = 'api', 'e'

    @classmethod
    def store_url(cls, tmp):
        return 'memory:'


class PostgresVfat(KeptDrives, unittest.TestCase):
    FORMAT, EXT, FAILS, PREFIX = 'vfat', 'img', True, 'c'
    EXTRA = 'vfat-size = 1'

    @classmethod
    def store_url(cls, tmp):
        cls.cluster = Cluster(also_remove=tmp)
        cls.addClassCleanup(cls.cluster.stop)
        return cls.cluster.create_database('kept')


def tearDownModule():
    if DELAYS:
        worst = max(DELAYS, key=lambda d: d[2])
        print(f'\nkept drives: {len(DELAYS)} changes on disk, worst {worst[2] * 1000:.0f} ms '
              f'({worst[0]} {worst[1]}); bound {BOUND * 1000:.0f} ms')


if __name__ == '__main__':
    unittest.main()
