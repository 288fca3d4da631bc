#!/usr/bin/python3
"""cloud-init's side of bench/guest_bench.sh: what cloud-init does on first boot with the same
data metastack-guest applies, with cloud-init's own code, into a root directory.

    cloudinit_guest.py configdrive DRIVE_DIR ROOT    # DataSourceConfigDrive on a mounted drive
    cloudinit_guest.py openstack URL ROOT            # DataSourceOpenStack against the service

Read: the datasource's get_data() (cloud-init's ConfigDrive or OpenStack source, as its init
stage runs it), then applied into ROOT with the functions its modules use: the host name
(/etc/hostname, /etc/hosts), the SSH keys (ssh_util.update_authorized_keys), the injected files
(mode 0660), the user data and instance id kept, and the network configuration rendered by its
networkd and eni renderers. Not counted: systemd's start of cloud-init's four stages, its module
frequency bookkeeping and logging setup, which only make a real boot slower than this; and for
the drive, mounting it (metastack-guest reads the image in place). Bypassed as the integration
tests bypass them: the platform check (detect_openstack) and the guest's NIC table.
"""
import os
import sys
import tempfile
from unittest import mock

from cloudinit import helpers, ssh_util, util
from cloudinit.net import eni, network_state, networkd
from cloudinit.sources import DataSourceConfigDrive as ds_configdrive
from cloudinit.sources import DataSourceOpenStack as ds_openstack
from cloudinit.sources.helpers import openstack as helpers_openstack

MACS = {'fa:16:3e:12:34:56': 'eth0'}


def read(mode, source, tmp):
    paths = helpers.Paths({'cloud_dir': tmp, 'run_dir': os.path.join(tmp, 'run')})
    if mode == 'configdrive':
        os.makedirs(os.path.join(tmp, 'seed'))
        os.symlink(source, os.path.join(tmp, 'seed', 'config_drive'))
        ds = ds_configdrive.DataSourceConfigDrive({}, None, paths)
        with mock.patch.object(ds_configdrive, 'write_injected_files'):
            found = ds.get_data()
    else:
        real = helpers_openstack.ec2.get_instance_metadata

        def at_base(*args, **kwargs):
            kwargs['metadata_address'] = source
            return real(*args, **kwargs)
        cfg = {'datasource_list': ['OpenStack'], 'datasource': {'OpenStack': {'metadata_urls': [source], 'max_wait': -1,
                                            'timeout': 5, 'retries': 2}}}
        ds = ds_openstack.DataSourceOpenStack(cfg, None, paths)
        with mock.patch.object(ds_openstack, 'detect_openstack', return_value=True), \
                mock.patch.object(helpers_openstack.ec2, 'get_instance_metadata', at_base):
            found = ds.get_data()
    if not found:
        sys.exit('cloud-init found no data at ' + source)
    return ds


def apply(ds, root):
    fqdn = ds.get_hostname(fqdn=True).hostname
    short = ds.get_hostname().hostname
    util.write_file(os.path.join(root, 'etc/hostname'), short + '\n')
    hosts = os.path.join(root, 'etc/hosts')
    old = util.load_file(hosts) if os.path.exists(hosts) else '127.0.0.1\tlocalhost\n'
    lines = [l for l in old.splitlines() if not l.startswith('127.0.1.1')]
    util.write_file(hosts, '\n'.join(lines + ['127.0.1.1\t%s %s' % (fqdn, short)]) + '\n')
    keys_path = os.path.join(root, 'root/.ssh/authorized_keys')
    old_keys = ssh_util.parse_authorized_keys([keys_path])
    util.ensure_dir(os.path.dirname(keys_path), mode=0o700)
    parser = ssh_util.AuthKeyLineParser()  # as ssh_util.setup_user_keys parses them
    keys = [parser.parse(str(k)) for k in ds.get_public_ssh_keys()]
    content = ssh_util.update_authorized_keys(old_keys, keys)
    util.write_file(keys_path, content, mode=0o600, preserve_mode=True)
    for path, content in (ds.files or {}).items():
        util.write_file(os.path.join(root, path.lstrip('/')), content, mode=0o660)
    state = os.path.join(root, 'var/lib/cloud/instance')
    util.write_file(os.path.join(state, 'user-data.txt'), ds.get_userdata_raw() or b'', 0o600)
    util.write_file(os.path.join(state, 'instance-id'), ds.get_instance_id() + '\n')
    with mock.patch('cloudinit.net.get_interfaces_by_mac', return_value=MACS):
        config = ds.network_config
    state = network_state.parse_net_config_data(config)
    networkd.Renderer({}).render_network_state(state, target=root)
    eni.Renderer({}).render_network_state(state, target=root)


def main():
    mode, source, root = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as tmp:
        apply(read(mode, source, tmp), root)


if __name__ == '__main__':
    main()
