#!/usr/bin/python3
"""Every status of the metadata API (api/service.h) verbatim, as a guest meets it: missing,
spoofed and duplicated headers, bad signatures, wrong tenants, methods, HEAD, HTTP/1.0; and
/healthz and /metrics on the admin listener only.

Run:  /usr/bin/python3 tests/integration/test_api_statuses.py --metastack BINARY
"""
import json
import unittest

# setUpModule and tearDownModule start and stop the module API (API) these tests share.
from api_service import (API, LOCAL, NOT_FOUND_BODY, OTHER_TENANT, ROUTER, WEB, connect, error_body,
                         parse_responses, raw_request, read_to_eof, request, setUpModule, sign,
                         signed, tearDownModule)


class StatusTest(unittest.TestCase):
    """Every status of service.h on the signed listener, messages verbatim."""

    def get(self, headers, path='/openstack/latest/meta_data.json', method='GET'):
        return request(API.signed, method, path, headers)

    def assertAnswer(self, answer, status, body):
        self.assertEqual((answer[0], answer[2]), (status, body))

    def test_missing_headers_400_in_order(self):
        uuid, tenant, sig = WEB['uuid'], WEB['project_id'], sign(WEB['uuid'])
        self.assertAnswer(self.get([]), 400, error_body(
            400, 'Bad Request', 'X-Instance-ID header is missing from request.'))
        self.assertAnswer(self.get([('X-Tenant-ID', tenant), ('X-Instance-ID-Signature', sig)]), 400,
                          error_body(400, 'Bad Request', 'X-Instance-ID header is missing from request.'))
        self.assertAnswer(self.get([('X-Instance-ID', uuid), ('X-Tenant-ID', tenant)]), 400, error_body(
            400, 'Bad Request', 'X-Instance-ID-Signature header is missing from request.'))
        self.assertAnswer(self.get([('X-Instance-ID', uuid), ('X-Instance-ID-Signature', sig)]), 400,
                          error_body(400, 'Bad Request', 'X-Tenant-ID header is missing from request.'))
        status, headers, _ = self.get([])
        self.assertEqual(headers['Content-Type'], 'text/plain; charset=UTF-8')

    def test_bad_signature_403(self):
        forbidden = error_body(403, 'Forbidden', 'Invalid proxy request signature.')
        for sig in (sign(WEB['uuid']).upper(), sign(LOCAL['uuid']), sign(WEB['uuid'], 'other'),
                    '', 'zz', sign(WEB['uuid'])[:-1], sign(WEB['uuid']) + '0'):
            h = [('X-Instance-ID', WEB['uuid']), ('X-Tenant-ID', WEB['project_id']),
                 ('X-Instance-ID-Signature', sig)]
            self.assertAnswer(self.get(h), 403, forbidden)

    def test_wrong_tenant_and_unknown_instance_404(self):
        h = [('X-Instance-ID', WEB['uuid']), ('X-Tenant-ID', OTHER_TENANT),
             ('X-Instance-ID-Signature', sign(WEB['uuid']))]
        self.assertAnswer(self.get(h), 404, NOT_FOUND_BODY)
        # Another instance's tenant with a valid signature does not open this one either.
        h = [('X-Instance-ID', WEB['uuid']), ('X-Tenant-ID', LOCAL['project_id']),
             ('X-Instance-ID-Signature', sign(WEB['uuid']))]
        self.assertAnswer(self.get(h), 404, NOT_FOUND_BODY)
        ghost = {'uuid': '00000000-dead-4bee-8f00-000000000000', 'project_id': WEB['project_id']}
        self.assertAnswer(self.get(signed(ghost)), 404, NOT_FOUND_BODY)
        self.assertAnswer(self.get(signed(WEB), '/openstack/latest/nothing'), 404, NOT_FOUND_BODY)
        self.assertAnswer(self.get(signed(WEB), '/latest/meta-data/hostname/extra'), 404,
                          NOT_FOUND_BODY)

    def test_ec2_versions_before_identification(self):
        status, _, body = self.get([], '/')
        self.assertEqual(status, 200)
        self.assertEqual(body.split(b'\n')[-1], b'latest')
        self.assertIn(b'2009-04-04', body.split(b'\n'))

    def test_methods_as_nova(self):
        """Any method reads, as GET; on the password only GET and POST; a 405 only on the
        session token path (docs/extensions.md, "Sessions"), where a PUT without a TTL is 400."""
        path = '/openstack/latest/user_data'  # meta_data.json's random_seed differs each time
        _, get_headers, get_body = self.get(signed(WEB), path)
        for method in ('DELETE', 'PUT', 'POST', 'PATCH', 'OPTIONS', 'TRACE', 'FOO'):
            status, headers, body = self.get(signed(WEB), path, method)
            self.assertEqual((status, body), (200, get_body), method)
            self.assertNotIn('Allow', headers)
            self.assertEqual(headers['Content-Type'], get_headers['Content-Type'])
            if method == 'PUT':
                self.assertAnswer(self.get(signed(WEB), '/latest/api/token', method), 400,
                                  error_body(400, 'Bad Request',
                                             'X-aws-ec2-metadata-token-ttl-seconds must be a '
                                             'whole number of seconds in 1..21600.'))
            else:
                self.assertAnswer(self.get(signed(WEB), '/latest/api/token', method), 405,
                                  error_body(405, 'Method Not Allowed',
                                             'A session token is requested with PUT.'))
        for method in ('PUT', 'DELETE', 'FOO'):
            self.assertAnswer(self.get(signed(WEB), '/openstack/latest/password', method), 400,
                              error_body(400, 'Bad Request', 'GET and POST only are supported.'))
        # Identified first, as by Nova: without headers the missing header is the answer.
        self.assertAnswer(self.get([], method='DELETE'), 400, error_body(
            400, 'Bad Request', 'X-Instance-ID header is missing from request.'))

    def test_head_has_length_and_no_body(self):
        for path in ('/openstack/latest/meta_data.json', '/openstack/latest/user_data',
                     '/latest/meta-data/', '/latest/meta-data/hostname'):
            _, get_headers, get_body = self.get(signed(WEB), path)
            # Raw: HEAD then GET pipelined on one connection; the GET must follow the HEAD's
            # headers at once (no body bytes in between).
            s = connect(API.signed)
            s.sendall(raw_request('HEAD', path, signed(WEB)) + raw_request('GET', path, signed(WEB))
                      + raw_request('GET', '/', [('Connection', 'close')]))
            data, state = read_to_eof(s)
            s.close()
            answers = parse_responses(data, heads=(0,))
            self.assertEqual(len(answers), 3, data)
            (hs, hh, hb), (gs, gh, gb), _ = answers
            self.assertEqual((hs, gs), (200, 200))
            self.assertEqual(hb, b'')
            self.assertEqual(hh['content-length'], [str(len(gb))], path)
            self.assertEqual(hh['content-type'], gh['content-type'])
            self.assertEqual(len(gb), len(get_body))
        # And an error's HEAD: the status, no body.
        s = connect(API.signed)
        s.sendall(raw_request('HEAD', '/openstack/latest/meta_data.json', [('Connection', 'close')]))
        data, _ = read_to_eof(s)
        s.close()
        self.assertTrue(data.startswith(b'HTTP/1.1 400 '), data)
        self.assertTrue(data.endswith(b'\r\n\r\n'), data)

    def test_duplicated_headers(self):
        h = signed(WEB) + [('x-instance-id', WEB['uuid'])]
        self.assertAnswer(self.get(h), 400, error_body(
            400, 'Bad Request', 'Multiple X-Instance-ID headers found within request.'))
        h = signed(WEB) + [('X-TENANT-ID', WEB['project_id'])]
        self.assertAnswer(self.get(h), 400, error_body(
            400, 'Bad Request', 'Multiple X-Tenant-ID headers found within request.'))
        # Two identities at once: refused, never answered as either.
        h = signed(WEB) + signed(LOCAL)
        self.assertEqual(self.get(h)[0], 400)

    def test_spoofed_headers_on_the_source_listener(self):
        """A guest's own X-Instance-ID / X-Forwarded-For mean nothing where the address decides."""
        spoof = signed(WEB) + [('X-Forwarded-For', '10.0.0.5'),
                               ('X-Metadata-Provider', ROUTER),
                               ('X-Metadata-Provider-Signature', sign(ROUTER))]
        status, _, body = request(API.source, 'GET', '/openstack/latest/meta_data.json', spoof)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)['uuid'], LOCAL['uuid'])
        status, _, body = request(API.source, 'GET', '/latest/meta-data/local-ipv4', spoof)
        self.assertEqual((status, body), (200, b'127.0.0.1'))

    def test_forwarded_for_does_not_change_identity_when_signed(self):
        own = WEB['ports'][0]['subnets'][0]['ip_address']
        status, _, body = self.get(signed(WEB) + [('X-Forwarded-For', own)])
        self.assertEqual((status, json.loads(body)['uuid']), (200, WEB['uuid']))
        # LOCAL's address with WEB's signature: never LOCAL's data, and not WEB's either, since
        # WEB does not own that address (a stale port cache in front of the API).
        self.assertAnswer(self.get(signed(WEB) + [('X-Forwarded-For', '127.0.0.1')]), 404,
                          NOT_FOUND_BODY)

    def test_provider_mode(self):
        """Nova's provider variant: the router signs, X-Forwarded-For names the port."""
        ok = [('X-Metadata-Provider', ROUTER), ('X-Metadata-Provider-Signature', sign(ROUTER)),
              ('X-Forwarded-For', '10.0.0.5')]
        status, _, body = self.get(ok, '/latest/meta-data/instance-id')
        self.assertEqual((status, body), (200, b'i-0000002a'))
        self.assertAnswer(self.get(ok[:2]), 400, error_body(
            400, 'Bad Request', 'X-Forwarded-For is missing from request.'))
        bad = [ok[0], ('X-Metadata-Provider-Signature', sign(ROUTER).upper()), ok[2]]
        self.assertAnswer(self.get(bad), 403, error_body(403, 'Forbidden',
                                                         'Invalid proxy request signature.'))
        nobody = ok[:2] + [('X-Forwarded-For', '10.0.9.9')]
        self.assertAnswer(self.get(nobody), 400, error_body(
            400, 'Bad Request',
            f'Expected a single port matching provider {ROUTER} and IP 10.0.9.9.'))

    def test_http10_without_host(self):
        s = connect(API.signed)
        s.sendall(raw_request('GET', '/latest/meta-data/hostname', signed(WEB), version='1.0'))
        data, state = read_to_eof(s, 3)
        s.close()
        self.assertEqual(state, 'closed')
        [(status, _, body)] = parse_responses(data)
        self.assertEqual((status, body), (200, b'web-01.novalocal'))
        self.assertTrue(data.startswith(b'HTTP/1.0 200'), data[:20])

    def test_healthz_and_metrics_only_on_admin(self):
        status, headers, body = request(API.admin, 'GET', '/healthz')
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)['status'], 'ok')
        status, headers, body = request(API.admin, 'GET', '/metrics')
        self.assertEqual(status, 200)
        self.assertTrue(headers['Content-Type'].startswith('text/plain'))
        self.assertIn(b'metastack_api_requests_total{', body)
        self.assertIn(b'metastack_http_connections_open ', body)
        self.assertEqual(request(API.admin, 'GET', '/v1/instances')[0], 401)
        for path in ('/healthz', '/metrics'):
            self.assertEqual(request(API.signed, 'GET', path)[0], 400, path)
            self.assertAnswer(request(API.signed, 'GET', path, signed(WEB)), 404, NOT_FOUND_BODY)
            self.assertAnswer(request(API.source, 'GET', path), 404, NOT_FOUND_BODY)
            self.assertEqual(request(API.signed, 'GET', '/v1/instances', signed(WEB))[0], 404)


if __name__ == '__main__':
    unittest.main(verbosity=2)
