#!/usr/bin/python3
"""`metastack configdrive build --libvirt-xml DIR`: the documents it writes are what libvirt
accepts. disk.xml is one <disk> element (`virsh attach-device DOMAIN disk.xml --config`);
sysinfo.xml merges into the domain. Each is checked by building the domain an operator ends up
with and running Debian's virt-xml-validate on it (libvirt_domain.py), and broken documents are
shown to fail that same check.

Run:  /usr/bin/python3 tests/integration/test_libvirt_xml.py --metastack BINARY
"""
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

METASTACK = metastack_binary()
EXAMPLE = ROOT / 'examples' / 'instance.json'
UUID = 'b65cee2f-8c69-4aeb-be2f-f79742548fc2'


def build(out, fmt, xml_dir, check=True):
    r = subprocess.run([METASTACK, 'configdrive', 'build', '-f', str(EXAMPLE), '-o', str(out),
                        '--format', fmt, '--libvirt-xml', str(xml_dir)],
                       capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f'configdrive build --format {fmt}: exit {r.returncode}: {r.stderr}')
    return r


class LibvirtXmlTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix='metastack-libvirt-'))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def valid(self, domain):
        return libvirt_domain.validate(libvirt_domain.write(domain, self.tmp / 'domain.xml'))

    def assertValid(self, domain):
        ok, out = self.valid(domain)
        self.assertTrue(ok, out + ET.tostring(domain, encoding='unicode'))

    def test_config_drive_iso_disk_and_sysinfo_make_a_valid_domain(self):
        image = self.tmp / 'disk.config'
        r = build(image, 'iso', self.tmp)
        self.assertEqual(r.stdout, '')
        disk_xml = (self.tmp / 'disk.xml').read_text()
        sysinfo_xml = (self.tmp / 'sysinfo.xml').read_text()
        self.assertIn(f'metastack: wrote {self.tmp}/disk.xml (virsh attach-device DOMAIN '
                      f'{self.tmp}/disk.xml --config)\n', r.stderr)
        self.assertIn(f'metastack: wrote {self.tmp}/sysinfo.xml (merge into the domain', r.stderr)
        disk = ET.fromstring(disk_xml)  # one document each: a second root would not parse
        self.assertEqual((disk.tag, disk.get('device')), ('disk', 'cdrom'))
        self.assertEqual(disk.find('source').get('file'), str(image))
        sysinfo = ET.fromstring(sysinfo_xml)
        entries = {e.get('name'): e.text for e in sysinfo.findall('sysinfo/system/entry')}
        self.assertEqual((entries['product'], entries['uuid'], entries['serial']),
                         ('OpenStack Nova', UUID, UUID))
        domain = libvirt_domain.merge(libvirt_domain.minimal_domain('web-01', UUID), disk_xml,
                                      sysinfo_xml)
        self.assertEqual(domain.find('os/smbios').get('mode'), 'sysinfo')
        self.assertEqual(domain.find('os/type').text, 'hvm')  # merged, not replaced
        self.assertValid(domain)

    def test_vfat_disk_is_a_valid_virtio_disk(self):
        build(self.tmp / 'disk.img', 'vfat', self.tmp)
        disk_xml = (self.tmp / 'disk.xml').read_text()
        self.assertEqual(ET.fromstring(disk_xml).find('target').get('bus'), 'virtio')
        self.assertValid(libvirt_domain.merge(libvirt_domain.minimal_domain('web-01', UUID),
                                              disk_xml, (self.tmp / 'sysinfo.xml').read_text()))

    def test_nocloud_seed_gets_the_disk_alone(self):
        r = build(self.tmp / 'seed.iso', 'nocloud', self.tmp)
        self.assertFalse((self.tmp / 'sysinfo.xml').exists())
        self.assertNotIn('sysinfo.xml', r.stderr)
        self.assertValid(libvirt_domain.merge(libvirt_domain.minimal_domain('seed', UUID),
                                              (self.tmp / 'disk.xml').read_text()))

    def test_broken_documents_fail_validation(self):
        build(self.tmp / 'disk.config', 'iso', self.tmp)
        disk_xml = (self.tmp / 'disk.xml').read_text()
        sysinfo_xml = (self.tmp / 'sysinfo.xml').read_text()
        broken = {
            'a bus libvirt does not know': (disk_xml.replace("bus='ide'", "bus='floppy-ish'"),
                                            sysinfo_xml),
            'an entry outside <system>': (disk_xml, sysinfo_xml.replace(
                '<system>', "<entry name='product'>x</entry><system>")),
            'the disk inside <os>': (None, sysinfo_xml.replace('</os>', disk_xml.split(
                '-->\n', 1)[1] + '</os>')),
        }
        for what, (disk, sysinfo) in broken.items():
            with self.subTest(what):
                domain = libvirt_domain.merge(libvirt_domain.minimal_domain('web-01', UUID),
                                              disk, sysinfo)
                ok, out = self.valid(domain)
                self.assertFalse(ok, what)
                self.assertIn('fails to validate', out)
        # What --libvirt-xml printed before: fragments in one stream are not a document.
        (self.tmp / 'stream.xml').write_text(disk_xml + sysinfo_xml)
        ok, _ = libvirt_domain.validate(self.tmp / 'stream.xml')
        self.assertFalse(ok)

    def test_a_missing_directory_is_refused_before_anything_is_written(self):
        r = build(self.tmp / 'disk.config', 'iso', self.tmp / 'nope', check=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr, f'metastack: --libvirt-xml: {self.tmp}/nope is not a '
                                   'directory\n')
        self.assertEqual(sorted(p.name for p in self.tmp.iterdir()), [])


if __name__ == '__main__':
    unittest.main()
