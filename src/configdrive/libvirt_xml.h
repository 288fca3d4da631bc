#pragma once
// The libvirt domain XML that attaches a built image to a guest: a <disk> element (an IDE cdrom
// for ISO9660 config drives, as Nova attaches them; a virtio disk for VFAT images) and, for
// config drives, the SMBIOS blocks cloud-init on x86 checks before it considers the OpenStack
// datasources (DMI system-product-name "OpenStack Nova"). What `metastack configdrive build
// --libvirt-xml` prints.
//
// The text is a sequence of fragments, each preceded by a comment saying where it belongs (the
// <devices> element, the <domain> element), not one XML document: they cannot be handed to
// `virsh attach-device` or `virt-xml-validate` as printed (issue 12). Attribute values and text
// are escaped. Pure; thread-safe.

#include <string>
#include <string_view>

namespace metastack::configdrive {

struct LibvirtAttachment {
  std::string image_path;  // absolute, as libvirt resolves it
  bool cdrom = true;       // an IDE cdrom (ISO9660); false: a read-only virtio disk (VFAT)
  // Non-empty: add <sysinfo type='smbios'> and <os><smbios mode='sysinfo'/></os> naming this
  // instance uuid (serial and uuid entries). Empty: the disk alone (NoCloud seeds).
  std::string smbios_uuid;
};

std::string LibvirtXml(const LibvirtAttachment& attachment);

// `s` with &, <, >, ' and " written as XML entities.
std::string XmlEscape(std::string_view s);

}  // namespace metastack::configdrive
