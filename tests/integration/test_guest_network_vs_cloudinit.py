#!/usr/bin/python3
"""metastack-guest's network configuration against cloud-init's, from the same network_data.json.

Run:  /usr/bin/python3 tests/integration/test_guest_network_vs_cloudinit.py --render BINARY
      (BINARY: guest_network_render, built with the tests; or $GUEST_NETWORK_RENDER); other
      arguments go to unittest.
Debian's /usr/bin/python3 is required: cloud-init (22.4.2) is imported from its dist-packages.

For each network_data.json below (Nova's shapes: static IPv4, static IPv6, the DHCP and SLAAC
modes, two NICs with routes, a VLAN, a bond with VLANs, DNS services and search domains),
cloud-init's own code renders it as it would on a guest (convert_net_json, then its networkd
and eni renderers, into a temporary root), and guest_network_render renders it with
src/guest/network_config.h. Both trees are parsed into what they configure, per interface:
addresses with prefix, routes (destination, gateway, metric), DNS servers and search domains,
MTU, DHCP, accept-ra, VLAN and bond settings (an ifupdown stanza's options by the defaults
ifupdown applies; networkd's by its defaults), and compared.

Every difference must be listed in the case's `differ` with a reason from DIFFERENCES: each is
a place where cloud-init's renderer loses what Nova's data (and convert_net_json) says, and
ours follows the data. A difference not listed fails, and so does a listed one that no longer
occurs.
"""
import copy
import ipaddress
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from cloudinit.net import eni, network_state, networkd
from cloudinit.sources.helpers import openstack

ROOT = pathlib.Path(__file__).resolve().parents[2]
RENDER = None

# Why ours differs from cloud-init's, by key; each case names the ones it shows.
DIFFERENCES = {
    'netdev': "cloud-init's networkd renderer writes no .netdev, so the VLAN or bond it writes a "
              ".network for is never created; ours writes the .netdev (Kind=, VLAN Id=, bond "
              "Mode=/MIIMonitorSec=/TransmitHashPolicy=, MACAddress=).",
    'vlan-parent': "The parent of a VLAN needs VLAN=<name> in its .network for networkd to create "
                   "the VLAN on it; cloud-init writes none.",
    'bond-member': "A bond member needs Bond=<bond> in its .network; cloud-init writes none (and "
                   "gives the member the DNS servers of an interface with addresses, which a "
                   "member carrying no IP configuration does not use).",
    'virtual-match': "A VLAN or bond is matched by its name alone: it carries the MAC of its "
                     "parent or of a member (the .netdev sets it), so cloud-init's "
                     "MACAddress= would also match those.",
    'stateful-dhcpv6': "Nova's ipv6_dhcpv6-stateful means addresses from DHCPv6; cloud-init's "
                       "networkd renderer knows only its dhcp6 type and leaves DHCP=no (its eni "
                       "renderer writes inet6 dhcp for the same network, as ours does).",
    'static-v6-accept-ra': "convert_net_json marks a static \"ipv6\" network accept-ra: false (no "
                           "address mode: Neutron sends no RAs to follow); cloud-init's networkd "
                           "renderer writes IPv6AcceptRA only beside DHCPv6, so the interface "
                           "keeps accepting RAs (and addresses and routes from them).",
    'eni-first-stanza': "cloud-init's eni renderer writes an interface's options (accept_ra for a "
                        "static \"ipv6\" network, dhcp 1 for ipv6_dhcpv6-stateless) into its "
                        "first stanza only; on a dual-stack link, where Nova lists the IPv4 "
                        "network first, that is the inet stanza, where ifupdown ignores them: "
                        "the static IPv6 address keeps accepting RAs, and stateless DHCPv6 never "
                        "asks for DNS servers. Ours writes them into the inet6 stanza they "
                        "concern.",
}

# ifupdown's defaults for accept_ra in an inet6 stanza (interfaces(5)); static has none, and
# the kernel's own (accept) applies. In an inet stanza ifupdown ignores accept_ra and dhcp.
ENI_ACCEPT_RA_DEFAULT = {'dhcp': '1', 'auto': '2', 'static': None}
BOND_MODES = ['balance-rr', 'active-backup', 'balance-xor', 'broadcast', '802.3ad',
              'balance-tlb', 'balance-alb']

LINK_A = {'id': 'tap1f8b2e6a-3c', 'vif_id': '1f8b2e6a-3c4d-4e5f-8a9b-0c1d2e3f4a5b',
          'type': 'ovs', 'mtu': 1450, 'ethernet_mac_address': 'fa:16:3e:12:34:56'}
LINK_B = {'id': 'tap77a0dc5b-72', 'vif_id': '77a0dc5b-720e-41b7-bfa7-1b2ff62e0d48',
          'type': 'phy', 'mtu': None, 'ethernet_mac_address': 'fa:16:3e:dd:50:9a'}
LINK_C = {'id': 'tap7d6b7bec-93', 'vif_id': '7d6b7bec-93e6-4c03-869a-ddc5014892d5',
          'type': 'bridge', 'mtu': 9000, 'ethernet_mac_address': 'fa:16:3e:a8:14:69'}
MACS = {'fa:16:3e:12:34:56': 'ens3', 'fa:16:3e:dd:50:9a': 'ens4', 'fa:16:3e:a8:14:69': 'ens5',
        '0c:c4:7a:34:6e:3c': 'enp1s0', '0c:c4:7a:34:6e:3d': 'enp2s0'}
DEFAULT4 = {'network': '0.0.0.0', 'netmask': '0.0.0.0'}
DEFAULT6 = {'network': '::', 'netmask': '::'}
V6_MASK = 'ffff:ffff:ffff:ffff::'

CASES = {
    'static_v4': dict(
        network_data={
            'links': [LINK_A],
            'networks': [{'id': 'network0', 'type': 'ipv4', 'link': LINK_A['id'],
                          'ip_address': '10.0.0.5', 'netmask': '255.255.255.0',
                          'routes': [dict(DEFAULT4, gateway='10.0.0.1')],
                          'network_id': '7e5a1b2c-3d4e-4f50-9a8b-7c6d5e4f3a2b',
                          'services': [{'type': 'dns', 'address': '10.0.0.2'}]}],
            'services': [{'type': 'dns', 'address': '10.0.0.2'}]},
        differ={}),
    'static_v6': dict(
        network_data={
            'links': [LINK_A, LINK_B],
            'networks': [{'id': 'network0', 'type': 'ipv6', 'link': LINK_A['id'],
                          'ip_address': '2001:db8:0:1::5', 'netmask': V6_MASK,
                          'routes': [dict(DEFAULT6, gateway='2001:db8:0:1::1')],
                          'network_id': 'n0', 'services': []},
                         {'id': 'network1', 'type': 'ipv4', 'link': LINK_B['id'],
                          'ip_address': '172.17.48.18', 'netmask': '255.255.255.128',
                          'routes': [dict(DEFAULT4, gateway='172.17.48.1')],
                          'network_id': 'n1', 'services': []},
                         {'id': 'network2', 'type': 'ipv6', 'link': LINK_B['id'],
                          'ip_address': 'fdb8:52d0:9d14:0:f816:3eff:fe9f:70d',
                          'netmask': V6_MASK,
                          'routes': [dict(DEFAULT6, gateway='fdb8:52d0:9d14::1')],
                          'network_id': 'n1', 'services': []}],
            'services': []},
        differ={('networkd', 'ens3', 'accept_ra'): 'static-v6-accept-ra',
                ('networkd', 'ens4', 'accept_ra'): 'static-v6-accept-ra',
                ('eni', 'ens4', 'stanzas'): 'eni-first-stanza'}),
    'dhcp': dict(
        network_data={
            'links': [LINK_A, LINK_B, LINK_C],
            'networks': [{'id': 'network0', 'type': 'ipv4_dhcp', 'link': LINK_A['id'],
                          'network_id': 'n0'},
                         {'id': 'network1', 'type': 'ipv6_slaac', 'link': LINK_A['id'],
                          'ip_address': '2001:db8:0:1:f816:3eff:fe12:3456', 'netmask': V6_MASK,
                          'routes': [dict(DEFAULT6, gateway='2001:db8:0:1::1')],
                          'network_id': 'n0', 'services': []},
                         {'id': 'network2', 'type': 'ipv6_dhcpv6-stateful', 'link': LINK_B['id'],
                          'ip_address': '2001:db8:0:2::7', 'netmask': V6_MASK, 'routes': [],
                          'network_id': 'n1', 'services': []},
                         {'id': 'network3', 'type': 'ipv4_dhcp', 'link': LINK_C['id'],
                          'network_id': 'n2'},
                         {'id': 'network4', 'type': 'ipv6_dhcpv6-stateless',
                          'link': LINK_C['id'], 'ip_address': '2001:db8:0:3::8',
                          'netmask': V6_MASK, 'routes': [], 'network_id': 'n2',
                          'services': []}],
            'services': [{'type': 'dns', 'address': '10.0.0.2'},
                         {'type': 'dns', 'address': '2001:db8::53'}]},
        differ={('networkd', 'ens4', 'dhcp'): 'stateful-dhcpv6',
                ('eni', 'ens5', 'stanzas'): 'eni-first-stanza'}),
    'legacy_dhcpv6': dict(
        network_data={
            'links': [LINK_B],
            'networks': [{'id': 'network0', 'type': 'ipv6_dhcp', 'link': LINK_B['id']}],
            'services': []},
        differ={}),
    'two_nics_routes': dict(
        network_data={
            'links': [LINK_A, LINK_C],
            'networks': [{'id': 'network0', 'type': 'ipv4', 'link': LINK_A['id'],
                          'ip_address': '10.0.0.5', 'netmask': '255.255.255.0',
                          'routes': [dict(DEFAULT4, gateway='10.0.0.1'),
                                     {'network': '192.168.0.0', 'netmask': '255.255.0.0',
                                      'gateway': '10.0.0.254'},
                                     {'network': '192.168.9.9', 'netmask': '255.255.255.255',
                                      'gateway': '10.0.0.253', 'metric': 50}],
                          'network_id': 'n0', 'services': []},
                         {'id': 'network1', 'type': 'ipv4', 'link': LINK_C['id'],
                          'ip_address': '10.1.0.9', 'netmask': '255.255.240.0',
                          'routes': [{'network': '172.16.0.0', 'netmask': '255.240.0.0',
                                      'gateway': '10.1.0.1', 'metric': 0}],
                          'network_id': 'n1', 'services': []}],
            'services': [{'type': 'dns', 'address': '10.0.0.2'}]},
        differ={}),
    'vlan': dict(
        network_data={
            'links': [dict(LINK_A, mtu=1500),
                      {'id': 'vlan1', 'type': 'vlan', 'vlan_id': 602,
                       'vlan_link': LINK_A['id'], 'vlan_mac_address': 'fa:16:3e:b3:72:30',
                       'ethernet_mac_address': 'fa:16:3e:b3:72:30', 'mtu': 1496}],
            'networks': [{'id': 'network1-ipv4', 'type': 'ipv4', 'link': 'vlan1',
                          'ip_address': '10.0.1.5', 'netmask': '255.255.255.248',
                          'routes': [{'network': '192.168.1.0', 'netmask': '255.255.255.255',
                                      'gateway': '10.0.1.1'}],
                          'network_id': 'n1'}],
            'services': [{'type': 'dns', 'address': '1.1.1.191'}]},
        differ={('networkd', 'ens3', 'vlans'): 'vlan-parent',
                ('networkd', 'ens3.602', 'netdev'): 'netdev',
                ('networkd', 'ens3.602', 'match_mac'): 'virtual-match'}),
    'bond': dict(
        network_data={
            'links': [{'ethernet_mac_address': '0c:c4:7a:34:6e:3c', 'id': 'eth0', 'mtu': 1500,
                       'type': 'phy'},
                      {'ethernet_mac_address': '0c:c4:7a:34:6e:3d', 'id': 'eth1', 'mtu': 1500,
                       'type': 'phy'},
                      {'bond_links': ['eth0', 'eth1'], 'bond_miimon': 100, 'bond_mode': '4',
                       'bond_xmit_hash_policy': 'layer3+4',
                       'ethernet_mac_address': 'fa:16:3e:b3:72:36', 'id': 'bond0',
                       'type': 'bond'},
                      {'ethernet_mac_address': 'fa:16:3e:b3:72:30', 'id': 'vlan2',
                       'type': 'vlan', 'vlan_id': 602, 'vlan_link': 'bond0',
                       'vlan_mac_address': 'fa:16:3e:b3:72:30'},
                      {'ethernet_mac_address': 'fa:16:3e:66:ab:a6', 'id': 'vlan3',
                       'type': 'vlan', 'vlan_id': 612, 'vlan_link': 'bond0',
                       'vlan_mac_address': 'fa:16:3e:66:ab:a6'}],
            'networks': [{'id': 'network2-ipv4', 'ip_address': '2.2.2.13', 'link': 'vlan2',
                          'netmask': '255.255.255.248', 'type': 'ipv4',
                          'routes': [dict(DEFAULT4, gateway='2.2.2.9')],
                          'network_id': 'n2'},
                         {'id': 'network3-ipv4', 'ip_address': '10.0.1.5', 'link': 'vlan3',
                          'netmask': '255.255.255.248', 'type': 'ipv4',
                          'routes': [{'netmask': '255.255.255.255', 'network': '192.168.1.0',
                                      'gateway': '10.0.1.1'}],
                          'network_id': 'n3'}],
            'services': [{'type': 'dns', 'address': '1.1.1.191'},
                         {'type': 'dns', 'address': '1.1.1.4'}]},
        differ={('networkd', 'enp1s0', 'bond'): 'bond-member',
                ('networkd', 'enp1s0', 'dns'): 'bond-member',
                ('networkd', 'enp2s0', 'bond'): 'bond-member',
                ('networkd', 'enp2s0', 'dns'): 'bond-member',
                ('networkd', 'bond0', 'netdev'): 'netdev',
                ('networkd', 'bond0', 'match_mac'): 'virtual-match',
                ('networkd', 'bond0', 'vlans'): 'vlan-parent',
                ('networkd', 'bond0.602', 'netdev'): 'netdev',
                ('networkd', 'bond0.602', 'match_mac'): 'virtual-match',
                ('networkd', 'bond0.612', 'netdev'): 'netdev',
                ('networkd', 'bond0.612', 'match_mac'): 'virtual-match'}),
    'dns_services': dict(
        network_data={
            'links': [LINK_A, LINK_B],
            'networks': [{'id': 'network0', 'type': 'ipv4', 'link': LINK_A['id'],
                          'ip_address': '10.0.0.5/24', 'gateway': '10.0.0.1',
                          'dns_nameservers': ['10.0.0.3'], 'dns_search': 'corp.example',
                          'routes': [], 'network_id': 'n0'},
                         {'id': 'network1', 'type': 'ipv4_dhcp', 'link': LINK_B['id'],
                          'network_id': 'n1'}],
            'services': [{'type': 'dns', 'address': '10.0.0.2', 'search': 'example.org'},
                         {'type': 'dns', 'address': ['8.8.8.8', '2001:4860:4860::8888']}]},
        differ={}),
}


def render_cloudinit(network_data, macs, root):
    """cloud-init's files for `network_data` under `root`, as its ConfigDrive source and
    network stage would write them on a guest whose NICs are `macs`."""
    with mock.patch('cloudinit.net.get_ib_hwaddrs_by_interface', return_value={}):
        config = openstack.convert_net_json(copy.deepcopy(network_data), known_macs=macs)
    state = network_state.parse_net_config_data(config)
    with mock.patch('cloudinit.util.chownbyname'):  # the systemd-network user
        networkd.Renderer({}).render_network_state(state, target=str(root))
    eni.Renderer({'netrules_path': None}).render_network_state(state, target=str(root))


def render_ours(network_data, macs, root):
    doc = pathlib.Path(root) / 'network_data.json'
    doc.write_text(json.dumps(network_data))
    args = [RENDER, str(doc), str(root)] + ['%s=%s' % kv for kv in macs.items()]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError('%s failed (%d): %s' % (RENDER, proc.returncode, proc.stderr))


def ini_sections(text):
    """[(section, [(key, value), ...]), ...] in file order; a section name may repeat."""
    sections = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(('#', ';')):
            continue
        if line.startswith('['):
            sections.append((line.strip('[]'), []))
        else:
            key, _, value = line.partition('=')
            sections[-1][1].append((key.strip(), value.strip()))
    return sections


def as_bool(text):
    return text.lower() in ('1', 'yes', 'true', 'on', 'y', 't')


def cidr(text):
    return str(ipaddress.ip_interface(text))


def networkd_config(root):
    """Interface name -> what systemd-networkd configures on it, from ROOT/etc/systemd/network."""
    out = {}
    directory = pathlib.Path(root) / 'etc/systemd/network'
    netdevs = {}
    for path in sorted(directory.glob('*.netdev')):
        info = {}
        for section, items in ini_sections(path.read_text()):
            for key, value in items:
                info['%s.%s' % (section, key)] = value
        netdevs[info['NetDev.Name']] = info
    for path in sorted(directory.glob('*.network')):
        iface = dict(match_mac=None, mtu=None, dhcp='no', accept_ra=True, addresses=[],
                     routes=[], dns=[], domains=[], vlans=[], bond=None)
        name = None
        for section, items in ini_sections(path.read_text()):
            route = {}
            for key, value in items:
                if section == 'Match' and key == 'Name':
                    name = value
                elif section == 'Match' and key == 'MACAddress':
                    iface['match_mac'] = value.lower()
                elif section == 'Match' and key == 'Type':
                    # Type=ether narrows a MAC match to the NIC itself; the NIC with that
                    # MAC is an ethernet device, so it matches the same interface.
                    assert value == 'ether', value
                elif section == 'Link' and key == 'MTUBytes':
                    iface['mtu'] = int(value)
                elif section == 'Network' and key == 'DHCP':
                    iface['dhcp'] = value
                elif section == 'Network' and key == 'IPv6AcceptRA':
                    iface['accept_ra'] = as_bool(value)
                elif section == 'Network' and key == 'DNS':
                    iface['dns'] += value.split()
                elif section == 'Network' and key == 'Domains':
                    iface['domains'] += value.split()
                elif section == 'Network' and key == 'VLAN':
                    iface['vlans'].append(value)
                elif section == 'Network' and key == 'Bond':
                    iface['bond'] = value
                elif section == 'Address' and key == 'Address':
                    iface['addresses'].append(cidr(value))
                elif section == 'Route':
                    route[key] = value
                else:
                    raise AssertionError('%s: [%s] %s= not understood' % (path, section, key))
            if route:
                gateway = route['Gateway']
                default = '::/0' if ':' in gateway else '0.0.0.0/0'
                iface['routes'].append((str(ipaddress.ip_network(route.get('Destination',
                                                                           default))),
                                        gateway, route.get('Metric')))
        assert name, '%s: no Name= in [Match]' % path
        for key in ('addresses', 'routes', 'dns', 'domains', 'vlans'):
            iface[key] = sorted(set(iface[key]))
        iface['netdev'] = netdevs.pop(name, None)
        out[name] = iface
    assert not netdevs, 'a .netdev without a .network: %s' % netdevs
    return out


def route_from_command(words):
    """(destination, gateway, metric) from cloud-init's `route add|del ...` or our `ip -4|-6
    route add|del ...` words (after the hook name)."""
    if words[0] == 'ip':
        assert words[2:4] in (['route', 'add'], ['route', 'del']), words
        rest = words[4:]
        destination = rest[0]
        args = dict(zip(rest[1::2], rest[2::2]))
        return (str(ipaddress.ip_network(destination)), args['via'], args.get('metric'))
    assert words[:2] in (['route', 'add'], ['route', 'del']), words
    rest = words[2:]
    v6 = False
    destination = None
    gateway = metric = None
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == '-A':
            v6 = rest[i + 1] == 'inet6'
            i += 2
            continue
        if word in ('-net', '-host'):
            i += 1
            continue
        if word == 'default':
            destination = '::/0' if v6 else '0.0.0.0/0'
        elif word == 'gw':
            gateway = rest[i + 1]
            i += 1
        elif word == 'metric':
            metric = rest[i + 1]
            i += 1
        elif word not in ('||', 'true'):
            destination = word
        i += 1
    return (str(ipaddress.ip_network(destination)), gateway, metric)


def eni_config(root):
    """Interface name -> what ifupdown configures on it, from ROOT/etc/network/interfaces.
    Options that concern the interface (mtu, hwaddress, VLAN and bond settings) are gathered
    from all its stanzas; accept_ra counts only in an inet6 stanza, with ifupdown's default
    for the method when absent."""
    text = (pathlib.Path(root) / 'etc/network/interfaces').read_text()
    ifaces = {}
    autos = set()
    stanza = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        words = line.split()
        if words[0] == 'auto':
            autos.update(words[1:])
            continue
        if words[0] == 'iface':
            name, family, method = words[1:4]
            iface = ifaces.setdefault(name, dict(stanzas=[], attrs={}, routes=set(), down=set()))
            stanza = dict(family=family, method=method, options={})
            iface['stanzas'].append(stanza)
            continue
        key, value = words[0].replace('_', '-'), ' '.join(words[1:])
        if key in ('post-up', 'pre-down'):
            iface['routes' if key == 'post-up' else 'down'].add(route_from_command(words[1:]))
            continue
        if key in ('mtu', 'hwaddress', 'vlan-raw-device') or key.startswith('bond-'):
            if key == 'bond-mode' and value.isdigit():
                value = BOND_MODES[int(value)]
            iface['attrs'][key] = value
        elif key == 'vlan-id':
            pass  # ifupdown takes the VLAN id from the interface's name ("bond0.602")
        elif key == 'gateway':  # ifupdown adds the default route on up, removes it on down
            default = '::/0' if ':' in value else '0.0.0.0/0'
            iface['routes'].add((default, value, None))
            iface['down'].add((default, value, None))
        elif key == 'address':
            stanza['options'][key] = cidr(value)
        else:
            stanza['options'][key] = value
    out = {}
    for name, iface in ifaces.items():
        assert iface['down'] == iface['routes'], '%s: post-up adds %s, pre-down removes %s' % (
            name, iface['routes'], iface['down'])
        stanzas = []
        for s in iface['stanzas']:
            options = dict(s['options'])
            accept_ra = options.pop('accept-ra', None)
            if s['family'] == 'inet6':
                options['accept-ra'] = accept_ra or ENI_ACCEPT_RA_DEFAULT.get(s['method'])
            if s['family'] == 'inet6' and s['method'] == 'auto':
                options.setdefault('dhcp', '0')  # no stateless DHCPv6 unless asked
            stanzas.append((s['family'], s['method'], tuple(sorted(options.items()))))
        out[name] = dict(auto=name in autos, stanzas=sorted(stanzas), attrs=iface['attrs'],
                         routes=sorted(iface['routes'], key=repr))
    return out


def differences(theirs, ours, renderer):
    """{(renderer, interface, key): (cloud-init's, ours)} for every key that differs."""
    found = {}
    for name in sorted(set(theirs) | set(ours)):
        a, b = theirs.get(name), ours.get(name)
        if a is None or b is None:
            found[(renderer, name, 'interface')] = (a, b)
            continue
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                found[(renderer, name, key)] = (a.get(key), b.get(key))
    return found


class GuestNetworkVsCloudInit(unittest.TestCase):
    def check_case(self, name):
        case = CASES[name]
        with tempfile.TemporaryDirectory() as tmp:
            theirs, ours = pathlib.Path(tmp, 'cloud-init'), pathlib.Path(tmp, 'ours')
            theirs.mkdir()
            ours.mkdir()
            render_cloudinit(case['network_data'], MACS, theirs)
            render_ours(case['network_data'], MACS, ours)
            found = differences(networkd_config(theirs), networkd_config(ours), 'networkd')
            found.update(differences(eni_config(theirs), eni_config(ours), 'eni'))
        for key, reason in case['differ'].items():
            self.assertIn(reason, DIFFERENCES, key)
        unexpected = {k: v for k, v in found.items() if k not in case['differ']}
        gone = sorted(set(case['differ']) - set(found))
        self.assertEqual(unexpected, {}, 'differences from cloud-init no reason covers '
                         '(key: (cloud-init, ours))')
        self.assertEqual(gone, [], 'listed differences that no longer occur')

    def test_renderers_are_compared(self):
        """The comparison sees a change: ours against cloud-init's with one MTU altered."""
        case = copy.deepcopy(CASES['static_v4']['network_data'])
        with tempfile.TemporaryDirectory() as tmp:
            theirs, ours = pathlib.Path(tmp, 'cloud-init'), pathlib.Path(tmp, 'ours')
            theirs.mkdir()
            ours.mkdir()
            render_cloudinit(case, MACS, theirs)
            case['links'][0]['mtu'] = 1400
            render_ours(case, MACS, ours)
            found = differences(networkd_config(theirs), networkd_config(ours), 'networkd')
            found.update(differences(eni_config(theirs), eni_config(ours), 'eni'))
        self.assertEqual(found, {('networkd', 'ens3', 'mtu'): (1450, 1400),
                                 ('eni', 'ens3', 'attrs'): ({'mtu': '1450'}, {'mtu': '1400'})})


for _name in CASES:
    setattr(GuestNetworkVsCloudInit, 'test_' + _name,
            lambda self, n=_name: self.check_case(n))


def main():
    global RENDER
    argv = sys.argv[:1]
    args = iter(sys.argv[1:])
    RENDER = os.environ.get('GUEST_NETWORK_RENDER',
                            str(ROOT / 'build/asan/src/guest/guest_network_render'))
    for arg in args:
        if arg == '--render':
            RENDER = next(args, None)
        elif arg.startswith('--render='):
            RENDER = arg.split('=', 1)[1]
        else:
            argv.append(arg)
    if not RENDER or not os.access(RENDER, os.X_OK):
        sys.exit('need an executable guest_network_render: --render PATH or '
                 'GUEST_NETWORK_RENDER (got %r)' % RENDER)
    unittest.main(argv=argv)


if __name__ == '__main__':
    main()
