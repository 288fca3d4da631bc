#pragma once
// The libvirt domain XML that attaches a built image to a guest, as two XML documents (what
// `metastack configdrive build --libvirt-xml DIR` writes):
//
//  * disk.xml, LibvirtDiskXml(): the <disk> element alone (an IDE cdrom for raw ISO9660 config
//    drives, as Nova attaches them; a read-only virtio disk for VFAT images and for every disk
//    container, its <driver type> QEMU's name for the format), for
//    `virsh attach-device DOMAIN disk.xml --config` or the <devices> of a domain.
//  * sysinfo.xml, LibvirtSysinfoXml(): config drives only. SMBIOS as Nova sets it, which
//    cloud-init on x86 checks before it considers the OpenStack datasources (DMI
//    system-product-name "OpenStack Nova"): a <domain> element holding only what merges into the
//    guest's domain (`virsh edit DOMAIN`): <os><smbios mode='sysinfo'/></os> into its <os>, and
//    <sysinfo type='smbios'> beside it. libvirt requires the sysinfo uuid to equal the domain's
//    <uuid>, which the comment at its top says (the comment holds no input: "--" in a value
//    would end it).
//
// Each is one well-formed document (a comment, then one root element). Attribute values and
// text are escaped. Pure; thread-safe.

#include <string>
#include <string_view>

#include "base/error.h"
#include "configdrive/disk_image.h"

namespace metastack::configdrive {

struct LibvirtAttachment {
  std::string image_path;  // absolute, as libvirt resolves it
  // Raw images: an IDE cdrom (ISO9660); false: a read-only virtio disk (VFAT).
  bool cdrom = true;
  // The disk container (disk_image.h): anything but raw is a read-only virtio disk, whatever
  // `cdrom` says (libvirt hands QEMU a cdrom's format too, but a guest's cdrom driver expects
  // 2 KiB sectors from a raw ISO, and Nova attaches only raw ones).
  DiskFormat format = DiskFormat::kRaw;
};

// kInvalidArgument for VHDX: libvirt (9.0, Debian 12) has no <driver type> for it.
Result<std::string> LibvirtDiskXml(const LibvirtAttachment& attachment);

// `instance_uuid` becomes the SMBIOS serial and uuid entries.
std::string LibvirtSysinfoXml(std::string_view instance_uuid);

// `s` with &, <, >, ' and " written as XML entities.
std::string XmlEscape(std::string_view s);

}  // namespace metastack::configdrive
