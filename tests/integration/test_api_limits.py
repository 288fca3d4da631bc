#!/usr/bin/python3
"""The metadata API's limits: the configured header, body, request-time and idle limits, the
admin listener's body limit, half-closed connections, and 1000 concurrent keep-alive clients
with no descriptor leak.

Run:  /usr/bin/python3 tests/integration/test_api_limits.py --metastack BINARY
"""
import asyncio
import base64
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time
import unittest

# setUpModule and tearDownModule start and stop the module API (API) these tests share.
from api_service import (API, Api, BODY_LIMIT, CLIENTS, EDITED, FD_LIMIT, HEADER_LIMIT,
                         IDLE_TIMEOUT, PASSWORD, REQUESTS_PER_CLIENT, REQUEST_TIMEOUT, WEB, connect,
                         derived, error_body, parse_responses, raw_request, read_to_eof, request,
                         setUpModule, signed, tearDownModule)


class LimitsTest(unittest.TestCase):
    """--header-limit, --body-limit, --request-timeout, --idle-timeout; half-closed peers."""

    def test_header_limit_431(self):
        pad = 'a' * (HEADER_LIMIT - 1000)
        status, _, _ = request(API.signed, 'GET', '/latest/meta-data/hostname',
                               signed(WEB) + [('X-Pad', pad)])
        self.assertEqual(status, 200)
        s = connect(API.signed)
        s.sendall(raw_request('GET', '/latest/meta-data/hostname',
                              signed(WEB) + [('X-Pad', 'a' * HEADER_LIMIT)]))
        data, state = read_to_eof(s, 3)
        s.close()
        self.assertTrue(data.startswith(b'HTTP/1.1 431 '), data)
        self.assertEqual(state, 'closed')
        # Many small headers add up the same way.
        s = connect(API.signed)
        s.sendall(raw_request('GET', '/', [(f'X-H{i}', 'v' * 40) for i in range(200)]))
        data, state = read_to_eof(s, 3)
        s.close()
        self.assertTrue(data.startswith(b'HTTP/1.1 431 '), data)

    def test_body_limit_413(self):
        path = '/openstack/latest/password'
        # Within the transport's limit but over the password's: Nova's 400.
        status, _, body = request(API.signed, 'POST', path, signed(WEB), b'x' * 1021)
        self.assertEqual((status, body), (400, error_body(400, 'Bad Request', 'Request is too large.')))
        s = connect(API.signed)
        s.sendall(raw_request('POST', path, signed(WEB), body=b'x' * (BODY_LIMIT + 1)))
        data, state = read_to_eof(s, 3)
        s.close()
        self.assertTrue(data.startswith(b'HTTP/1.1 413 '), data)
        self.assertEqual(state, 'closed')
        # Expect: 100-continue with a too-long Content-Length: 413 before any body is sent.
        s = connect(API.signed)
        s.sendall(raw_request('POST', path, signed(WEB) + [('Expect', '100-continue'),
                                                           ('Content-Length', '100000')]))
        data, state = read_to_eof(s, 3)
        s.close()
        self.assertTrue(data.startswith(b'HTTP/1.1 413 '), data)
        # Nothing was set by any of these.
        status, _, body = request(API.signed, 'GET', path, signed(WEB))
        self.assertEqual((status, body), (200, b''))

    def test_admin_takes_every_document_the_format_allows(self):
        """The admin listener has its own body limit (--admin-body-limit, default the largest
        document), apart from the guests' --body-limit (2048 here)."""
        # The longest user data Nova allows (65535 bytes once base64-encoded), of characters JSON
        # escapes: a 98 KB request body. And a 200 KB binary injected file.
        user_data = ('#!/bin/sh\n' + '"\\\t' * 20000)[:49149]
        blob = os.urandom(200 * 1024)
        doc = derived('5a5a5a5a-0000-4000-8000-00000000cccc', '10.0.1.3', hostname='big-01',
                      name='big-01', user_data=user_data,
                      files=[{'path': '/etc/big.bin',
                              'contents_b64': base64.b64encode(blob).decode()}])
        body = json.dumps(doc).encode()
        self.assertGreater(len(body), 64 * 1024 + 200 * 1024)
        API.create(doc)
        status, _, served = request(API.signed, 'GET', '/openstack/latest/user_data', signed(doc))
        self.assertEqual((status, served), (200, user_data.encode()))
        status, _, served = request(API.signed, 'GET', '/latest/user-data', signed(doc))
        self.assertEqual((status, served), (200, user_data.encode()))
        shown = json.loads(API.cli('instance', 'show', doc['uuid']).stdout)
        self.assertEqual([base64.b64decode(f['contents_b64']) for f in shown['instance']['files']],
                         [blob])

        # Over the admin listener's limit: the CLI says what happened, with the status.
        with tempfile.TemporaryDirectory() as d:
            small = Api(d, extra=['--admin-body-limit', 100000, '--log-level', 'error']).start()
            try:
                r = small.cli('instance', 'create', '-f', '-', stdin=body, check=False)
                self.assertEqual((r.returncode, r.stderr.decode()), (
                    1, f'metastack: {small.url}: answered 413 Payload Too Large: the request body '
                       f'({len(body)} bytes) is over the admin listener\'s limit '
                       '(--admin-body-limit)\n'))
            finally:
                small.stop()

    def test_slow_clients_cut_off_while_others_are_served(self):
        before = API.metric('metastack_http_timeouts_total')
        slow = [connect(API.signed) for _ in range(8)]
        idle = connect(API.signed)
        started = time.monotonic()
        for s in slow:
            s.sendall(b'GET /openstack/latest/meta_data.json HTTP/1.1\r\n')
        closed_at = {}
        latencies = []
        stop = threading.Event()

        def trickle():
            while not stop.is_set() and len(closed_at) < len(slow):
                for i, s in enumerate(slow):
                    if i in closed_at:
                        continue
                    try:
                        s.sendall(b'X')
                        s.setblocking(False)
                        try:
                            if s.recv(4096) == b'':
                                closed_at[i] = time.monotonic() - started
                        except BlockingIOError:
                            pass
                        finally:
                            s.setblocking(True)
                    except (BrokenPipeError, ConnectionResetError):
                        closed_at[i] = time.monotonic() - started
                time.sleep(0.05)

        t = threading.Thread(target=trickle)
        t.start()
        try:
            while time.monotonic() - started < REQUEST_TIMEOUT + 1.5:
                t0 = time.monotonic()
                status, _, _ = request(API.signed, 'GET', '/openstack/latest/meta_data.json', signed(WEB))
                latencies.append(time.monotonic() - t0)
                self.assertEqual(status, 200)
                time.sleep(0.02)
            t.join(5)
        finally:
            stop.set()
            t.join()
        for s in slow:
            s.close()
        self.assertEqual(len(closed_at), len(slow), closed_at)
        for i, when in closed_at.items():
            self.assertGreaterEqual(when, REQUEST_TIMEOUT * 0.9, closed_at)
            self.assertLess(when, REQUEST_TIMEOUT + 1.0, closed_at)
        self.assertLess(max(latencies), 0.5, latencies)
        self.assertGreater(len(latencies), 10)
        self.assertGreaterEqual(API.metric('metastack_http_timeouts_total') - before, len(slow))
        # The idle connection was not subject to the request timeout, only to the idle one;
        # it is still usable now, and closed once idle long enough.
        idle.setblocking(False)
        with self.assertRaises(BlockingIOError):
            idle.recv(1)
        idle.setblocking(True)
        elapsed = time.monotonic() - started
        data, state = read_to_eof(idle, IDLE_TIMEOUT - elapsed + 1.5)
        idle.close()
        self.assertEqual((data, state), (b'', 'closed'))
        self.assertGreaterEqual(time.monotonic() - started, IDLE_TIMEOUT * 0.9)

    def test_half_closed(self):
        path = '/latest/meta-data/hostname'
        # A whole request, then the client shuts its sending side: answered, then closed.
        s = connect(API.signed)
        s.sendall(raw_request('GET', path, signed(WEB)))
        s.shutdown(socket.SHUT_WR)
        data, state = read_to_eof(s, 3)
        s.close()
        self.assertEqual(state, 'closed')
        [(status, _, body)] = parse_responses(data)
        self.assertEqual((status, body), (200, b'web-01.novalocal'))
        # Two pipelined requests, then half-close: both answered in order.
        s = connect(API.signed)
        s.sendall(raw_request('GET', path, signed(WEB)) +
                  raw_request('GET', '/latest/meta-data/instance-id', signed(WEB)))
        s.shutdown(socket.SHUT_WR)
        data, state = read_to_eof(s, 3)
        s.close()
        self.assertEqual([(a[0], a[2]) for a in parse_responses(data)],
                         [(200, b'web-01.novalocal'), (200, b'i-0000002a')])
        # Half a request, then half-close: closed at once (a 400 at most), not after a timeout.
        for partial in (b'', b'GET /latest/meta-data/host', b'GET / HTTP/1.1\r\nHost: x\r\n'):
            s = connect(API.signed)
            t0 = time.monotonic()
            s.sendall(partial)
            s.shutdown(socket.SHUT_WR)
            data, state = read_to_eof(s, 3)
            s.close()
            self.assertEqual(state, 'closed', partial)
            self.assertLess(time.monotonic() - t0, REQUEST_TIMEOUT * 0.8, partial)
            self.assertTrue(data == b'' or data.startswith(b'HTTP/1.1 400 '), data)
        # The client goes away without reading a large answer: the server carries on.
        for _ in range(20):
            s = connect(API.signed)
            s.sendall(raw_request('GET', '/openstack/latest/meta_data.json', signed(WEB)) * 20)
            s.close()
        self.assertEqual(request(API.signed, 'GET', path, signed(WEB))[0], 200)


class LoadTest(unittest.TestCase):
    """1000 concurrent keep-alive clients, all answered 200; no descriptor leak afterwards."""

    def test_concurrent_keepalive_clients(self):
        if FD_LIMIT < 2 * CLIENTS + 200:
            self.skipTest(f'descriptor limit {FD_LIMIT} is too low for {CLIENTS} clients')
        # Warm up, so that the baseline already holds everything a first request opens.
        for _ in range(3):
            request(API.signed, 'GET', '/openstack/latest/meta_data.json', signed(WEB))
        time.sleep(0.2)
        fds_before = API.fds()
        docs = [WEB, PASSWORD, EDITED]
        paths = ['/openstack/latest/meta_data.json', '/latest/meta-data/instance-id',
                 '/openstack/latest/network_data.json', '/latest/meta-data/']
        peak = {}

        async def read_answer(reader):
            head = await reader.readuntil(b'\r\n\r\n')
            status = int(head.split(b' ', 2)[1])
            n = int(re.search(rb'(?i)\r\ncontent-length: *(\d+)', head).group(1))
            return status, await reader.readexactly(n)

        async def client(i, all_connected, connected):
            reader, writer = await asyncio.open_connection('127.0.0.1', API.signed)
            connected.append(i)
            await all_connected.wait()
            results = []
            doc = docs[i % len(docs)]
            for k in range(REQUESTS_PER_CLIENT):
                writer.write(raw_request('GET', paths[(i + k) % len(paths)], signed(doc)))
                await writer.drain()
                results.append(await read_answer(reader))
            writer.close()
            await writer.wait_closed()
            return doc, results

        async def main():
            all_connected = asyncio.Event()
            connected = []
            tasks = [asyncio.create_task(client(i, all_connected, connected)) for i in range(CLIENTS)]
            deadline = time.monotonic() + 20
            while len(connected) < CLIENTS and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            peak['connected'] = len(connected)
            # Connected means the kernel completed the handshake; the server may still be
            # accepting its backlog (slowly, under sanitizers), so wait for it, bounded.
            loop = asyncio.get_running_loop()
            while True:
                peak['open'] = await loop.run_in_executor(
                    None, API.metric, 'metastack_http_connections_open')
                peak['fds'] = API.fds()
                if peak['open'] >= CLIENTS or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            t0 = time.monotonic()
            all_connected.set()
            out = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
            peak['seconds'] = time.monotonic() - t0
            return out

        results = asyncio.run(main())
        errors = [r for r in results if isinstance(r, BaseException)]
        self.assertEqual(errors[:3], [], f'{len(errors)} clients failed')
        self.assertEqual(peak['connected'], CLIENTS)
        self.assertGreaterEqual(peak['open'], CLIENTS)
        self.assertGreaterEqual(peak['fds'], fds_before + CLIENTS)
        statuses = [s for _, rs in results for s, _ in rs]
        self.assertEqual(len(statuses), CLIENTS * REQUESTS_PER_CLIENT)
        self.assertEqual(set(statuses), {200})
        for doc, rs in results:
            for (_, body) in rs:
                if body.startswith(b'{"uuid"'):
                    self.assertEqual(json.loads(body)['uuid'], doc['uuid'])
                elif body.startswith(b'i-'):
                    self.assertEqual(body.decode(), doc['ec2']['instance_id'])
        # Every connection is closed on our side; the server must release every descriptor.
        deadline = time.monotonic() + 5
        while API.fds() > fds_before + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertLessEqual(API.fds(), fds_before + 2,
                             f'before {fds_before}, peak {peak["fds"]}, after {API.fds()}')
        self.assertLessEqual(API.metric('metastack_http_connections_open'), 2)
        print(f'\n  {CLIENTS} clients x {REQUESTS_PER_CLIENT} requests in {peak["seconds"]:.2f} s; '
              f'descriptors {fds_before} -> {peak["fds"]} -> {API.fds()}', file=sys.stderr)


if __name__ == '__main__':
    unittest.main(verbosity=2)
