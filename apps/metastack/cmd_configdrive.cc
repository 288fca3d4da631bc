// metastack configdrive build: an instance's config drive as an ISO9660 or VFAT image (or a
// NoCloud "cidata" seed), in-process and reproducible (docs/configdrive.md).
#include <filesystem>
#include <iostream>
#include <memory>

#include "base/file.h"
#include "configdrive/drive_build.h"
#include "configdrive/image_writer.h"
#include "configdrive/libvirt_xml.h"
#include "core/instance.h"
#include "core/metadata.h"
#include "instance_flags.h"
#include "render_flags.h"
#include "store/store.h"
#include "verbs.h"

namespace metastack::cli {
namespace {

struct BuildFlags {
  std::string file;         // -f: an instance document
  std::string instance_id;  // or an instance in --store
  std::string store;
  std::string out;
  std::string format = "iso";
  std::string disk_format;  // empty: by the output's extension
  uint64_t size_mib = 0;    // 0: the default (64 MiB, Nova's)
  RenderFlags render;
  std::string seed;
  bool seed_given = false;
  std::string libvirt_dir;  // --libvirt-xml DIR: disk.xml (and sysinfo.xml) written there
  InstanceFlags instance;   // the instance from flags, alone or over -f / INSTANCE_ID
};

// The instance: -f, INSTANCE_ID or neither, with the instance flags applied over it. A uuid
// made here is printed on standard output (the drive's instance id, for the operator's records).
Result<core::Instance> LoadInstance(const BuildFlags& f) {
  if (!f.instance.Any()) {
    if (!f.file.empty()) return cli::LoadInstance(f.file);
    return LoadStoredInstance(f.store.empty() ? std::string(store::kDefaultStoreUrl) : f.store,
                              f.instance_id);
  }
  core::Json base = core::Json::object();
  std::string base_name = "flags";
  if (!f.file.empty()) {
    METASTACK_ASSIGN_OR_RETURN(std::string text, ReadFile(f.file));
    base = core::Json::parse(text, nullptr, false);
    if (base.is_discarded())
      return std::unexpected(MakeError(ErrorCode::kInvalidArgument, f.file + ": not valid JSON"));
    base_name = f.file;
  } else if (!f.instance_id.empty()) {
    METASTACK_ASSIGN_OR_RETURN(
        core::Instance stored,
        LoadStoredInstance(f.store.empty() ? std::string(store::kDefaultStoreUrl) : f.store,
                           f.instance_id));
    base = core::InstanceToJson(stored);
    base_name = f.instance_id;
  }
  std::optional<std::string> generated;
  METASTACK_ASSIGN_OR_RETURN(core::Json doc,
                             f.instance.Apply(std::move(base), base_name, &generated));
  if (generated) std::cout << *generated << "\n";
  return core::ParseInstanceJson(doc);
}

// A small text file, atomically, as the image is written.
Status WriteText(const std::string& path, const std::string& text) {
  return configdrive::WriteImageFile({text.size(), {{0, text}}}, path);
}

// --libvirt-xml DIR: DIR/disk.xml, and DIR/sysinfo.xml when `uuid` is set (config drives).
Status WriteLibvirtXml(const std::string& dir, const std::string& image, bool cdrom,
                       configdrive::DiskFormat format, const std::string& uuid) {
  const std::filesystem::path base(dir);
  const std::string disk = (base / "disk.xml").string();
  METASTACK_ASSIGN_OR_RETURN(
      std::string disk_xml,
      configdrive::LibvirtDiskXml(
          {std::filesystem::absolute(image).lexically_normal().string(), cdrom, format}));
  METASTACK_RETURN_IF_ERROR(WriteText(disk, disk_xml));
  std::cerr << "metastack: wrote " << disk << " (virsh attach-device DOMAIN " << disk
            << " --config)\n";
  if (uuid.empty()) return Ok();
  const std::string sysinfo = (base / "sysinfo.xml").string();
  METASTACK_RETURN_IF_ERROR(WriteText(sysinfo, configdrive::LibvirtSysinfoXml(uuid)));
  std::cerr << "metastack: wrote " << sysinfo
            << " (merge into the domain with virsh edit DOMAIN: cloud-init on x86 needs it)\n";
  return Ok();
}

// --disk-format, else the output's extension, else raw.
configdrive::DiskFormat DiskFormatFor(const BuildFlags& f) {
  if (!f.disk_format.empty()) return *configdrive::ParseDiskFormat(f.disk_format);
  return configdrive::DiskFormatForPath(f.out).value_or(configdrive::DiskFormat::kRaw);
}

int RunBuild(const BuildFlags& f) {
  if (!f.file.empty() && !f.instance_id.empty())
    return Fail("give an instance document (-f FILE) or an INSTANCE_ID in the store, not both",
                kExitUsage);
  if (f.file.empty() && f.instance_id.empty() && !f.instance.Any())
    return Fail(
        "give an instance document (-f FILE), an INSTANCE_ID in the store, or the instance as "
        "flags (--hostname, --ssh-key, --user-data...)",
        kExitUsage);
  configdrive::DriveSpec spec;
  spec.layout = *configdrive::ParseDriveLayout(f.format);
  spec.disk = DiskFormatFor(f);
  if (f.size_mib && !configdrive::IsVfat(spec.layout))
    return Fail("--size applies to vfat images only", kExitUsage);
  if (f.size_mib) spec.vfat_size = f.size_mib << 20;
  if (f.seed_given) spec.seed = f.seed;
  if (!f.libvirt_dir.empty() && !std::filesystem::is_directory(f.libvirt_dir))
    return Fail("--libvirt-xml: " + f.libvirt_dir + " is not a directory", kExitUsage);
  if (!f.libvirt_dir.empty()) {
    // A format libvirt cannot attach is refused before anything is written.
    if (auto xml = configdrive::LibvirtDiskXml({"/", true, spec.disk}); !xml)
      return Fail(xml.error(), kExitUsage);
  }

  auto inst = LoadInstance(f);
  if (!inst) return Fail(inst.error());
  auto settings = f.render.Build();
  if (!settings) return Fail(settings.error());
  auto drive = configdrive::BuildDrive(*inst, *settings, spec);
  if (!drive) return Fail(drive.error());
  if (auto st = configdrive::WriteImageFile(drive->image, f.out); !st) return Fail(st.error());
  std::cerr << "metastack: wrote " << f.out << " (" << drive->file_system;
  if (spec.disk != configdrive::DiskFormat::kRaw)
    std::cerr << " in " << configdrive::DiskFormatName(spec.disk);
  std::cerr << ", label " << drive->label << ", " << drive->files << " files)\n";
  if (!f.libvirt_dir.empty()) {
    const bool vfat = configdrive::IsVfat(spec.layout);
    auto st = WriteLibvirtXml(f.libvirt_dir, f.out, !vfat, spec.disk,
                              configdrive::IsNoCloud(spec.layout) ? "" : inst->uuid);
    if (!st) return Fail(st.error());
  }
  return kExitOk;
}

void DeclareBuild(CLI::App& app, BuildFlags& f) {
  app.add_option("-f,--document", f.file, "Instance document (JSON; - for standard input)");
  app.add_option("INSTANCE_ID", f.instance_id, "An instance in --store instead of -f");
  app.add_option("--store", f.store,
                 "Store holding INSTANCE_ID (sqlite:PATH, postgresql://...); default "
                 "$METASTACK_STORE or " +
                     std::string(store::kDefaultStoreUrl))
      ->envname("METASTACK_STORE");
  app.add_option("-o,--out", f.out, "Image file to write (replaced atomically)")->required();
  app.add_option("--format", f.format,
                 "iso: ISO9660 + Rock Ridge + Joliet, label config-2 (Nova's default); "
                 "vfat: FAT with long names, label config-2; nocloud / nocloud-vfat: a NoCloud "
                 "seed labelled cidata")
      ->check(CLI::IsMember({"iso", "vfat", "nocloud", "nocloud-vfat"}))
      ->capture_default_str();
  app.add_option("--disk-format", f.disk_format,
                 "Disk container: raw (as built), qcow2, vhd (Hyper-V; QEMU calls it vpc), "
                 "vhdx (Hyper-V), vmdk (VMware); default: by the output's extension "
                 "(.qcow2 .vhd .vhdx .vmdk), else raw")
      ->check(CLI::IsMember({"raw", "qcow2", "vhd", "vhdx", "vmdk"}));
  app.add_option("--size", f.size_mib, "VFAT image size in MiB (1..32768; default 64, as Nova)")
      ->check(CLI::Range(1, 32768));
  f.render.Declare(app);
  f.instance.Declare(app, /*vendor_data=*/false, /*config_drive_flag=*/false);
  app.add_option("--seed", f.seed,
                 "Build seed for random_seed (keep it secret if the guest's entropy matters); "
                 "default: SOURCE_DATE_EPOCH if set, else the OS's random generator")
      ->each([&f](const std::string&) { f.seed_given = true; });
  app.add_option("--libvirt-xml", f.libvirt_dir,
                 "Also write libvirt domain XML into this existing directory: disk.xml, the "
                 "<disk> element (virsh attach-device DOMAIN DIR/disk.xml --config) and, but "
                 "for NoCloud seeds, sysinfo.xml: the SMBIOS cloud-init on x86 needs, to merge "
                 "into the domain (virsh edit DOMAIN)")
      ->type_name("DIR");
  app.footer(
      "Builds the image in-process (no genisoimage, mkfs or mount). Every timestamp is\n"
      "SOURCE_DATE_EPOCH if set, else the instance's created_at, else 1980-01-01: two builds\n"
      "of one instance with the same --seed (or SOURCE_DATE_EPOCH) are byte-identical.");
}

}  // namespace

Run SetupConfigDriveVerb(CLI::App& app) {
  auto f = std::make_shared<BuildFlags>();
  auto run = std::make_shared<Run>();
  app.require_subcommand(1);
  CLI::App* build = app.add_subcommand("build", "Write an instance's config drive as an image");
  DeclareBuild(*build, *f);
  build->callback([f, run] { *run = [f] { return RunBuild(*f); }; });
  return [run] { return *run ? (*run)() : kExitUsage; };
}

}  // namespace metastack::cli
