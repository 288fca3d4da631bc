#!/usr/bin/python3
"""`metastack configdrive build` in every disk container (--disk-format, or the output's
extension): qcow2, VHD (QEMU's "vpc"), VHDX and VMDK, each around an ISO9660 drive and a 64 MiB
VFAT drive, proven with QEMU's own tools and a real kernel:

  * `qemu-img info` names the format and the exact virtual size of the raw drive;
  * `qemu-img check` finds no error and no leak (qcow2, VHDX, VMDK; QEMU has no check for VHD);
  * `qemu-img convert -O raw` gives back exactly the raw drive (`--disk-format raw`, same --seed);
  * one QEMU boot (tests/integration/qemu_guest.py) with all eight attached as read-only virtio
    disks (`-drive file=...,format=<qemu name>,if=virtio,readonly=on`), each mounted by Debian's
    cloud kernel, which prints its meta_data.json: the raw drive's, byte for byte.
Also: rebuilds are byte-identical, the files are sparse, and --libvirt-xml writes a valid
<disk> with the container's driver type (refused for VHDX, which libvirt has no type for).

Run:  /usr/bin/python3 tests/integration/test_disk_formats.py --metastack BINARY
Packages: qemu-utils (qemu-img), qemu-system-x86, linux-image-cloud-amd64, busybox-static,
genisoimage (isoinfo), mtools, libvirt-clients (scripts/setup.sh).
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, metastack_binary  # noqa: E402
import libvirt_domain  # noqa: E402
import qemu_guest  # noqa: E402

METASTACK = metastack_binary()
EXAMPLE = ROOT / 'examples' / 'instance.json'
UUID = 'b65cee2f-8c69-4aeb-be2f-f79742548fc2'
SEED = 'disk-formats-seed'
MD = 'openstack/latest/meta_data.json'
# (--disk-format, extension, qemu-img's name, whether qemu-img can check it)
FORMATS = [('qcow2', 'qcow2', 'qcow2', True), ('vhd', 'vhd', 'vpc', False),
           ('vhdx', 'vhdx', 'vhdx', True), ('vmdk', 'vmdk', 'vmdk', True)]
# (--format, raw image name, file system)
LAYOUTS = [('iso', 'drive.iso', 'iso9660'), ('vfat', 'drive.img', 'vfat')]


def run(cmd, check=True):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError('%s: exit %d\n%s' % (' '.join(map(str, cmd)), r.returncode,
                                                  r.stderr.decode(errors='replace')))
    return r


def build(out, layout, extra=()):
    return run([METASTACK, 'configdrive', 'build', '-f', EXAMPLE, '-o', out, '--format', layout,
                '--seed', SEED] + list(extra))


class DiskFormats(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        for tool in ('qemu-img', 'isoinfo', 'mtype'):
            if not shutil.which(tool):
                raise AssertionError('%s is missing (scripts/setup.sh test)' % tool)
        cls.tmp = pathlib.Path(tempfile.mkdtemp(prefix='metastack-disks-'))
        cls.raw = {}     # layout -> raw image path
        cls.disks = []   # (layout, fs, disk format, qemu name, checkable, path)
        for layout, name, fs in LAYOUTS:
            cls.raw[layout] = cls.tmp / name
            build(cls.raw[layout], layout, ['--disk-format', 'raw'])
            for fmt, ext, qemu, checkable in FORMATS:
                path = cls.tmp / ('%s.%s' % (layout, ext))
                build(path, layout)  # the format from the extension
                cls.disks.append((layout, fs, fmt, qemu, checkable, path))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def raw_bytes(self, layout):
        return self.raw[layout].read_bytes()

    def test_qemu_img_info_names_the_format_and_the_exact_size(self):
        for layout, _, fmt, qemu, _, path in self.disks:
            with self.subTest(layout=layout, format=fmt):
                info = json.loads(run(['qemu-img', 'info', '--output=json', path]).stdout)
                self.assertEqual(info['format'], qemu)  # probed: no -f given
                self.assertEqual(info['virtual-size'], len(self.raw_bytes(layout)))

    def test_qemu_img_check_finds_nothing(self):
        for layout, _, fmt, qemu, checkable, path in self.disks:
            with self.subTest(layout=layout, format=fmt):
                r = run(['qemu-img', 'check', '--output=json', '-f', qemu, path], check=False)
                if not checkable:
                    self.assertIn(b'does not support checks', r.stderr)
                    continue
                self.assertEqual(r.returncode, 0, r.stderr)
                report = json.loads(r.stdout)
                self.assertEqual(report.get('check-errors'), 0, report)
                for bad in ('corruptions', 'leaks', 'corruptions-fixed', 'leaks-fixed'):
                    self.assertFalse(report.get(bad), report)

    def test_qemu_img_convert_gives_back_the_raw_drive(self):
        for layout, _, fmt, qemu, _, path in self.disks:
            with self.subTest(layout=layout, format=fmt):
                back = self.tmp / ('%s.%s.raw' % (layout, fmt))
                run(['qemu-img', 'convert', '-f', qemu, '-O', 'raw', path, back])
                self.assertTrue(back.read_bytes() == self.raw_bytes(layout))
                back.unlink()

    def test_flag_wins_over_the_extension_and_rebuilds_are_identical(self):
        out = self.tmp / 'flagged.img'
        r = build(out, 'iso', ['--disk-format', 'vmdk'])
        self.assertIn(b'(iso9660 in vmdk, label config-2,', r.stderr)
        info = json.loads(run(['qemu-img', 'info', '--output=json', out]).stdout)
        self.assertEqual(info['format'], 'vmdk')
        self.assertTrue(out.read_bytes() == (self.tmp / 'iso.vmdk').read_bytes())
        for layout, _, fmt, _, _, path in self.disks:
            with self.subTest(layout=layout, format=fmt):
                again = self.tmp / ('again.%s' % path.name)
                build(again, layout)
                self.assertTrue(again.read_bytes() == path.read_bytes())
                again.unlink()

    def test_files_are_sparse(self):
        for layout, _, fmt, _, _, path in self.disks:
            with self.subTest(layout=layout, format=fmt):
                st = path.stat()
                self.assertLessEqual(st.st_size, 6 << 20)  # VHDX: four 1 MiB regions + a block
                self.assertLess(st.st_blocks * 512, 1 << 20)  # the tables and the data only

    def test_libvirt_xml_names_the_container(self):
        for fmt, driver in (('qcow2', 'qcow2'), ('vhd', 'vpc'), ('vmdk', 'vmdk')):
            with self.subTest(format=fmt):
                xml_dir = self.tmp / ('xml-' + fmt)
                xml_dir.mkdir()
                image = self.tmp / ('libvirt.' + fmt)
                build(image, 'iso', ['--libvirt-xml', xml_dir])
                disk_xml = (xml_dir / 'disk.xml').read_text()
                disk = ET.fromstring(disk_xml)
                self.assertEqual(disk.get('device'), 'disk')
                self.assertEqual(disk.find('driver').get('type'), driver)
                self.assertEqual(disk.find('target').get('bus'), 'virtio')
                self.assertIsNotNone(disk.find('readonly'))
                self.assertEqual(disk.find('source').get('file'), str(image))
                domain = libvirt_domain.merge(libvirt_domain.minimal_domain('web-01', UUID),
                                              disk_xml, (xml_dir / 'sysinfo.xml').read_text())
                ok, out = libvirt_domain.validate(libvirt_domain.write(domain,
                                                                       xml_dir / 'domain.xml'))
                self.assertTrue(ok, out)
        xml_dir = self.tmp / 'xml-vhdx'
        xml_dir.mkdir()
        r = run([METASTACK, 'configdrive', 'build', '-f', EXAMPLE, '-o', self.tmp / 'lv.vhdx',
                 '--libvirt-xml', xml_dir], check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b'libvirt has no disk driver type for vhdx (Hyper-V\'s format): build '
                      b'qcow2 or raw for libvirt', r.stderr)
        self.assertFalse((xml_dir / 'disk.xml').exists())

    def test_a_real_kernel_reads_every_container(self):
        guest = qemu_guest.Guest.find()
        if guest is None:
            self.skipTest(qemu_guest.Guest.missing_reason())
        # virtio-blk disks are named vda, vdb, ... in the order of their -drive options.
        names = ['vd' + chr(ord('a') + i) for i in range(len(self.disks))]
        script = qemu_guest.INIT_PROLOGUE
        for dev, (_, fs, _, _, _, _) in zip(names, self.disks):
            script += ('i=0; while [ ! -b /dev/%(d)s ] && [ $i -lt 100 ]; do sleep 0.1; '
                       'i=$((i+1)); done\n'
                       'if mount -o ro -t %(fs)s /dev/%(d)s /mnt; then\n'
                       '  echo "=====BEGIN %(d)s====="; cat /mnt/%(md)s; echo; '
                       'echo "=====END %(d)s====="; umount /mnt\n'
                       'else echo "=====MOUNT FAILED %(d)s====="; fi\n'
                       % {'d': dev, 'fs': fs, 'md': MD})
        script += 'poweroff -f\n'
        work = self.tmp / 'guest'
        work.mkdir()
        initrd = guest.build_initramfs(str(work), script,
                                       ['isofs', 'vfat', 'nls_cp437', 'nls_ascii', 'nls_utf8',
                                        'virtio_pci', 'virtio_blk'])
        drives = [['-drive', 'file=%s,format=%s,if=virtio,readonly=on' % (path, qemu)]
                  for _, _, _, qemu, _, path in self.disks]
        result = guest.boot(initrd, drives, timeout=120)
        sys.stderr.write('\n  QEMU boot with %d disk containers: %.1f s ' % (len(drives),
                                                                            result.seconds))
        want = {
            'iso': run(['isoinfo', '-R', '-i', self.raw['iso'], '-x', '/' + MD]).stdout.decode(),
            'vfat': run(['mtype', '-i', self.raw['vfat'], '::/' + MD]).stdout.decode(),
        }
        self.assertEqual(json.loads(want['iso'])['uuid'], UUID)
        for dev, (layout, _, fmt, _, _, _) in zip(names, self.disks):
            with self.subTest(layout=layout, format=fmt, device=dev):
                printed = result.between('=====BEGIN %s=====' % dev, '=====END %s=====' % dev)
                self.assertIsNotNone(printed, result.output[-3000:])
                self.assertEqual(printed, want[layout])


if __name__ == '__main__':
    unittest.main()
