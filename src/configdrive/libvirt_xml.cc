#include "configdrive/libvirt_xml.h"

namespace metastack::configdrive {

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

Result<std::string> LibvirtDiskXml(const LibvirtAttachment& a) {
  if (a.format == DiskFormat::kVhdx)
    return std::unexpected(MakeError(
        ErrorCode::kInvalidArgument,
        "libvirt has no disk driver type for vhdx (Hyper-V's format): build qcow2 or raw for "
        "libvirt"));
  const std::string path = XmlEscape(a.image_path);
  const std::string type(QemuFormatName(a.format));
  if (a.cdrom && a.format == DiskFormat::kRaw)
    return "<!-- The config drive as Nova attaches it. q35 machines have no IDE bus: there, "
           "target dev='sda' bus='sata'. -->\n"
           "<disk type='file' device='cdrom'>\n"
           "  <driver name='qemu' type='raw'/>\n"
           "  <source file='" +
           path +
           "'/>\n"
           "  <target dev='hdd' bus='ide'/>\n"
           "  <readonly/>\n"
           "</disk>\n";
  const std::string what = a.format == DiskFormat::kRaw
                               ? ""
                               : " in a " + std::string(DiskFormatName(a.format)) + " container";
  return "<!-- The config drive" + what +
         " as a read-only virtio disk. -->\n"
         "<disk type='file' device='disk'>\n"
         "  <driver name='qemu' type='" +
         type +
         "'/>\n"
         "  <source file='" +
         path +
         "'/>\n"
         "  <target dev='vdz' bus='virtio'/>\n"
         "  <readonly/>\n"
         "</disk>\n";
}

std::string LibvirtSysinfoXml(std::string_view instance_uuid) {
  const std::string uuid = XmlEscape(instance_uuid);
  return "<!-- SMBIOS as Nova sets it. Merge into the guest's domain (virsh edit DOMAIN): the "
         "<smbios> element into its <os>, the <sysinfo> element into <domain>. The domain's "
         "<uuid> must equal the uuid entry. -->\n"
         "<domain>\n"
         "  <os>\n"
         "    <smbios mode='sysinfo'/>\n"
         "  </os>\n"
         "  <sysinfo type='smbios'>\n"
         "    <system>\n"
         "      <entry name='manufacturer'>OpenStack Foundation</entry>\n"
         "      <entry name='product'>OpenStack Nova</entry>\n"
         "      <entry name='version'>metastack 0.1.0</entry>\n"
         "      <entry name='serial'>" +
         uuid +
         "</entry>\n"
         "      <entry name='uuid'>" +
         uuid +
         "</entry>\n"
         "      <entry name='family'>Virtual Machine</entry>\n"
         "    </system>\n"
         "  </sysinfo>\n"
         "</domain>\n";
}

}  // namespace metastack::configdrive
