#include "configdrive/libvirt_xml.h"

#include <gtest/gtest.h>

namespace metastack::configdrive {
namespace {

TEST(LibvirtDiskXml, ConfigDriveIsAnIdeCdrom) {
  EXPECT_EQ(LibvirtDiskXml({"/var/lib/drives/a.iso", true}).value(),
            "<!-- The config drive as Nova attaches it. q35 machines have no IDE bus: there, "
            "target dev='sda' bus='sata'. -->\n"
            "<disk type='file' device='cdrom'>\n"
            "  <driver name='qemu' type='raw'/>\n"
            "  <source file='/var/lib/drives/a.iso'/>\n"
            "  <target dev='hdd' bus='ide'/>\n"
            "  <readonly/>\n"
            "</disk>\n");
}

TEST(LibvirtDiskXml, VfatImageIsAReadOnlyVirtioDisk) {
  EXPECT_EQ(LibvirtDiskXml({"/tmp/seed.img", false}).value(),
            "<!-- The config drive as a read-only virtio disk. -->\n"
            "<disk type='file' device='disk'>\n"
            "  <driver name='qemu' type='raw'/>\n"
            "  <source file='/tmp/seed.img'/>\n"
            "  <target dev='vdz' bus='virtio'/>\n"
            "  <readonly/>\n"
            "</disk>\n");
}

TEST(LibvirtDiskXml, ContainersAreReadOnlyVirtioDisksOfTheirFormat) {
  // An ISO in a container too (cdrom asks for a raw image's choice only).
  for (bool cdrom : {true, false}) {
    EXPECT_EQ(LibvirtDiskXml({"/d/seed.qcow2", cdrom, DiskFormat::kQcow2}).value(),
              "<!-- The config drive in a qcow2 container as a read-only virtio disk. -->\n"
              "<disk type='file' device='disk'>\n"
              "  <driver name='qemu' type='qcow2'/>\n"
              "  <source file='/d/seed.qcow2'/>\n"
              "  <target dev='vdz' bus='virtio'/>\n"
              "  <readonly/>\n"
              "</disk>\n");
  }
  for (auto [format, type] : {std::pair{DiskFormat::kVhd, "vpc"}, {DiskFormat::kVmdk, "vmdk"}}) {
    const std::string xml = LibvirtDiskXml({"/d/x", true, format}).value();
    EXPECT_NE(xml.find(std::string("<driver name='qemu' type='") + type + "'/>"), std::string::npos)
        << xml;
  }
  auto vhdx = LibvirtDiskXml({"/d/seed.vhdx", false, DiskFormat::kVhdx});
  ASSERT_FALSE(vhdx.has_value());
  EXPECT_EQ(vhdx.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(vhdx.error().message,
            "libvirt has no disk driver type for vhdx (Hyper-V's format): build qcow2 or raw "
            "for libvirt");
}

TEST(LibvirtSysinfoXml, SmbiosAsNovaSetsItInADomainToMerge) {
  EXPECT_EQ(LibvirtSysinfoXml("b65cee2f-8c69-4aeb-be2f-f79742548fc2"),
            "<!-- SMBIOS as Nova sets it. Merge into the guest's domain (virsh edit DOMAIN): the "
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
            "      <entry name='serial'>b65cee2f-8c69-4aeb-be2f-f79742548fc2</entry>\n"
            "      <entry name='uuid'>b65cee2f-8c69-4aeb-be2f-f79742548fc2</entry>\n"
            "      <entry name='family'>Virtual Machine</entry>\n"
            "    </system>\n"
            "  </sysinfo>\n"
            "</domain>\n");
}

TEST(LibvirtXml, PathAndUuidAreEscapedAndNeverReachTheComments) {
  std::string disk = LibvirtDiskXml({"/d/it's <a&b>\"--.iso", true}).value();
  EXPECT_NE(disk.find("<source file='/d/it&apos;s &lt;a&amp;b&gt;&quot;--.iso'/>"),
            std::string::npos)
      << disk;
  EXPECT_EQ(disk.find("it's"), std::string::npos);
  std::string sysinfo = LibvirtSysinfoXml("u'<&>\"--");
  EXPECT_NE(sysinfo.find("<entry name='serial'>u&apos;&lt;&amp;&gt;&quot;--</entry>"),
            std::string::npos)
      << sysinfo;
  // A comment ends at its first "--": the only one in each document is the closing one.
  for (const std::string& xml : {disk, sysinfo}) {
    size_t end = xml.find("-->");
    EXPECT_EQ(xml.substr(4, end - 4).find("--"), std::string::npos) << xml;
  }
}

TEST(XmlEscape, EveryMarkupCharacter) {
  EXPECT_EQ(XmlEscape("a&b<c>d'e\"f"), "a&amp;b&lt;c&gt;d&apos;e&quot;f");
  EXPECT_EQ(XmlEscape(""), "");
  EXPECT_EQ(XmlEscape("plain/ÿ"), "plain/ÿ");
}

}  // namespace
}  // namespace metastack::configdrive
