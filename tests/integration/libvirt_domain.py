"""What an operator does with `metastack configdrive build --libvirt-xml DIR` on a libvirt host,
without libvirtd: put DIR/disk.xml into a domain's <devices>, merge DIR/sysinfo.xml into the
domain (its <os> children into <os>, the rest beside), and check the result with Debian's
virt-xml-validate (libvirt-clients; it runs xmllint from libxml2-utils), which knows libvirt's
schema for whole domains (/usr/share/libvirt/schemas/domain.rng) and none for a lone <disk>."""
import pathlib
import shutil
import subprocess
import xml.etree.ElementTree as ET


def minimal_domain(name, uuid):
    """The smallest KVM domain libvirt's schema accepts, with an empty <devices>."""
    return ET.fromstring(
        f"<domain type='kvm'><name>{name}</name><uuid>{uuid}</uuid>"
        "<memory unit='MiB'>512</memory>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices/></domain>")


def merge(domain, disk_xml=None, sysinfo_xml=None):
    """`domain` with our <disk> in its <devices> and our sysinfo document merged in."""
    if disk_xml is not None:
        domain.find('devices').append(ET.fromstring(disk_xml))
    if sysinfo_xml is not None:
        for child in ET.fromstring(sysinfo_xml):
            existing = domain.find(child.tag)
            if existing is None:
                domain.append(child)
            else:
                existing.extend(list(child))
    return domain


def validate(path):
    """virt-xml-validate's verdict on the file at `path`: (passed, its output)."""
    tool = shutil.which('virt-xml-validate')
    if not tool:
        raise AssertionError('virt-xml-validate is missing (libvirt-clients, scripts/setup.sh)')
    r = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    return r.returncode == 0, r.stdout + r.stderr


def write(domain, path):
    path = pathlib.Path(path)
    ET.ElementTree(domain).write(path, encoding='unicode')
    return path
