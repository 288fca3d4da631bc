#include "configdrive/libvirt_xml.h"

namespace metastack::configdrive {
namespace {

std::string Disk(const LibvirtAttachment& a) {
  const std::string path = XmlEscape(a.image_path);
  if (a.cdrom)
    return "<!-- devices: the config drive as Nova attaches it (q35 machines: bus='sata' "
           "dev='sda') -->\n"
           "<disk type='file' device='cdrom'>\n"
           "  <driver name='qemu' type='raw'/>\n"
           "  <source file='" +
           path +
           "'/>\n"
           "  <target dev='hdd' bus='ide'/>\n"
           "  <readonly/>\n"
           "</disk>\n";
  return "<!-- devices: the config drive as a virtio disk -->\n"
         "<disk type='file' device='disk'>\n"
         "  <driver name='qemu' type='raw'/>\n"
         "  <source file='" +
         path +
         "'/>\n"
         "  <target dev='vdz' bus='virtio'/>\n"
         "  <readonly/>\n"
         "</disk>\n";
}

// SMBIOS as Nova sets it.
std::string Smbios(const std::string& instance_uuid) {
  const std::string uuid = XmlEscape(instance_uuid);
  return "<!-- domain: SMBIOS as Nova sets it; the domain's <uuid> must be " + uuid +
         " too -->\n"
         "<sysinfo type='smbios'>\n"
         "  <system>\n"
         "    <entry name='manufacturer'>OpenStack Foundation</entry>\n"
         "    <entry name='product'>OpenStack Nova</entry>\n"
         "    <entry name='version'>metastack 0.1.0</entry>\n"
         "    <entry name='serial'>" +
         uuid +
         "</entry>\n"
         "    <entry name='uuid'>" +
         uuid +
         "</entry>\n"
         "    <entry name='family'>Virtual Machine</entry>\n"
         "  </system>\n"
         "</sysinfo>\n"
         "<os>\n"
         "  <smbios mode='sysinfo'/>\n"
         "</os>\n";
}

}  // namespace

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

std::string LibvirtXml(const LibvirtAttachment& attachment) {
  std::string xml = Disk(attachment);
  if (!attachment.smbios_uuid.empty()) xml += Smbios(attachment.smbios_uuid);
  return xml;
}

}  // namespace metastack::configdrive
