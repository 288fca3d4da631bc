#!/usr/bin/python3
"""Neutron's metadata agent, run as neutron-metadata-agent runs it, minus neutron-server.

    /usr/bin/python3 bench/neutron_agent.py --instance examples/instance.json \
        --config-file metadata_agent.ini [other oslo.config arguments]

This is Debian's python3-neutron: the same start-up as `neutron-metadata-agent`
(neutron.cmd.eventlet.agents.metadata: eventlet monkey patching, option registration,
config.init, logging, UnixDomainMetadataProxy.run: Neutron's UNIX-socket WSGI server with
`metadata_workers` processes and the real MetadataProxyHandler).

The one seam: neutron.agent.metadata.agent.MetadataPluginAPI, the RPC client whose only
method, get_ports(context, filters), asks neutron-server for ports. There is no
neutron-server here, so the class is replaced before the handler is built by one that
answers the same filters from the instance's port (and its router's interface port), in
process. Everything the handler does around it is Neutron's code: reading X-Forwarded-For
and X-Neutron-Router-ID, the two look-ups per request (the router's networks, then the port
with the guest's address on them), the [cache] options (off by default), signing the
instance id, the `requests` call to nova_metadata_host:nova_metadata_port and the answer.
The stub costs less than the RPC round trip it replaces, so it flatters Neutron.

State reporting to neutron-server is turned off by the configuration
([AGENT] report_interval = 0), not by code.
"""

import argparse
import json
import sys

# The same first step as neutron.cmd.eventlet: monkey patching before anything else.
from neutron.common import eventlet_utils

eventlet_utils.monkey_patch()

from neutron.agent import metadata_agent  # noqa: E402
from neutron.agent.metadata import agent  # noqa: E402
from neutron_lib import constants  # noqa: E402


def PortTable(instance):
    """The ports neutron-server would hold for one instance: its own and its router's."""
    ports = []
    for port in instance['ports']:
        ips = [{'subnet_id': s['id'], 'ip_address': s['ip_address']} for s in port['subnets']]
        ports.append({'id': port['id'], 'device_id': instance['uuid'],
                      'device_owner': 'compute:nova', 'tenant_id': instance['project_id'],
                      'project_id': instance['project_id'], 'network_id': port['network_id'],
                      'mac_address': port['mac'], 'fixed_ips': ips})
        if port.get('router_id'):
            ports.append({'id': 'router-interface-' + port['network_id'],
                          'device_id': port['router_id'],
                          'device_owner': constants.DEVICE_OWNER_ROUTER_INTF,
                          'tenant_id': instance['project_id'],
                          'project_id': instance['project_id'],
                          'network_id': port['network_id'], 'mac_address': '',
                          'fixed_ips': [{'subnet_id': s['id'], 'ip_address': s['gateway_ip']}
                                        for s in port['subnets']]})
    return ports


def Matches(port, filters):
    """neutron-server's filter semantics for the keys the handler sends: every key must match,
    a list means any of its values, fixed_ips matches on any of the port's addresses."""
    for key, wanted in filters.items():
        if key == 'fixed_ips':
            addresses = {ip['ip_address'] for ip in port['fixed_ips']}
            if not addresses.intersection(wanted.get('ip_address', [])):
                return False
        elif port.get(key) not in wanted:
            return False
    return True


def StubPluginApi(ports):
    class TablePluginApi:
        """Stands in for MetadataPluginAPI: get_ports answered from a table, in process."""

        def __init__(self, topic):
            self.topic = topic

        def get_ports(self, context, filters):
            return [dict(p) for p in ports if Matches(p, filters)]

    return TablePluginApi


def main():
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('--instance', required=True, help='instance JSON (examples/instance.json)')
    ours, oslo_args = parser.parse_known_args()
    with open(ours.instance) as f:
        agent.MetadataPluginAPI = StubPluginApi(PortTable(json.load(f)))
    sys.argv = [sys.argv[0]] + oslo_args
    metadata_agent.main()


if __name__ == '__main__':
    main()
