#!/usr/bin/python3
"""Render one of our instance documents with OpenStack Nova's own code.

This is the reference side of the Nova comparison tests: it builds real
``nova.objects.Instance`` objects and a real ``NetworkInfo`` (through
``nova.network.neutron.API._build_vif_model`` fed by a fake Neutron client)
from an instance document (see shared/reference/instance.example.json), then
asks Nova's metadata code for

* HTTP answers, through the real WSGI app
  ``nova.api.metadata.handler.MetadataRequestHandler`` in signed (Neutron
  proxy) mode, and
* the config drive file set, through ``InstanceMetadata(...)
  .metadata_for_config_drive()`` called the way the libvirt driver calls it,
* or, with --serve, the same WSGI app over HTTP/1.1 under eventlet.wsgi (as
  nova-api-metadata runs it), for a metadata agent to use as its upstream;
  with --ssl-cert-file and --ssl-key-file over https, served by Nova's own
  ``nova.wsgi.Server`` with ``use_ssl`` and [wsgi] ssl_cert_file,
  ssl_key_file and ssl_ca_file (--ssl-ca-file: client certificates signed by
  that CA required), as nova-api-metadata serves it with
  [DEFAULT] enabled_ssl_apis = metadata.

Only database-ish look-ups are stubbed: the instance load, its security
groups, its block device mappings and Neutron's API.

Run it with Debian's interpreter (it needs python3-nova):

    /usr/bin/python3 nova_reference.py INSTANCE.json [--dhcp-domain D] \
        [--address IP] [--shared-secret S] \
        (--paths-file F | --config-drive | --serve PORT_FILE [--port N]
         [--ssl-cert-file F --ssl-key-file F [--ssl-ca-file CA]])

--paths-file holds one request per line, ``PATH`` or ``METHOD PATH``.
Output is JSON on stdout: a list of {"method", "path", "status",
"content_type", "body_b64"} for HTTP, {relpath: body_b64} for a config drive.
--serve listens on a loopback port (--port, or a free one), writes its number
to PORT_FILE once accepting, and serves until killed. NOVA_REFERENCE_DEBUG=1
lets Nova's and eventlet's log lines through to stderr (e.g. a failed TLS
handshake).

Document conventions beyond reference/nova.md: a device field that is null
counts as absent; ``vendor_data`` null counts as absent; a subnet without
``ip_address`` is not attached to the port (Neutron would not return it).
"""

import argparse
import base64
import contextlib
import copy
import hashlib
import hmac
import json
import logging
import os
import sys
import tempfile
import traceback
import urllib.parse
from unittest import mock

# Nova logs through the stdlib; nothing of it may reach stdout or stderr
# (unless NOVA_REFERENCE_DEBUG is set: then all of it goes to stderr).
if os.environ.get('NOVA_REFERENCE_DEBUG'):
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
else:
    logging.disable(logging.CRITICAL)

from oslo_log import log as oslo_log  # noqa: E402
import webob  # noqa: E402

import nova.conf  # noqa: E402
from nova import context as nova_context  # noqa: E402
from nova import exception  # noqa: E402
from nova import objects  # noqa: E402
from nova import utils as nova_utils  # noqa: E402

objects.register_all()

from nova.api.metadata import base  # noqa: E402
from nova.api.metadata import handler  # noqa: E402
from nova.api.metadata import password  # noqa: E402
from nova.api.validation import parameter_types  # noqa: E402
from nova.network import model as network_model  # noqa: E402
from nova.network import neutron  # noqa: E402
from nova.network import security_group_api  # noqa: E402

CONF = nova.conf.CONF
oslo_log.register_options(CONF)  # the handler reads CONF.debug
# No nova.conf from /etc: every setting comes from here or the document.
CONF([], project='nova', default_config_files=[], default_config_dirs=[])

SHARED_SECRET = 'secret'
DEFAULT_ADDRESS = '10.0.0.99'
DEFAULT_DHCP_DOMAIN = 'novalocal'

# Device buses of our documents → Nova's DeviceBus classes.
_BUSES = {
    'pci': objects.PCIDeviceBus,
    'usb': objects.USBDeviceBus,
    'scsi': objects.SCSIDeviceBus,
    'ide': objects.IDEDeviceBus,
    'xen': objects.XenDeviceBus,
}


def _present(mapping, key):
    return mapping.get(key) is not None


def signed_headers(instance_uuid, project_id, address, secret=SHARED_SECRET):
    """Headers the Neutron metadata agent adds to a proxied request."""
    sig = hmac.new(secret.encode(), instance_uuid.encode(),
                   hashlib.sha256).hexdigest()
    return {
        'X-Instance-ID': instance_uuid,
        'X-Tenant-ID': project_id,
        'X-Instance-ID-Signature': sig,
        'X-Forwarded-For': address,
    }


class _FakeNeutron:
    """Answers the Neutron client calls _build_vif_model makes, from a doc."""

    def __init__(self, doc):
        self._subnets = {}  # id → neutron subnet dict, first definition wins
        self._dhcp_ports = []
        self._floating = None  # (port id, fixed ip, floating ip)
        public_ipv4 = (doc.get('ec2') or {}).get('public_ipv4')
        for port in doc.get('ports') or []:
            for sub in port.get('subnets') or []:
                self._subnets.setdefault(sub['id'], {
                    'id': sub['id'],
                    'network_id': port['network_id'],
                    'cidr': sub['cidr'],
                    'gateway_ip': sub.get('gateway_ip'),
                    'dns_nameservers': sub.get('dns_nameservers') or [],
                    'host_routes': sub.get('host_routes') or [],
                    'enable_dhcp': sub.get('enable_dhcp', True),
                    'ipv6_address_mode': sub.get('ipv6_address_mode'),
                })
                if _present(sub, 'dhcp_server'):
                    # Nova finds an explicit DHCP server as a network:dhcp
                    # port holding an address in the subnet.
                    self._dhcp_ports.append({
                        'network_id': port['network_id'],
                        'fixed_ips': [{'subnet_id': sub['id'],
                                       'ip_address': sub['dhcp_server']}],
                    })
                ip = sub.get('ip_address')
                if (public_ipv4 and self._floating is None and ip
                        and ':' not in ip):
                    self._floating = (port['id'], ip, public_ipv4)

    def list_subnets(self, id=(), **_):
        return {'subnets': [copy.deepcopy(s) for s in self._subnets.values()
                            if s['id'] in id]}

    def list_ports(self, network_id=None, device_owner=None, **_):
        assert device_owner == 'network:dhcp', device_owner
        return {'ports': [p for p in self._dhcp_ports
                          if p['network_id'] == network_id]}

    def list_floatingips(self, fixed_ip_address=None, port_id=None, **_):
        if self._floating and self._floating[:2] == (port_id,
                                                     fixed_ip_address):
            return {'floatingips': [
                {'floating_ip_address': self._floating[2]}]}
        return {'floatingips': []}


def build_network_info(doc, ctxt):
    """NetworkInfo exactly as Nova's Neutron API code builds it."""
    client = _FakeNeutron(doc)
    api = neutron.API()
    vifs = []
    with mock.patch.object(neutron, 'get_client', return_value=client), \
            mock.patch.object(api, '_get_physnet_tunneled_info',
                              return_value=(None, False)):
        for port in doc.get('ports') or []:
            nport = {
                'id': port['id'],
                'mac_address': port['mac'],
                'network_id': port['network_id'],
                'tenant_id': doc['project_id'],
                'admin_state_up': True,
                'status': 'ACTIVE',
                'fixed_ips': [
                    {'subnet_id': s['id'], 'ip_address': s['ip_address']}
                    for s in port.get('subnets') or []
                    if _present(s, 'ip_address')],
                'binding:vif_type': port.get('vif_type') or 'ovs',
                'binding:vif_details': {},
                'binding:vnic_type': 'normal',
            }
            networks = [{'id': port['network_id'],
                         'name': port.get('network_name'),
                         'tenant_id': doc['project_id'],
                         'mtu': port.get('mtu')}]
            # Nova's "injected" is the global [DEFAULT] flat_injected; our
            # documents carry it per port.
            CONF.set_override('flat_injected', bool(port.get('injected')))
            try:
                vif = api._build_vif_model(ctxt, client, nport, networks, [])
            finally:
                CONF.clear_override('flat_injected')
            if _present(port, 'devname'):
                vif['devname'] = port['devname']
            vifs.append(vif)
    return network_model.NetworkInfo(vifs)


def _device(dev):
    kind = dev.get('type')
    if kind == 'nic':
        obj = objects.NetworkInterfaceMetadata()
        names = ('mac', 'vlan', 'vf_trusted', 'tags')
    elif kind == 'disk':
        obj = objects.DiskMetadata()
        names = ('serial', 'path', 'tags')
    else:
        raise ValueError('unknown device type %r' % (kind,))
    for name in names:
        if _present(dev, name):
            setattr(obj, name, dev[name])
    if _present(dev, 'bus'):
        bus = _BUSES[dev['bus']]()
        if _present(dev, 'address'):
            bus.address = dev['address']
        obj.bus = bus
    return obj


def _bdms(doc, ctxt, instance_uuid):
    bd = doc.get('block_devices') or {}
    bdms = []
    for dev in bd.get('volumes') or []:
        bdms.append(objects.BlockDeviceMapping(
            ctxt, instance_uuid=instance_uuid, device_name=dev,
            source_type='volume', destination_type='volume'))
    for blank in bd.get('blanks') or []:
        bdms.append(objects.BlockDeviceMapping(
            ctxt, instance_uuid=instance_uuid, device_name=blank['device'],
            source_type='blank', destination_type='local',
            guest_format=blank.get('guest_format')))
    return objects.BlockDeviceMappingList(ctxt, objects=bdms)


def _user_data(doc):
    if _present(doc, 'user_data_b64'):
        return doc['user_data_b64']
    if _present(doc, 'user_data'):
        return base64.b64encode(doc['user_data'].encode('utf-8')).decode()
    return None


def build_instance(doc, ctxt, network_info):
    ec2 = doc.get('ec2') or {}
    bd = doc.get('block_devices') or {}
    keys = list((doc.get('public_keys') or {}).items())
    key_types = doc.get('public_key_types') or {}
    inst = objects.Instance(ctxt)
    inst.uuid = doc['uuid']
    inst.display_name = doc.get('name')
    inst.hostname = doc.get('hostname')
    inst.project_id = doc['project_id']
    inst.user_id = doc.get('user_id')
    inst.availability_zone = doc.get('availability_zone')
    inst.launch_index = doc.get('launch_index', 0)
    inst.created_at = doc.get('created_at')
    inst.image_ref = doc.get('image_id')
    inst.key_name = keys[0][0] if keys else None
    inst.key_data = keys[0][1] if keys else None
    inst.keypairs = objects.KeyPairList(objects=[
        objects.KeyPair(name=name, user_id=doc.get('user_id'),
                        public_key=key, type=key_types.get(name, 'ssh'))
        for name, key in keys])
    inst.user_data = _user_data(doc)
    inst.metadata = dict(doc.get('meta') or {})
    inst.system_metadata = (
        password.convert_password(ctxt, doc['password'])
        if _present(doc, 'password') else {})
    inst.ec2_ids = objects.EC2Ids(
        instance_id=ec2.get('instance_id'), ami_id=ec2.get('ami_id'),
        kernel_id=ec2.get('kernel_id'), ramdisk_id=ec2.get('ramdisk_id'))
    inst.flavor = objects.Flavor(name=ec2.get('instance_type'))
    inst.reservation_id = ec2.get('reservation_id')
    inst.root_device_name = bd.get('root_device_name')
    inst.default_ephemeral_device = bd.get('default_ephemeral_device')
    inst.default_swap_device = bd.get('default_swap_device')
    devices = doc.get('devices')
    inst.device_metadata = (
        objects.InstanceDeviceMetadata(devices=[_device(d) for d in devices])
        if devices else None)
    cpus = doc.get('dedicated_cpus')
    inst.numa_topology = (
        objects.InstanceNUMATopology(instance_uuid=doc['uuid'], cells=[
            objects.InstanceNUMACell(id=0, cpuset=set(), pcpuset=set(cpus),
                                     memory=1024)])
        if cpus else None)
    inst.info_cache = objects.InstanceInfoCache(
        instance_uuid=doc['uuid'], network_info=network_info)
    return inst


def _files(doc):
    content = []
    for f in doc.get('files') or []:
        if _present(f, 'contents_b64'):
            data = base64.b64decode(f['contents_b64'])
        else:
            data = (f.get('contents') or '').encode('utf-8')
        content.append((f['path'], data))
    return content


def _to_bytes(data):
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode('utf-8')
    return str(data).encode('utf-8')


class NovaReference:
    """Nova's view of one instance document.

    Use as a context manager (it owns a temporary vendor data file)."""

    def __init__(self, doc, dhcp_domain=None, address=DEFAULT_ADDRESS,
                 shared_secret=SHARED_SECRET):
        self.doc = doc
        self.shared_secret = shared_secret
        self.address = address
        self.dhcp_domain = dhcp_domain
        self.ctxt = nova_context.get_admin_context()
        self._vendor_path = None
        self._metadata = {}
        if _present(doc, 'vendor_data'):
            fd, self._vendor_path = tempfile.mkstemp(suffix='.json')
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                json.dump(doc['vendor_data'], f)
        self.network_info = build_network_info(doc, self.ctxt)
        self.instance = build_instance(doc, self.ctxt, self.network_info)

    def close(self):
        if self._vendor_path:
            os.unlink(self._vendor_path)
            self._vendor_path = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def _configured(self):
        overrides = {
            ('api', 'vendordata_jsonfile_path'): self._vendor_path,
            ('api', 'vendordata_providers'): ['StaticJSON'],
            ('api', 'metadata_cache_expiration'): 0,
            ('api', 'dhcp_domain'): DEFAULT_DHCP_DOMAIN,
            ('neutron', 'service_metadata_proxy'): True,
            ('neutron', 'metadata_proxy_shared_secret'): self.shared_secret,
        }
        for group, opts in (self.doc.get('conf') or {}).items():
            for name, value in opts.items():
                overrides[(group, name)] = value
        if self.dhcp_domain is not None:
            overrides[('api', 'dhcp_domain')] = self.dhcp_domain
        for (group, name), value in overrides.items():
            CONF.set_override(name, value, group=group)
        sec_groups = [{'name': g}
                      for g in (self.doc.get('ec2') or {}).get(
                          'security_groups') or []]
        doc, ctxt = self.doc, self.ctxt
        self._metadata = {}
        try:
            with mock.patch.object(
                    security_group_api, 'get_instance_security_groups',
                    lambda context, instance, detailed=False: sec_groups), \
                    mock.patch.object(
                        objects.Instance, 'get_bdms',
                        lambda inst: _bdms(doc, ctxt, inst.uuid)), \
                    mock.patch.object(
                        base, 'get_metadata_by_instance_id',
                        self._metadata_by_instance_id), \
                    self._password_writes():
                yield
        finally:
            self._metadata = {}
            for group, name in overrides:
                CONF.clear_override(name, group=group)

    def _password_writes(self):
        """A POST on the password as Nova handles it, its database reads and
        the write stubbed: the instance is found (a copy, so that nothing
        this process answers later sees the new password) and saved
        nowhere."""
        cell = mock.Mock(cell_mapping=None)
        stack = contextlib.ExitStack()
        stack.enter_context(mock.patch.object(
            objects.InstanceMapping, 'get_by_instance_uuid',
            lambda ctxt, uuid: cell))
        stack.enter_context(mock.patch.object(
            password.context, 'target_cell',
            lambda ctxt, cell_mapping: contextlib.nullcontext(ctxt)))
        stack.enter_context(mock.patch.object(
            objects.Instance, 'get_by_uuid',
            lambda ctxt, uuid: self.instance.obj_clone()))
        stack.enter_context(mock.patch.object(
            objects.Instance, 'save', lambda inst: None))
        return stack

    def _metadata_by_instance_id(self, instance_id, address, ctxt=None):
        """One InstanceMetadata per (instance, address) while configured.

        Nova builds it once and answers many requests from it ("the user should
        then get a single instance and make multiple method calls on it",
        base.InstanceMetadata), and its handler keeps it for
        metadata_cache_expiration (15 s by default). That cache is off here
        because its key, the instance uuid, is shared by fixtures; this one
        lives only as long as one configuration of one document. Building it
        per request was most of the comparison's time."""
        if instance_id != self.instance.uuid:
            raise exception.InstanceNotFound(instance_id=instance_id)
        key = (instance_id, address)
        if key not in self._metadata:
            self._metadata[key] = base.InstanceMetadata(self.instance, address)
        return self._metadata[key]

    def http(self, requests):
        """Answers to [(method, path)], each through Nova's WSGI app."""
        headers = signed_headers(self.doc['uuid'], self.doc['project_id'],
                                 self.address, self.shared_secret)
        answers = []
        with self._configured():
            app = handler.MetadataRequestHandler()
            for method, path in requests:
                # As a client sends it: non-ASCII as percent-encoded UTF-8.
                target = ''.join(c if c < '\x80' else urllib.parse.quote(c)
                                 for c in path)
                req = webob.Request.blank(target, method=method,
                                          headers=headers)
                if method == 'POST':
                    # As HTTP clients send a POST without data: Content-Length
                    # 0 (without it Nova's password handler raises TypeError).
                    req.body = b''
                try:
                    resp = req.get_response(app)
                    status = resp.status_code
                    ctype = resp.headers.get('Content-Type')
                    body = resp.body
                except Exception:
                    if os.environ.get('NOVA_REFERENCE_DEBUG'):
                        traceback.print_exc()
                    # eventlet.wsgi answers an escaped exception like this.
                    status, ctype, body = 500, 'text/plain', b''
                if method == 'HEAD':
                    body = b''
                answers.append({'method': method, 'path': path,
                                'status': status, 'content_type': ctype,
                                'body': body})
        return answers

    def serve(self, port_file, host='127.0.0.1', port=0, tls=None):
        """Nova's WSGI app over HTTP/1.1 with keep-alive, under eventlet.wsgi
        as nova-api-metadata serves it, on `port` (0: a free one); never
        returns. tls=(cert, key, ca or None): over https, by nova.wsgi.Server
        itself (use_ssl=True, [wsgi] ssl_cert_file/ssl_key_file/ssl_ca_file):
        eventlet.wrap_ssl(server_side=True, certfile, keyfile, cert_reqs
        CERT_NONE, or with a CA ca_certs and CERT_REQUIRED)."""
        import eventlet  # noqa: E402 (only this mode needs it)
        import eventlet.wsgi  # noqa: E402
        with self._configured():
            app = handler.MetadataRequestHandler()
            if tls:
                from nova import wsgi as nova_wsgi  # noqa: E402
                cert, key, ca = tls
                CONF.set_override('ssl_cert_file', cert, group='wsgi')
                CONF.set_override('ssl_key_file', key, group='wsgi')
                CONF.set_override('ssl_ca_file', ca, group='wsgi')
                server = nova_wsgi.Server('metadata', app, host=host,
                                          port=port, use_ssl=True)
                server.start()
                bound = server.port
            else:
                sock = eventlet.listen((host, port))
                bound = sock.getsockname()[1]
            tmp = port_file + '.tmp'
            with open(tmp, 'w', encoding='ascii') as f:
                f.write(str(bound))
            os.rename(tmp, port_file)
            if tls:
                server.wait()
            else:
                eventlet.wsgi.server(sock, app, log_output=False)

    def config_drive(self):
        """{relpath: bytes} as the libvirt driver's config drive holds."""
        extra_md = {}
        # The libvirt driver tests admin_pass for truth, not for None.
        if self.doc.get('admin_pass'):
            extra_md['admin_pass'] = self.doc['admin_pass']
        with self._configured():
            md = base.InstanceMetadata(
                self.instance, content=_files(self.doc), extra_md=extra_md,
                network_info=self.network_info)
            return {path: _to_bytes(data)
                    for path, data in md.metadata_for_config_drive()}


def load_doc(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def read_paths_file(path):
    requests = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.rstrip('\n')
            if not line:
                continue
            method, sep, rest = line.partition(' ')
            requests.append((method, rest) if sep else ('GET', line))
    return requests


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('instance')
    ap.add_argument('--dhcp-domain', default=None)
    ap.add_argument('--address', default=DEFAULT_ADDRESS)
    ap.add_argument('--shared-secret', default=SHARED_SECRET)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument('--paths-file')
    mode.add_argument('--config-drive', action='store_true')
    mode.add_argument('--serve', metavar='PORT_FILE')
    ap.add_argument('--port', type=int, default=0,
                    help='with --serve: the port (default: a free one)')
    ap.add_argument('--ssl-cert-file',
                    help="with --serve: https with this certificate "
                         "(Nova's [wsgi] ssl_cert_file)")
    ap.add_argument('--ssl-key-file',
                    help="its key ([wsgi] ssl_key_file)")
    ap.add_argument('--ssl-ca-file',
                    help="client certificates signed by this CA are "
                         "required ([wsgi] ssl_ca_file)")
    args = ap.parse_args(argv)
    if bool(args.ssl_cert_file) != bool(args.ssl_key_file):
        ap.error('--ssl-cert-file and --ssl-key-file go together')
    if args.ssl_ca_file and not args.ssl_cert_file:
        ap.error('--ssl-ca-file needs --ssl-cert-file and --ssl-key-file')
    if args.ssl_cert_file and not args.serve:
        ap.error('--ssl-cert-file goes with --serve')
    tls = ((args.ssl_cert_file, args.ssl_key_file, args.ssl_ca_file)
           if args.ssl_cert_file else None)

    b64 = lambda b: base64.b64encode(b).decode('ascii')  # noqa: E731
    with NovaReference(load_doc(args.instance), args.dhcp_domain,
                       args.address, args.shared_secret) as ref:
        if args.serve:
            ref.serve(args.serve, port=args.port, tls=tls)
        if args.config_drive:
            out = {p: b64(b) for p, b in ref.config_drive().items()}
        else:
            out = [{'method': a['method'], 'path': a['path'],
                    'status': a['status'],
                    'content_type': a['content_type'],
                    'body_b64': b64(a['body'])}
                   for a in ref.http(read_paths_file(args.paths_file))]
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
