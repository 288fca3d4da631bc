#include "configdrive/libvirt_xml.h"

#include <gtest/gtest.h>

namespace metastack::configdrive {
namespace {

TEST(LibvirtXml, ConfigDriveIsAnIdeCdromWithSmbios) {
  EXPECT_EQ(LibvirtXml({"/var/lib/drives/a.iso", true, "b65cee2f-8c69-4aeb-be2f-f79742548fc2"}),
            "<!-- devices: the config drive as Nova attaches it (q35 machines: bus='sata' "
            "dev='sda') -->\n"
            "<disk type='file' device='cdrom'>\n"
            "  <driver name='qemu' type='raw'/>\n"
            "  <source file='/var/lib/drives/a.iso'/>\n"
            "  <target dev='hdd' bus='ide'/>\n"
            "  <readonly/>\n"
            "</disk>\n"
            "<!-- domain: SMBIOS as Nova sets it; the domain's <uuid> must be "
            "b65cee2f-8c69-4aeb-be2f-f79742548fc2 too -->\n"
            "<sysinfo type='smbios'>\n"
            "  <system>\n"
            "    <entry name='manufacturer'>OpenStack Foundation</entry>\n"
            "    <entry name='product'>OpenStack Nova</entry>\n"
            "    <entry name='version'>metastack 0.1.0</entry>\n"
            "    <entry name='serial'>b65cee2f-8c69-4aeb-be2f-f79742548fc2</entry>\n"
            "    <entry name='uuid'>b65cee2f-8c69-4aeb-be2f-f79742548fc2</entry>\n"
            "    <entry name='family'>Virtual Machine</entry>\n"
            "  </system>\n"
            "</sysinfo>\n"
            "<os>\n"
            "  <smbios mode='sysinfo'/>\n"
            "</os>\n");
}

TEST(LibvirtXml, VfatSeedIsAVirtioDiskAlone) {
  EXPECT_EQ(LibvirtXml({"/tmp/seed.img", false, ""}),
            "<!-- devices: the config drive as a virtio disk -->\n"
            "<disk type='file' device='disk'>\n"
            "  <driver name='qemu' type='raw'/>\n"
            "  <source file='/tmp/seed.img'/>\n"
            "  <target dev='vdz' bus='virtio'/>\n"
            "  <readonly/>\n"
            "</disk>\n");
}

TEST(LibvirtXml, PathAndUuidAreEscaped) {
  std::string xml = LibvirtXml({"/d/it's <a&b>\".iso", true, "u'<&>\""});
  EXPECT_NE(xml.find("<source file='/d/it&apos;s &lt;a&amp;b&gt;&quot;.iso'/>"), std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<entry name='serial'>u&apos;&lt;&amp;&gt;&quot;</entry>"), std::string::npos)
      << xml;
  EXPECT_EQ(xml.find("it's"), std::string::npos);
}

TEST(XmlEscape, EveryMarkupCharacter) {
  EXPECT_EQ(XmlEscape("a&b<c>d'e\"f"), "a&amp;b&lt;c&gt;d&apos;e&quot;f");
  EXPECT_EQ(XmlEscape(""), "");
  EXPECT_EQ(XmlEscape("plain/ÿ"), "plain/ÿ");
}

}  // namespace
}  // namespace metastack::configdrive
