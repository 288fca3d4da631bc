#!/usr/bin/python3
"""cloud-init 22.4.2 reads `metastack api` with its own OpenStack reader
(MetadataReader.read_v2), its whole OpenStack datasource (DataSourceOpenStack.get_data, platform
check bypassed: no DMI here) and its EC2 crawler (cloudinit.sources.helpers.ec2), twice: through
a small signing proxy (what the metadata agent does: adds X-Instance-ID, X-Tenant-ID, the HMAC
signature and X-Forwarded-For) in front of the signed listener, and directly against the
source-address listener, where an instance's port has the address 127.0.0.1; and the bytes match
the renderer's.

Run:  /usr/bin/python3 tests/integration/test_api_cloudinit.py --metastack BINARY
      (or METASTACK_BIN=BINARY); other arguments go to unittest. Debian's /usr/bin/python3 is
      required: cloud-init is imported from its dist-packages.
"""
import json
import unittest

from cloudinit.sources.helpers import openstack as ci_openstack

# setUpModule and tearDownModule start and stop the module API (API) these tests share.
from api_service import (API, LOCAL, SigningProxy, WEB, cloudinit_datasource, cloudinit_read,
                         rendered, request, setUpModule, signed, tearDownModule)


class CloudInitTest(unittest.TestCase):
    """cloud-init's own readers get the right identity, keys, user data, vendor and network data."""

    def check_openstack(self, v2, doc, hostname):
        md = v2['metadata']
        self.assertEqual(v2['version'], 2)
        self.assertEqual(md['instance-id'], doc['uuid'])
        self.assertEqual(md['uuid'], doc['uuid'])
        self.assertEqual(md['local-hostname'], hostname)
        self.assertEqual(md['name'], doc['name'])
        self.assertEqual(md['availability_zone'], doc['availability_zone'])
        self.assertEqual(md['project_id'], doc['project_id'])
        self.assertEqual(md['meta'], doc['meta'])
        # Every key the operator gave, in order (Nova only serves the first one).
        self.assertEqual(md['public_keys'], doc['public_keys'])
        self.assertEqual([(k['name'], k['data']) for k in md['keys']], list(doc['public_keys'].items()))
        self.assertEqual(len(md['random_seed']), 512)
        self.assertEqual(v2['userdata'], doc['user_data'].encode())
        self.assertEqual(v2['vendordata'], doc['vendor_data'])
        self.assertEqual(v2['vendordata2'], {'static': doc['vendor_data']})
        self.assertEqual(v2['networkdata'],
                         json.loads(rendered(doc, '/openstack/latest/network_data.json')))
        self.assertEqual(v2['files'], {})

    def check_ec2(self, md, doc, hostname, local_ipv4):
        self.assertEqual(md['instance-id'], doc['ec2']['instance_id'])
        self.assertEqual(md['hostname'], hostname)
        self.assertEqual(md['local-hostname'], hostname)
        self.assertEqual(md['local-ipv4'], local_ipv4)
        self.assertEqual(md['ami-launch-index'], str(doc['launch_index']))
        self.assertEqual(md['placement'], {'availability-zone': doc['availability_zone']})
        self.assertEqual(md['public-keys'], doc['public_keys'])
        groups = doc['ec2']['security_groups']
        self.assertEqual(md['security-groups'], groups if len(groups) > 1 else groups[0])

    def test_signed_through_the_agent_shim(self):
        proxy = SigningProxy(API.signed, WEB, '10.0.0.5')
        try:
            v2, md, ud = cloudinit_read(f'http://127.0.0.1:{proxy.port}')
        finally:
            proxy.close()
        self.check_openstack(v2, WEB, 'web-01.novalocal')
        # cloud-init 22.4.2 does not know 2020-10-14: it reads 2018-08-27.
        self.assertIn('/openstack/2018-08-27/meta_data.json', proxy.paths)
        self.check_ec2(v2['ec2-metadata'], WEB, 'web-01.novalocal', '10.0.0.5')
        self.check_ec2(md, WEB, 'web-01.novalocal', '10.0.0.5')
        self.assertEqual(md['public-ipv4'], '203.0.113.10')
        self.assertEqual(ud, WEB['user_data'].encode())
        net = ci_openstack.convert_net_json(v2['networkdata'],
                                            known_macs={'fa:16:3e:12:34:56': 'eth0'})
        self.assertEqual(net['config'][0]['name'], 'eth0')
        self.assertEqual(net['config'][0]['subnets'][0]['address'], '10.0.0.5')

    def test_source_address_directly(self):
        base = f'http://127.0.0.1:{API.source}'
        v2, md, ud = cloudinit_read(base)
        self.check_openstack(v2, LOCAL, 'local-01.novalocal')
        self.check_ec2(v2['ec2-metadata'], LOCAL, 'local-01.novalocal', '127.0.0.1')
        self.check_ec2(md, LOCAL, 'local-01.novalocal', '127.0.0.1')
        self.assertEqual(md['public-ipv4'], '')
        self.assertEqual(ud, LOCAL['user_data'].encode())
        net = ci_openstack.convert_net_json(v2['networkdata'],
                                            known_macs={'fa:16:3e:aa:bb:cc': 'ens3'})
        self.assertEqual(net['config'][0]['name'], 'ens3')
        self.assertEqual(net['config'][0]['subnets'][0]['address'], '127.0.0.1')
        self.assertEqual(net['config'][-1], {'type': 'nameserver', 'address': '127.0.0.53'})

    def check_datasource(self, base_url, doc, mac, name):
        found, ds, network = cloudinit_datasource(base_url, {mac: name})
        self.assertTrue(found)
        self.assertEqual(ds.metadata_address, base_url)
        self.assertEqual(ds.get_instance_id(), doc['uuid'])
        self.assertEqual(ds.get_hostname(fqdn=True).hostname, doc['hostname'] + '.novalocal')
        self.assertEqual(ds.get_public_ssh_keys(), list(doc['public_keys'].values()))
        self.assertEqual(ds.get_userdata_raw(), doc['user_data'].encode())
        self.assertEqual(ds.availability_zone, doc['availability_zone'])
        self.assertEqual(ds.ec2_metadata['instance-id'], doc['ec2']['instance_id'])
        self.assertEqual(network['config'][0]['mac_address'], mac)
        self.assertEqual(network['config'][0]['name'], name)
        return ds

    def test_datasource_through_the_agent_shim(self):
        proxy = SigningProxy(API.signed, WEB, '10.0.0.5')
        try:
            ds = self.check_datasource(f'http://127.0.0.1:{proxy.port}', WEB, 'fa:16:3e:12:34:56',
                                       'eth0')
        finally:
            proxy.close()
        # Nova-style vendor data ({"static": ...} in vendor_data2) has no "cloud-init" key.
        self.assertIsNone(ds.vendordata_raw)
        self.assertEqual(proxy.paths[:2], ['/openstack', '/openstack'])

    def test_datasource_source_address(self):
        ds = self.check_datasource(f'http://127.0.0.1:{API.source}', LOCAL, 'fa:16:3e:aa:bb:cc',
                                   'ens3')
        self.assertEqual(ds.vendordata_raw, LOCAL['vendor_data']['cloud-init'])

    def test_bytes_match_the_renderer(self):
        for path in ('/openstack/latest/network_data.json', '/openstack/2018-08-27/vendor_data.json',
                     '/latest/meta-data/', '/latest/meta-data/public-keys/',
                     '/latest/meta-data/block-device-mapping/', '/openstack/latest/user_data'):
            status, _, body = request(API.signed, 'GET', path, signed(WEB))
            self.assertEqual((status, body), (200, rendered(WEB, path)), path)
        status, _, body = request(API.signed, 'GET', '/latest/meta-data/public-keys/', signed(WEB))
        self.assertEqual(body, b'0=alice\n1=bob\n2=ci')


if __name__ == '__main__':
    unittest.main(verbosity=2)
