#!/usr/bin/python3
"""Real cloud-init (Debian 12, 22.4.2) reads config drives written by `metastack render`.

Run:  /usr/bin/python3 tests/integration/test_cloudinit_configdrive.py --metastack BINARY
      (or METASTACK_BIN=BINARY); other arguments go to unittest.
Debian's /usr/bin/python3 is required: cloud-init is imported from its dist-packages.

The drive is read as a directory, not as an ISO/VFAT image: the kernel here mounts neither, and
cloud-init runs the same read_config_drive() on the mount point of a real drive. The instance
documents are built below from one base dict; expectations come from the document, except the
network config, which is spelled out per document because it is cloud-init's translation.
"""
import base64
import copy
import functools
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from typing import NamedTuple
from unittest import mock

from cloudinit import helpers
from cloudinit.sources import DataSourceConfigDrive as configdrive_ds
from cloudinit.sources.helpers import openstack

METASTACK = os.environ.get("METASTACK_BIN")

KEYS = {
    "alice": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd8ePkl4iZ0Qm5a2Fj1nLq0m3rK7s5V0f9sXbq0J1c2"
             " alice@laptop",
    "bob": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7vbqajDhA6U2B2gK3Yp bob@desk",
    "ci": "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= ci@runner",
}
MACS = ["fa:16:3e:00:00:01", "fa:16:3e:00:00:02", "fa:16:3e:00:00:03"]
# convert_net_json names NICs from the guest's MAC table; this stands in for the guest's.
KNOWN_MACS = {mac: "eth%d" % i for i, mac in enumerate(MACS)}
V6_MASK = "ffff:ffff:ffff:ffff::"

BASE = {
    "uuid": "b65cee2f-8c69-4aeb-be2f-f79742548fc2",
    "name": "web-01",
    "hostname": "web-01",
    "project_id": "3d2b1fa1c2e84b6d9f4e0d7c9a6b5e41",
    "user_id": "9a8b7c6d5e4f40312a1b2c3d4e5f6a7b",
    "availability_zone": "nova",
    "launch_index": 0,
    "created_at": "2024-05-06T07:08:09Z",
    "public_keys": {"alice": KEYS["alice"]},
    "user_data": "#cloud-config\npackages:\n  - nginx\n",
    "meta": {"role": "web"},
    "files": [],
    "admin_pass": None,
    "password": None,
    "ec2": {"instance_id": "i-0000002a", "ami_id": "ami-00000003", "kernel_id": None,
            "ramdisk_id": None, "instance_type": "m1.small", "reservation_id": "r-7ux2ht9q",
            "security_groups": ["default", "web"], "public_ipv4": "203.0.113.10"},
    "block_devices": {"root_device_name": "/dev/vda", "default_ephemeral_device": None,
                      "default_swap_device": None, "volumes": []},
    "ports": [],
    "vendor_data": {},
    "devices": [],
}


def port(n, mtu, *subnets):
    return {"id": "%d1f8b2e6-3c4d-4e5f-8a9b-0c1d2e3f4a5b" % n, "mac": MACS[n],
            "network_id": "%d7e5a1b2-3d4e-4f50-9a8b-7c6d5e4f3a2b" % n, "network_name": "net%d" % n,
            "mtu": mtu, "vif_type": "ovs", "subnets": list(subnets)}


def subnet(n, cidr, gateway, ip, dhcp, dns=(), routes=(), v6_mode=None):
    s = {"id": "aa11bb22-cc33-4d44-8e55-ff66778899%02d" % n, "cidr": cidr, "gateway_ip": gateway,
         "dns_nameservers": list(dns), "enable_dhcp": dhcp,
         "host_routes": [{"destination": d, "nexthop": h} for d, h in routes], "ip_address": ip}
    if v6_mode:
        s["ipv6_address_mode"] = v6_mode
    return s


STATIC_V4 = subnet(1, "10.0.0.0/24", "10.0.0.1", "10.0.0.5", False, ["10.0.0.2", "8.8.8.8"],
                   [("192.168.100.0/24", "10.0.0.254")])
STATIC_V6 = subnet(2, "2001:db8:0:1::/64", "2001:db8:0:1::1", "2001:db8:0:1::5", False)
DHCP_V4 = subnet(3, "172.16.0.0/24", "172.16.0.1", "172.16.0.10", True, ["172.16.0.2"])
SLAAC_V6 = subnet(4, "2001:db8:0:2::/64", "2001:db8:0:2::1", "2001:db8:0:2:f816:3eff:fe00:2",
                  True, ["2001:db8:0:2::53"], v6_mode="slaac")
STATEFUL_V6 = subnet(5, "2001:db8:0:3::/64", "2001:db8:0:3::1", "2001:db8:0:3::10", True,
                     v6_mode="dhcpv6-stateful")


def route(net, mask, gw):
    return {"network": net, "netmask": mask, "gateway": gw}


def nameservers(*addrs):
    return [{"type": "nameserver", "address": a} for a in addrs]


def doc(**changes):
    d = copy.deepcopy(BASE)
    d.update(copy.deepcopy(changes))
    return d


class Case(NamedTuple):
    name: str
    doc: dict
    args: list  # extra `metastack render` arguments
    net_config: dict  # convert_net_json(network_data.json, KNOWN_MACS)
    networks: list  # (type, ip_address) of each network_data.json network, in order


CASES = [
    Case("full", doc(
        name="wéb-01 ✓ 🚀", public_keys=KEYS, availability_zone="az-1", launch_index=2,
        user_data="#cloud-config\nwrite_files:\n- path: /tmp/ü\n  content: 'héllo 🚀'\n",
        meta={"role": "web", "owner": "Zoë"}, admin_pass="Adm1nPassw0rd",
        files=[{"path": "/etc/motd", "contents": "Wélcome to wéb-01 🚀\n"},
               {"path": "/etc/empty.conf", "contents": ""},
               {"path": "/var/lib/blob.bin",
                "contents_b64": base64.b64encode(bytes(range(256))).decode()}],
        vendor_data={"cloud": "example", "motd": "ünïcode", "features": {"regions": ["r1"]}},
        ports=[port(0, 1450, STATIC_V4, STATIC_V6), port(1, 1500, DHCP_V4, SLAAC_V6),
               port(2, 9000, STATEFUL_V6)]), [],
        {"version": 1, "config": [
            {"type": "physical", "name": "eth0", "mac_address": MACS[0], "mtu": 1450,
             "accept-ra": False, "subnets": [
                 {"type": "static", "ipv4": True, "address": "10.0.0.5",
                  "netmask": "255.255.255.0",
                  "routes": [route("0.0.0.0", "0.0.0.0", "10.0.0.1"),
                             route("192.168.100.0", "255.255.255.0", "10.0.0.254")]},
                 {"type": "static6", "ipv6": True, "address": "2001:db8:0:1::5",
                  "netmask": V6_MASK, "routes": [route("::", "::", "2001:db8:0:1::1")]}]},
            # A subnet with a DHCP server nulls the link MTU (Nova's rule).
            {"type": "physical", "name": "eth1", "mac_address": MACS[1], "mtu": None,
             "subnets": [{"type": "dhcp4"},
                         {"type": "ipv6_slaac", "netmask": V6_MASK,
                          "routes": [route("::", "::", "2001:db8:0:2::1")]}]},
            {"type": "physical", "name": "eth2", "mac_address": MACS[2], "mtu": None,
             "accept-ra": True, "subnets": [
                 {"type": "ipv6_dhcpv6-stateful", "netmask": V6_MASK,
                  "routes": [route("::", "::", "2001:db8:0:3::1")]}]},
        ] + nameservers("10.0.0.2", "8.8.8.8", "172.16.0.2", "2001:db8:0:2::53")},
        [("ipv4", "10.0.0.5"), ("ipv6", "2001:db8:0:1::5"), ("ipv4_dhcp", None),
         ("ipv6_slaac", "2001:db8:0:2:f816:3eff:fe00:2"),
         ("ipv6_dhcpv6-stateful", "2001:db8:0:3::10")]),
    # user_data_b64 (gzip) wins over user_data; vendor data with a "cloud-init" key; bare hostname.
    Case("binary-userdata", doc(
        uuid="0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a", hostname="batch-7", name="batch-7",
        user_data="#cloud-config\nignored: true\n",
        user_data_b64=base64.b64encode(
            gzip.compress(b"#cloud-config\nruncmd: [[true]]\n\x00\xff", mtime=0)).decode(),
        public_keys={"bob": KEYS["bob"], "alice": KEYS["alice"]},
        vendor_data={"cloud-init": "#cloud-config\nruncmd: [[touch, /vd]]\n", "x": 1},
        ports=[port(0, 1500, DHCP_V4)]), ["--dhcp-domain", ""],
        {"version": 1, "config": [
            {"type": "physical", "name": "eth0", "mac_address": MACS[0], "mtu": None,
             "subnets": [{"type": "dhcp4"}]}] + nameservers("172.16.0.2")},
        [("ipv4_dhcp", None)]),
    # No user data, keys, files, ports, meta, AZ or vendor data; another DHCP domain.
    Case("minimal", doc(
        uuid="5f4e3d2c-1b0a-4987-8654-3210fedcba98", hostname="bare", name="bare",
        user_data=None, public_keys={}, meta={}, availability_zone=None,
        ec2=dict(BASE["ec2"], public_ipv4=None, security_groups=["default"])),
        ["--dhcp-domain", "example.org"], {"version": 1, "config": []}, []),
]


def fqdn(case):
    args = case.args
    domain = args[args.index("--dhcp-domain") + 1] if "--dhcp-domain" in args else "novalocal"
    return case.doc["hostname"] + ("." + domain if domain else "")


def user_data(d):
    """The bytes cloud-init should get, or '' (its default, a str) when there are none."""
    if "user_data_b64" in d:
        return base64.b64decode(d["user_data_b64"])
    return "" if d["user_data"] is None else d["user_data"].encode()


def injected_files(d):
    return {f["path"]: base64.b64decode(f["contents_b64"]) if "contents_b64" in f
            else f["contents"].encode() for f in d["files"]}


def first_ipv4(d):
    ips = [s["ip_address"] for p in d["ports"] for s in p["subnets"] if ":" not in s["cidr"]]
    return ips[0] if ips else None


def for_each_document(check_one):
    """Runs check_one(self, case) for every case, each in its own subTest."""
    @functools.wraps(check_one)
    def test(self):
        for case in CASES:
            with self.subTest(doc=case.name):
                check_one(self, case)
    return test


class CloudInitReadsConfigDrive(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="metastack-ci-cd-")
        cls.drives, cls.render_errors, cls.cache = {}, {}, {}
        for case in CASES:
            doc_path = os.path.join(cls.tmp, case.name + ".json")
            with open(doc_path, "w", encoding="utf-8") as f:
                json.dump(case.doc, f, ensure_ascii=False, indent=1)
            # <cloud_dir>/seed/config_drive is where DataSourceConfigDrive looks first.
            drive = os.path.join(cls.tmp, case.name, "cloud", "seed", "config_drive")
            os.makedirs(drive)
            cmd = [METASTACK, "render", doc_path, "--out", drive] + case.args
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            if proc.returncode != 0:
                cls.render_errors[case.name] = "%s -> exit %d: %s" % (
                    " ".join(cmd), proc.returncode, proc.stderr.strip())
            cls.drives[case.name] = drive

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def drive(self, case):
        if case.name in self.render_errors:
            self.fail("document %r: render failed: %s" % (case.name, self.render_errors[case.name]))
        return self.drives[case.name]

    def read(self, case):
        """read_config_drive(drive), once per document; callers get a deep copy."""
        if case.name not in self.cache:
            try:
                self.cache[case.name] = configdrive_ds.read_config_drive(self.drive(case))
            except (openstack.NonReadable, openstack.BrokenMetadata) as e:
                self.fail("document %r: cloud-init rejected the drive: %r" % (case.name, e))
        return copy.deepcopy(self.cache[case.name])

    def check(self, case, field, actual, expected):
        with self.subTest(doc=case.name, field=field):
            self.assertEqual(actual, expected, "document %r, field %s" % (case.name, field))

    @for_each_document
    def test_metadata(self, case):
        d, r = case.doc, self.read(case)
        md, keys = r["metadata"], d["public_keys"]
        table = [
            ("version", r["version"], 2),
            ("instance-id", md.get("instance-id"), d["uuid"]),
            ("uuid", md.get("uuid"), d["uuid"]),
            ("local-hostname", md.get("local-hostname"), fqdn(case)),
            ("name", md.get("name"), d["name"]),
            ("project_id", md.get("project_id"), d["project_id"]),
            ("availability_zone", md.get("availability_zone"), d["availability_zone"]),
            ("launch_index", md.get("launch_index"), d["launch_index"]),
            ("meta", md.get("meta", {}), d["meta"]),
            ("admin_pass", md.get("admin_pass"), d["admin_pass"]),
            # All keys, in document order (Nova would expose only the first).
            ("public_keys", md.get("public_keys", {}), keys),
            ("keys", md.get("keys", []),
             [{"name": n, "type": "ssh", "data": k} for n, k in keys.items()]),
            ("random_seed length", len(md.get("random_seed", b"")), 512),
            ("dsmode", r.get("dsmode"), d["meta"].get("dsmode")),
        ]
        for field, actual, expected in table:
            self.check(case, field, actual, expected)

    @for_each_document
    def test_user_data(self, case):
        self.check(case, "userdata", self.read(case)["userdata"], user_data(case.doc))

    @for_each_document
    def test_vendor_data(self, case):
        r, vd = self.read(case), case.doc["vendor_data"]
        self.check(case, "vendordata", r.get("vendordata"), vd)
        self.check(case, "vendordata2", r.get("vendordata2"), {"static": vd})

    @for_each_document
    def test_injected_files(self, case):
        self.check(case, "files", self.read(case)["files"], injected_files(case.doc))

    @for_each_document
    def test_network_config(self, case):
        nd = self.read(case).get("networkdata")
        if nd is None:
            self.fail("document %r: cloud-init read no network_data.json" % case.name)
        self.check(case, "networks (type, ip_address)",
                   [(n.get("type"), n.get("ip_address")) for n in nd.get("networks", [])],
                   case.networks)
        try:
            v1 = openstack.convert_net_json(nd, known_macs=KNOWN_MACS)
        except ValueError as e:
            v1 = "convert_net_json raised: %s" % e
        self.check(case, "convert_net_json v1 config", v1, case.net_config)

    @for_each_document
    def test_ec2_metadata(self, case):
        d, e = case.doc, case.doc["ec2"]
        em = self.read(case)["ec2-metadata"]
        ipv4 = first_ipv4(d)
        table = [
            ("instance-id", e["instance_id"]), ("ami-id", e["ami_id"]),
            ("kernel-id", e["kernel_id"]), ("ramdisk-id", e["ramdisk_id"]),
            ("ami-launch-index", d["launch_index"]), ("ami-manifest-path", "FIXME"),
            ("hostname", fqdn(case)), ("local-hostname", fqdn(case)),
            ("public-hostname", fqdn(case)), ("instance-type", e["instance_type"]),
            ("reservation-id", e["reservation_id"]),
            ("security-groups", e["security_groups"]),
            ("placement", {"availability-zone": d["availability_zone"]}),
            ("local-ipv4", ipv4),
            # Nova attaches the floating IP to the first IPv4 fixed IP.
            ("public-ipv4", (e["public_ipv4"] if ipv4 else None) or ""),
            ("instance-action", "none"),
        ]
        for field, expected in table:
            self.check(case, "ec2 " + field, em.get(field), expected)
        # Index N holds the N-th key of the document; Nova renders only "0".
        listed = em.get("public-keys", {})
        self.check(case, "ec2 public-keys/0 present", "0" in listed, bool(d["public_keys"]))
        key_list = list(d["public_keys"].values())
        for idx, entry in listed.items():
            self.check(case, "ec2 public-keys/%s/openssh-key" % idx, entry.get("openssh-key"),
                       key_list[int(idx)] if int(idx) < len(key_list) else "<no such key>")

    @for_each_document
    def test_configdrive_reader(self, case):
        reader = openstack.ConfigDriveReader(self.drive(case))
        # Newest version 22.4.2 knows; 2020-10-14 is unknown to it.
        self.check(case, "selected version", reader._find_working_version(), "2018-08-27")
        self.check(case, "ConfigDriveReader.read_v2() == read_config_drive()",
                   reader.read_v2(), self.read(case))

    @for_each_document
    def test_datasource(self, case):
        """The DataSourceConfigDrive object a booting guest uses, fed from its seed dir.

        No platform/DMI check is involved: DataSourceConfigDrive (unlike DataSourceOpenStack)
        has none, and the seed dir is searched before /config-drive and any device.
        """
        d, cloud_dir = case.doc, os.path.dirname(os.path.dirname(self.drive(case)))
        paths = helpers.Paths({"cloud_dir": cloud_dir,
                               "run_dir": os.path.join(cloud_dir, "run")})
        ds = configdrive_ds.DataSourceConfigDrive({}, None, paths)
        # On first boot cloud-init writes injected files to / (we run as root): capture.
        with mock.patch.object(configdrive_ds, "write_injected_files") as write_files:
            self.check(case, "ds.get_data()", ds.get_data(), True)
        self.check(case, "first-boot injected files",
                   [c.args for c in write_files.call_args_list], [(injected_files(d),)])
        ds.known_macs = KNOWN_MACS
        with open(os.path.join(paths.run_dir, "instance-data.json"), encoding="utf-8") as f:
            v1 = json.load(f)["v1"]
        short = d["hostname"]
        table = [
            ("ds.subplatform", ds.subplatform, "seed-dir (%s)" % self.drive(case)),
            ("ds.get_instance_id()", ds.get_instance_id(), d["uuid"]),
            ("ds.get_hostname()", ds.get_hostname().hostname, short),
            ("ds.get_hostname(fqdn=True)", ds.get_hostname(fqdn=True).hostname, fqdn(case)),
            ("ds.get_public_ssh_keys()", ds.get_public_ssh_keys(),
             list(d["public_keys"].values())),
            ("ds.availability_zone", ds.availability_zone, d["availability_zone"]),
            ("ds.metadata project_id", ds.metadata.get("project_id"), d["project_id"]),
            ("ds.userdata_raw", ds.userdata_raw, user_data(d)),
            # Only a top-level "cloud-init" key of vendor data is used.
            ("ds.vendordata_raw", ds.vendordata_raw, d["vendor_data"].get("cloud-init")),
            ("ds.files", ds.files, injected_files(d)),
            ("ds.network_config", ds.network_config, case.net_config),
            ("ds.ec2_metadata instance-id", (ds.ec2_metadata or {}).get("instance-id"),
             d["ec2"]["instance_id"]),
            ("instance-data v1 instance_id", v1.get("instance_id"), d["uuid"]),
            ("instance-data v1 local_hostname", v1.get("local_hostname"), short),
            ("instance-data v1 availability_zone", v1.get("availability_zone"),
             d["availability_zone"]),
            ("instance-data v1 public_ssh_keys", v1.get("public_ssh_keys"),
             list(d["public_keys"].values())),
        ]
        for field, actual, expected in table:
            self.check(case, field, actual, expected)


def main():
    global METASTACK
    argv = sys.argv[:1]
    args = iter(sys.argv[1:])
    for arg in args:
        if arg == "--metastack":
            METASTACK = next(args, None)
        elif arg.startswith("--metastack="):
            METASTACK = arg.split("=", 1)[1]
        else:
            argv.append(arg)
    if not METASTACK or not os.access(METASTACK, os.X_OK):
        sys.exit("need an executable metastack: --metastack PATH or METASTACK_BIN (got %r)"
                 % METASTACK)
    unittest.main(argv=argv)


if __name__ == "__main__":
    main()
