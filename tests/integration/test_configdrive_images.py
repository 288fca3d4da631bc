#!/usr/bin/python3
"""`metastack configdrive build` images, read back by everything that reads config drives.

Run:  /usr/bin/python3 tests/integration/test_configdrive_images.py --metastack BINARY
      (or METASTACK_BIN=BINARY); other arguments go to unittest.
Debian's /usr/bin/python3 is required: cloud-init is imported from its dist-packages.

Readers: blkid (label and type), isoinfo (primary, Joliet and Rock Ridge names, compared with a
drive genisoimage makes from the same tree with Nova's flags), xorriso and mtools (contents,
byte for byte against `metastack render`'s tree), fsck.fat, cloud-init (read_config_drive on the
unpacked tree, and device discovery through a loop device), and a real Linux kernel in QEMU
that mounts each image and prints its meta_data.json.

Why a QEMU guest: this machine's kernel has no iso9660 or vfat driver, so a loop MOUNT of an
image is refused here. Loop attach and blkid work, which is all cloud-init's device discovery
(find_candidate_devs) needs; mounting is proven in the guest (qemu_guest.py).
"""
import base64
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import yaml
from cloudinit import helpers, util
from cloudinit.net import network_state
from cloudinit.sources import DataSourceConfigDrive as configdrive_ds
from cloudinit.sources import DataSourceNoCloud as nocloud_ds
from cloudinit.sources.helpers import openstack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_guest  # noqa: E402

METASTACK = os.environ.get("METASTACK_BIN")
SEED = "integration-seed"
MACS = ["fa:16:3e:00:00:01", "fa:16:3e:00:00:02"]

DOC = {
    "uuid": "c0ffee11-2222-4333-8444-555566667777",
    "name": "cd-01", "hostname": "cd-01",
    "project_id": "3d2b1fa1c2e84b6d9f4e0d7c9a6b5e41", "user_id": "9a8b7c6d5e4f40312a1b2c3d4e5f6a7b",
    "availability_zone": "az-1", "launch_index": 0, "created_at": "2024-05-06T07:08:09Z",
    "public_keys": {"alice": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd8ePkl4iZ0Qm5a alice@laptop"},
    "user_data": "#cloud-config\nwrite_files:\n- path: /tmp/\u00fc\n  content: 'h\u00e9llo'\n",
    "meta": {"role": "drive"}, "admin_pass": "Adm1n",
    "files": [{"path": "/etc/motd", "contents": "W\u00e9lcome \U0001F680\n"},
              {"path": "/etc/empty.conf", "contents": ""},
              {"path": "/var/lib/blob.bin", "contents_b64": base64.b64encode(bytes(range(256))).decode()}],
    "ec2": {"instance_id": "i-0000002a", "ami_id": "ami-00000003", "kernel_id": None,
            "ramdisk_id": None, "instance_type": "m1.small", "reservation_id": "r-7ux2ht9q",
            "security_groups": ["default"], "public_ipv4": None},
    "block_devices": {"root_device_name": "/dev/vda", "volumes": []},
    "ports": [
        {"id": "1f8b2e6a-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "mac": MACS[0],
         "network_id": "7e5a1b2c-3d4e-4f50-9a8b-7c6d5e4f3a2b", "network_name": "private",
         "mtu": 1450, "vif_type": "ovs",
         "subnets": [{"id": "aa11", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1",
                      "dns_nameservers": ["10.0.0.2"], "enable_dhcp": False,
                      "host_routes": [{"destination": "192.168.0.0/16", "nexthop": "10.0.0.254"}],
                      "ip_address": "10.0.0.5"},
                     {"id": "bb22", "cidr": "2001:db8:0:1::/64", "gateway_ip": "2001:db8:0:1::1",
                      "enable_dhcp": False, "ip_address": "2001:db8:0:1::5"}]},
        {"id": "2f8b2e6a-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "mac": MACS[1],
         "network_id": "8e5a1b2c-3d4e-4f50-9a8b-7c6d5e4f3a2b", "network_name": "dhcp",
         "mtu": 1500, "vif_type": "ovs",
         "subnets": [{"id": "cc33", "cidr": "172.16.0.0/24", "gateway_ip": "172.16.0.1",
                      "enable_dhcp": True, "ip_address": "172.16.0.10"}]}],
    "vendor_data": {"cloud-init": "#cloud-config\nruncmd: [[touch, /vd]]\n"},
    "devices": [],
}
FQDN = "cd-01.novalocal"
# (name, --format, extra flags, blkid TYPE, label)
IMAGES = [
    ("drive.iso", "iso", [], "iso9660", "config-2"),
    ("drive.img", "vfat", [], "vfat", "config-2"),
    ("seed.iso", "nocloud", [], "iso9660", "cidata"),
    ("seed.img", "nocloud-vfat", ["--size", "4"], "vfat", "cidata"),
]


def run(cmd, env=None, check=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s -> exit %d\n%s%s" % (" ".join(cmd), p.returncode, p.stdout,
                                                      p.stderr))
    return p


def build(out, fmt="iso", extra=(), env=None, seed=SEED, doc_path=None):
    cmd = [METASTACK, "configdrive", "build", "-f", doc_path or DOC_PATH, "-o", out,
           "--format", fmt] + list(extra)
    if seed is not None:
        cmd += ["--seed", seed]
    return run(cmd, env=env)


def tree(root):
    """{relative path: bytes} of every file under root."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def without_random_seed(files):
    """meta_data.json parsed, random_seed (checked: 512 bytes; none before 2013-04-04) dropped;
    other files as bytes."""
    out = {}
    for path, data in files.items():
        if path.endswith("/meta_data.json"):
            md = json.loads(data)
            if "2012-08-10" not in path:
                assert len(base64.b64decode(md.pop("random_seed"))) == 512, path
            out[path] = md
        else:
            out[path] = data
    return out


def names(listing):
    """isoinfo -l output reduced to directory headers and entry names (no sizes, dates, extents)."""
    return [line if line.startswith("Directory listing") else re.sub(r"^.*\]\s+", "", line)
            for line in listing.splitlines() if line.strip()]


DOC_PATH = None


class Images(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        global DOC_PATH
        cls.tmp = tempfile.mkdtemp(prefix="metastack-cd-img-")
        DOC_PATH = cls.path("doc.json")
        with open(DOC_PATH, "w", encoding="utf-8") as f:
            json.dump(DOC, f, ensure_ascii=False)
        start = time.monotonic()
        for name, fmt, extra, _, _ in IMAGES:
            build(cls.path(name), fmt, extra)
        cls.build_seconds = (time.monotonic() - start) / len(IMAGES)
        run([METASTACK, "render", DOC_PATH, "--out", cls.path("render")])
        cls.rendered = tree(cls.path("render"))
        # Nova's drive: genisoimage over the rendered tree, with nova.virt.configdrive's flags.
        run(["genisoimage", "-o", cls.path("nova.iso"), "-ldots", "-allow-lowercase",
             "-allow-multidot", "-l", "-publisher", "metastack", "-quiet", "-J", "-r",
             "-V", "config-2", cls.path("render")])
        cls.extracted = {}
        for name in ("drive.iso", "seed.iso"):
            dest = cls.path(name + ".x")
            run(["xorriso", "-osirrox", "on", "-indev", cls.path(name), "-extract", "/", dest])
            cls.extracted[name] = dest
        for name in ("drive.img", "seed.img"):
            dest = cls.path(name + ".x")
            os.makedirs(dest)
            run(["mcopy", "-s", "-n", "-i", cls.path(name), "::*", dest + "/"])
            cls.extracted[name] = dest
        cls.loops = []

    @classmethod
    def tearDownClass(cls):
        for dev in cls.loops:
            subprocess.run(["losetup", "-d", dev], capture_output=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def path(cls, name):
        return os.path.join(cls.tmp, name)

    def attach(self, image):
        """A read-only loop device for `image`, detached when the class ends (even on failure)."""
        dev = run(["losetup", "-f", "--show", "-r", image]).stdout.strip()
        type(self).loops.append(dev)
        return dev

    # --- what blkid, isoinfo, xorriso, mtools and fsck.fat see -------------------------------
    def test_blkid_reports_label_and_type(self):
        for name, _, _, fs_type, label in IMAGES:
            with self.subTest(image=name):
                out = run(["blkid", "-p", "-o", "export", self.path(name)]).stdout
                fields = dict(l.split("=", 1) for l in out.splitlines() if "=" in l)
                self.assertEqual((fields.get("TYPE"), fields.get("LABEL")), (fs_type, label))

    def test_iso_names_match_genisoimage(self):
        """Primary (8.3-ish), Joliet and Rock Ridge names and their order, as Nova's drive."""
        for flag in ([], ["-J"], ["-R"]):
            with self.subTest(namespace=flag or "primary"):
                ours = names(run(["isoinfo", "-i", self.path("drive.iso"), "-l"] + flag).stdout)
                nova = names(run(["isoinfo", "-i", self.path("nova.iso"), "-l"] + flag).stdout)
                self.assertEqual(ours, nova)
        pvd = run(["isoinfo", "-d", "-i", self.path("drive.iso")]).stdout
        for line in ("System id: LINUX", "Volume id: config-2", "Publisher id: metastack",
                     "Joliet with UCS level 3 found", "Rock Ridge signatures version 1 found"):
            self.assertIn(line + "\n", pvd)

    def test_xorriso_lists_the_rendered_tree(self):
        out = run(["xorriso", "-indev", self.path("drive.iso"), "-find", "/", "-type", "f"]).stdout
        listed = {line.strip("'")[1:] for line in out.splitlines() if line.startswith("'/")}
        self.assertEqual(listed, set(self.rendered))

    def test_contents_equal_render_byte_for_byte(self):
        want = without_random_seed(self.rendered)
        for name in ("drive.iso", "drive.img"):
            with self.subTest(image=name):
                got = tree(self.extracted[name])
                self.assertEqual(without_random_seed(got), want)
                # Same seed, same random_seed: the two formats carry identical files.
                self.assertEqual(got, tree(self.extracted["drive.iso"]))

    def test_fsck_fat_finds_nothing_to_fix(self):
        for name in ("drive.img", "seed.img"):
            with self.subTest(image=name):
                p = run(["fsck.fat", "-n", "-v", self.path(name)], check=False)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                self.assertNotRegex(p.stdout + p.stderr, r"(?i)warning|fix|differ|bad|invalid")

    def test_mtools_shows_long_and_short_names(self):
        out = run(["mdir", "-i", self.path("drive.img"), "::/openstack/latest"]).stdout
        self.assertRegex(out, r"META_D~1 JSO\s+\d+ .* meta_data\.json")
        self.assertRegex(out, r"VENDOR~2 JSO\s+\d+ .* vendor_data2\.json")
        self.assertIn("Volume in drive : is config-2", out)

    # --- reproducibility --------------------------------------------------------------------
    def test_rebuilds_are_byte_identical(self):
        for name, fmt, extra, _, _ in IMAGES:
            with self.subTest(image=name):
                again = self.path("again-" + name)
                build(again, fmt, extra)
                with open(again, "rb") as a, open(self.path(name), "rb") as b:
                    self.assertTrue(a.read() == b.read(), "%s differs from its rebuild" % name)

    def test_source_date_epoch_sets_time_and_seed(self):
        env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")  # 2023-11-14T22:13:20Z
        build(self.path("sde1.iso"), env=env, seed=None)
        time.sleep(1.1)
        build(self.path("sde2.iso"), env=env, seed=None)
        with open(self.path("sde1.iso"), "rb") as a, open(self.path("sde2.iso"), "rb") as b:
            self.assertTrue(a.read() == b.read())
        pvd = run(["isoinfo", "-d", "-i", self.path("sde1.iso")]).stdout
        self.assertIn("Volume id: config-2", pvd)
        self.assertEqual(run(["blkid", "-p", "-o", "value", "-s", "UUID", self.path("sde1.iso")])
                         .stdout.strip(), "2023-11-14-22-13-20-00")
        self.assertEqual(run(["blkid", "-p", "-o", "value", "-s", "UUID", self.path("drive.iso")])
                         .stdout.strip(), "2024-05-06-07-08-09-00")  # created_at

    def test_without_a_seed_only_random_seed_differs(self):
        env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
        build(self.path("os1.img"), "vfat", env=env, seed=None)
        build(self.path("os2.img"), "vfat", env=env, seed=None)
        trees = []
        for n in ("os1.img", "os2.img"):
            dest = self.path(n + ".x")
            os.makedirs(dest)
            run(["mcopy", "-s", "-n", "-i", self.path(n), "::*", dest + "/"])
            trees.append(tree(dest))
        self.assertNotEqual(trees[0], trees[1])
        self.assertEqual(without_random_seed(trees[0]), without_random_seed(trees[1]))

    # --- cloud-init ---------------------------------------------------------------------------
    def test_cloudinit_reads_the_unpacked_drives(self):
        for name in ("drive.iso", "drive.img"):
            with self.subTest(image=name):
                r = configdrive_ds.read_config_drive(self.extracted[name])
                md = r["metadata"]
                self.assertEqual(md["instance-id"], DOC["uuid"])
                self.assertEqual(md["local-hostname"], FQDN)
                self.assertEqual(len(md["random_seed"]), 512)
                self.assertEqual(r["userdata"], DOC["user_data"].encode())
                self.assertEqual(r["files"]["/var/lib/blob.bin"], bytes(range(256)))
                self.assertEqual(r["ec2-metadata"]["instance-id"], "i-0000002a")
                v1 = openstack.convert_net_json(
                    r["networkdata"], known_macs={m: "eth%d" % i for i, m in enumerate(MACS)})
                self.assertEqual([c.get("name") for c in v1["config"][:2]], ["eth0", "eth1"])

    def test_cloudinit_finds_the_drives_by_label(self):
        """find_candidate_devs() (blkid -tLABEL=config-2 / -tTYPE=...) lists each loop device."""
        for name in ("drive.iso", "drive.img"):
            with self.subTest(image=name):
                dev = self.attach(self.path(name))
                self.assertIn(dev, configdrive_ds.find_candidate_devs())

    def test_cloudinit_nocloud_finds_and_reads_the_seeds(self):
        paths = helpers.Paths({"cloud_dir": self.path("ci"), "run_dir": self.path("ci-run")})
        ds = nocloud_ds.DataSourceNoCloud({}, None, paths)
        for name in ("seed.iso", "seed.img"):
            with self.subTest(image=name):
                dev = self.attach(self.path(name))
                self.assertIn(dev, ds._get_devices("cidata"))
                seeded = util.pathprefix2dict(
                    self.extracted[name], required=["user-data", "meta-data"],
                    optional=["vendor-data", "network-config"])
                md = yaml.safe_load(seeded["meta-data"])
                self.assertEqual(md, {"instance-id": DOC["uuid"], "local-hostname": FQDN,
                                      "availability-zone": "az-1",
                                      "public-keys": list(DOC["public_keys"].values())})
                self.assertEqual(seeded["user-data"], DOC["user_data"].encode())
                self.assertEqual(seeded["vendor-data"], DOC["vendor_data"]["cloud-init"].encode())
                net = yaml.safe_load(seeded["network-config"])
                state = network_state.parse_net_config_data(net)
                ifaces = {i["name"]: i for i in state.iter_interfaces()}
                self.assertEqual(sorted(ifaces), ["eth0", "eth1"])
                self.assertEqual(ifaces["eth0"]["mac_address"], MACS[0])
                self.assertEqual(ifaces["eth0"]["mtu"], 1450)
                addresses = [(s.get("address"), s.get("prefix"))
                             for s in ifaces["eth0"]["subnets"]]
                self.assertEqual(addresses, [("10.0.0.5", 24), ("2001:db8:0:1::5", 64)])
                self.assertEqual(ifaces["eth0"]["subnets"][0]["routes"][1],
                                 {"network": "192.168.0.0", "prefix": 16,
                                  "netmask": "255.255.0.0", "gateway": "10.0.0.254"})
                self.assertEqual([s["type"] for s in ifaces["eth1"]["subnets"]], ["dhcp4"])

    # --- the command line -----------------------------------------------------------------------
    def test_failures_write_nothing(self):
        p = run([METASTACK, "configdrive", "build", "-f", DOC_PATH, "-o",
                 self.path("missing/x.iso")], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr, "metastack: %s: cannot create a temporary file in %s: No such "
                         "file or directory\n" % (self.path("missing/x.iso"),
                                                  self.path("missing")))
        p = run([METASTACK, "configdrive", "build", "-f", DOC_PATH, "-o", self.path("t.img"),
                 "--format", "vfat", "--size", "1", "--vendor-data", DOC_PATH], check=False)
        self.assertEqual(p.returncode, 0, p.stderr)  # fits: the files are ~40 KiB
        big = copy.deepcopy(DOC)
        big["files"] = [{"path": "/f%d" % i, "contents": "x" * 1000000} for i in range(2)]
        with open(self.path("big.json"), "w") as f:
            json.dump(big, f)
        p = run([METASTACK, "configdrive", "build", "-f", self.path("big.json"), "-o",
                 self.path("big.img"), "--format", "vfat", "--size", "1"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stderr, r"^metastack: the files need \d+ clusters of 512 bytes but a "
                                   r"1 MiB FAT12 image has 2003 free\n$")
        self.assertFalse([n for n in os.listdir(self.tmp) if n.startswith(".big.img")])
        self.assertFalse(os.path.exists(self.path("big.img")))

    def test_build_from_the_store(self):
        store = "sqlite:" + self.path("store.db")
        for port in DOC["ports"]:
            p = run([METASTACK, "network", "create", port["network_id"], "--store", store,
                     "--project", DOC["project_id"]], check=False)
            if p.returncode != 0 and "unsupported store URL" in p.stderr:
                self.skipTest("this build's store has no SQLite yet")
            self.assertEqual(p.returncode, 0, p.stderr)
        run([METASTACK, "instance", "create", "-f", DOC_PATH, "--store", store])
        run([METASTACK, "configdrive", "build", DOC["uuid"], "--store", store, "-o",
             self.path("from-store.iso"), "--seed", SEED])
        with open(self.path("from-store.iso"), "rb") as a, open(self.path("drive.iso"), "rb") as b:
            self.assertTrue(a.read() == b.read())


class RealKernelMountsImages(unittest.TestCase):
    """Debian's cloud kernel in QEMU finds each image by label, mounts it and prints a file."""
    MODULES = ["isofs", "sr_mod", "ata_piix", "vfat", "nls_cp437", "nls_ascii", "nls_utf8",
               "virtio_pci", "virtio_blk"]

    @classmethod
    def setUpClass(cls):
        cls.guest = qemu_guest.Guest.find()
        if cls.guest is None:
            raise unittest.SkipTest(qemu_guest.Guest.missing_reason())
        cls.tmp = tempfile.mkdtemp(prefix="metastack-cd-qemu-")
        with open(os.path.join(cls.tmp, "doc.json"), "w", encoding="utf-8") as f:
            json.dump(DOC, f, ensure_ascii=False)
        cls.doc = os.path.join(cls.tmp, "doc.json")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def boot(self, image, fmt, label, fstype, drive, files, extra=()):
        path = os.path.join(self.tmp, image)
        build(path, fmt, extra, doc_path=self.doc)
        work = os.path.join(self.tmp, image + ".guest")
        os.makedirs(work)
        init = qemu_guest.mount_and_print_init(label, fstype, files)
        initrd = self.guest.build_initramfs(work, init, self.MODULES)
        result = self.guest.boot(initrd, [["-drive", drive % path]], timeout=90)
        sys.stderr.write("\n  QEMU boot + mount of %s: %.1f s " % (image, result.seconds))
        self.assertIn("=====MOUNTED=====", result.output, result.output[-3000:])
        return path, result

    def expect_listing(self, result, paths):
        listing = result.between("=====BEGIN LISTING=====", "=====END LISTING=====")
        self.assertEqual(sorted(l[2:] for l in listing.splitlines()), sorted(paths))

    def check_config_drive(self, image, fmt, fstype, drive, read_back):
        md_path = "openstack/latest/meta_data.json"
        path, result = self.boot(image, fmt, "config-2", fstype, drive, [md_path])
        printed = result.between("=====BEGIN %s=====" % md_path, "=====END %s=====" % md_path)
        rendered = os.path.join(self.tmp, image + ".tree")
        run([METASTACK, "render", self.doc, "--out", rendered])
        self.expect_listing(result, tree(rendered))
        # Exactly the bytes in the image (as isoinfo or mtools read them), random_seed included.
        self.assertEqual(printed, run(read_back(path, md_path)).stdout)
        md = json.loads(printed)
        self.assertEqual((md["uuid"], md["hostname"]), (DOC["uuid"], FQDN))

    def test_iso_as_ide_cdrom(self):
        self.check_config_drive(
            "drive.iso", "iso", "iso9660", "file=%s,media=cdrom,if=ide",
            lambda image, p: ["isoinfo", "-R", "-i", image, "-x", "/" + p])

    def test_vfat_as_virtio_disk(self):
        self.check_config_drive(
            "drive.img", "vfat", "vfat", "file=%s,format=raw,if=virtio,readonly=on",
            lambda image, p: ["mtype", "-i", image, "::/" + p])

    def test_nocloud_iso(self):
        _, result = self.boot("seed.iso", "nocloud", "cidata", "iso9660",
                              "file=%s,media=cdrom,if=ide", ["meta-data"])
        self.expect_listing(result, ["meta-data", "user-data", "vendor-data", "network-config"])
        md = yaml.safe_load(result.between("=====BEGIN meta-data=====", "=====END meta-data====="))
        self.assertEqual((md["instance-id"], md["local-hostname"]), (DOC["uuid"], FQDN))


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
