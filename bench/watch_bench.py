#!/usr/bin/python3
"""What GCE-style wait_for_change costs: 1,000 requests held by one metadata API.

    /usr/bin/python3 bench/watch_bench.py [path-to-metastack]
    (default: build/run/apps/metastack/metastack, the run preset: bash scripts/build.sh run)

Starts `metastack api` (memory store, signed listener, admin API, --threads 1) and creates
$WAITERS instances (1,000) through the admin API. Every instance's hostname is read once (so
each instance's answer is cached, and memory before the waiters holds everything but the
waiters), then one `?wait_for_change=true&timeout_sec=300&last_etag=<its ETag>` request per
instance is opened, each on its own connection, and held. Reported:

* the API's resident memory (RssAnon: without mapped files; and VmRSS) with no connection, with
  $WAITERS connections open and idle (closed again before the waiters come, the heap keeps
  what they took), and with the waiters: per waiting request with and without its connection;
* wake-up latency: $EDITS (50) instances are edited one after another through the admin API
  (PATCH hostname); for each, the time from just before the PATCH is sent to the moment its
  waiter has read the new answer (p50, p99, max), and how many of the other waiters answered
  (none should: an edit wakes only its own instance's waiters);
* the memory once every waiter has been answered (SIGTERM's drain answers them all).

Everything runs in one asyncio loop of this process; the API runs with --threads 1, so its one
I/O thread serves all of it.
"""
import asyncio
import hashlib
import hmac
import json
import os
import pathlib
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / 'build/run/apps/metastack/metastack')
WAITERS = int(os.environ.get('WAITERS', 1000))
EDITS = int(os.environ.get('EDITS', 50))
SECRET = 'watch-bench-secret'
TOKEN = 'watch-bench-admin-token-0123456789'
NETWORK = 'b0b0b0b0-0000-4000-8000-000000000001'
PROJECT = 'watchbenchproject'
PATH = '/latest/meta-data/hostname'


def uuid_of(i):
    return f'c0c0c0c0-0000-4000-8000-{i:012d}'


def ip_of(i):
    return f'10.{i // 62500}.{i // 250 % 250}.{i % 250 + 1}'


def instance_doc(i):
    return {'uuid': uuid_of(i), 'hostname': f'vm-{i}', 'project_id': PROJECT,
            'user_data': '#cloud-config\n',
            'ports': [{'id': f'port-{i}', 'mac': f'fa:16:3e:{(i >> 16) & 255:02x}:'
                       f'{(i >> 8) & 255:02x}:{i & 255:02x}', 'network_id': NETWORK,
                       'subnets': [{'cidr': '10.0.0.0/8', 'ip_address': ip_of(i)}]}]}


def memory_kb(pid):
    fields = {}
    for line in pathlib.Path(f'/proc/{pid}/status').read_text().splitlines():
        key, _, value = line.partition(':')
        if key in ('VmRSS', 'RssAnon'):
            fields[key] = int(value.split()[0])
    return fields


async def exchange(port, request):
    """One request on its own connection -> (status, headers dict, body, time read)."""
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    try:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b'\r\n\r\n')
        lines = head.decode('latin-1').split('\r\n')
        headers = {k.lower(): v.strip() for k, _, v in
                   (line.partition(':') for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get('content-length', 0)))
        return int(lines[0].split()[1]), headers, body, time.monotonic()
    finally:
        writer.close()


def signed_get(i, target):
    uuid = uuid_of(i)
    signature = hmac.new(SECRET.encode(), uuid.encode(), hashlib.sha256).hexdigest()
    return (f'GET {target} HTTP/1.1\r\nHost: x\r\nX-Instance-ID: {uuid}\r\n'
            f'X-Tenant-ID: {PROJECT}\r\nX-Instance-ID-Signature: {signature}\r\n'
            f'X-Forwarded-For: {ip_of(i)}\r\nConnection: close\r\n\r\n').encode()


def admin(method, target, body=None):
    data = json.dumps(body).encode() if body is not None else b''
    return (f'{method} {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n'
            f'Content-Type: application/json\r\nContent-Length: {len(data)}\r\n'
            f'Connection: close\r\n\r\n').encode() + data


async def metric(port, name):
    _, _, body, _ = await exchange(port, admin('GET', '/metrics'))
    for line in body.decode().splitlines():
        if line.startswith(name + ' '):
            return float(line.split()[1])
    return 0.0


async def bench(api, signed, admin_port):
    async def ok(request):
        status, _, body, _ = await exchange(admin_port, request)
        if status not in (200, 201):
            raise SystemExit(f'admin: {status} {body!r}')
    await ok(admin('POST', '/v1/networks', {'id': NETWORK, 'name': 'bench'}))
    for i in range(1, WAITERS + 1):
        await ok(admin('POST', '/v1/instances', instance_doc(i)))
    etags = {}
    for i in range(1, WAITERS + 1):
        status, headers, _, _ = await exchange(signed, signed_get(i, PATH))
        etags[i] = headers['etag']
    await asyncio.sleep(0.5)
    empty = memory_kb(api.pid)

    # The same number of connections, open and idle (no request yet): what a connection costs
    # apart from the request it carries.
    idle = [await asyncio.open_connection('127.0.0.1', signed) for _ in range(WAITERS)]
    while await metric(admin_port, 'metastack_http_connections_open') < WAITERS:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    connections = memory_kb(api.pid)
    for _, writer in idle:
        writer.close()
    while await metric(admin_port, 'metastack_http_connections_open') > 0:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    before = memory_kb(api.pid)  # again: what the idle connections left in the allocator

    answered = {}

    async def waiter(i):
        target = f'{PATH}?wait_for_change=true&timeout_sec=300&last_etag={etags[i]}'
        status, headers, body, at = await exchange(signed, signed_get(i, target))
        answered[i] = (status, headers.get('etag'), body, at)

    tasks = [asyncio.create_task(waiter(i)) for i in range(1, WAITERS + 1)]
    while await metric(admin_port, 'metastack_api_watchers') < WAITERS:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    held = memory_kb(api.pid)

    latencies = []
    for i in range(1, EDITS + 1):
        started = time.monotonic()
        await ok(admin('PATCH', f'/v1/instances/{uuid_of(i)}', {'hostname': f'vm-{i}-edited'}))
        while i not in answered:
            await asyncio.sleep(0)
        status, etag, body, at = answered[i]
        if status != 200 or body != f'vm-{i}-edited.novalocal'.encode() or etag == etags[i]:
            raise SystemExit(f'waiter {i}: {status} {etag} {body!r}')
        latencies.append((at - started) * 1000)
    others = len(answered) - EDITS
    api.send_signal(signal.SIGTERM)  # the drain answers the rest
    await asyncio.gather(*tasks, return_exceptions=True)
    return empty, connections, before, held, latencies, others


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    tmp = pathlib.Path(tempfile.mkdtemp(prefix='watch-bench-'))
    (tmp / 'secret').write_text(SECRET + '\n')
    (tmp / 'token').write_text(TOKEN + '\n')
    ready = tmp / 'ready.json'
    api = subprocess.Popen([BIN, 'api', '--store', 'memory:', '--signed-listen', '127.0.0.1:0',
                            '--admin-listen', '127.0.0.1:0', '--admin-token-file', tmp / 'token',
                            '--secret-file', tmp / 'secret', '--ready-file', ready,
                            '--threads', '1', '--rate-limit', '0', '--watchers',
                            str(WAITERS), '--log-level', 'warning'],
                           stdout=subprocess.DEVNULL, stderr=open(tmp / 'api.log', 'w'))
    try:
        while not ready.exists():
            if api.poll() is not None:
                raise SystemExit('the API exited: ' + (tmp / 'api.log').read_text())
            time.sleep(0.02)
        ports = json.loads(ready.read_text())
        empty, connections, before, held, latencies, others = asyncio.run(
            bench(api, ports['signed'][0], ports['admin']))
        api.wait(timeout=30)
    finally:
        if api.poll() is None:
            api.kill()
        subprocess.run(['rm', '-rf', str(tmp)])
    per = (held['VmRSS'] - before['VmRSS']) * 1024 / WAITERS
    per_anon = (held['RssAnon'] - before['RssAnon']) * 1024 / WAITERS
    per_connection = (connections['RssAnon'] - empty['RssAnon']) * 1024 / WAITERS
    lat = sorted(latencies)
    print(f'binary: {BIN}')
    print(f'waiters: {WAITERS} (one per instance, each on its own connection), API --threads 1')
    whole = (held['RssAnon'] - empty['RssAnon']) * 1024 / WAITERS
    print(f'RssAnon: {empty["RssAnon"]} kB with no connection, {held["RssAnon"]} kB with the '
          f'waiters: {whole:.0f} bytes per waiting request, its connection included')
    print(f'VmRSS: {before["VmRSS"]} kB before, {held["VmRSS"]} kB with the waiters: '
          f'{per:.0f} bytes per waiter')
    print(f'RssAnon: {before["RssAnon"]} kB before, {held["RssAnon"]} kB with the waiters: '
          f'{per_anon:.0f} bytes per waiter')
    print(f'for scale, {WAITERS} open connections that sent nothing: RssAnon {empty["RssAnon"]} '
          f'-> {connections["RssAnon"]} kB, {per_connection:.0f} bytes each')
    print(f'wake-up after an admin PATCH ({len(lat)} edits, one at a time): '
          f'p50 {statistics.median(lat):.2f} ms, p99 {lat[int(len(lat) * 0.99) - 1]:.2f} ms, '
          f'max {lat[-1]:.2f} ms')
    print(f'other waiters answered by those edits: {others}')
    print(f'API exit code after SIGTERM with {WAITERS - EDITS} waiting: {api.returncode}')

if __name__ == '__main__':
    main()
