#pragma once
// Drive images for guest/'s tests, made by every writer the guest meets: ours (configdrive/),
// Nova's genisoimage call, genisoimage with Rock Ridge only or plain names only, and mkfs.vfat +
// mcopy (FAT12, FAT16 and FAT32). Each writes a fixed file set into a file of a temporary
// directory; the tools run for real.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "configdrive/iso_writer.h"
#include "configdrive/vfat_writer.h"
#include "core/metadata.h"
#include "guest/test_util.h"

namespace metastack::guest::fakes {

// A long name (`long_name` characters: 64 is Joliet's most), a UTF-8 one, six directories down,
// and a file of many clusters and sectors.
inline std::vector<core::DriveFile> DriveFiles(size_t long_name = 64) {
  std::string name = "a-long-name-";
  while (name.size() < long_name - 3) name += static_cast<char>('a' + name.size() % 26);
  name += ".js";
  std::string content;
  for (int i = 0; i < 100000; ++i) content += static_cast<char>((i * 7919) >> 3);
  return {
      {"openstack/latest/meta_data.json", R"({"uuid": "b65cee2f-8d0e-4bd6-8a2c-0d0e3a6e5e8a"})"},
      {"openstack/content/0000", content},
      {"openstack/latest/" + name, "{}"},
      {"openstack/latest/naïve-café-日本語.txt", "utf-8"},
      {"deep/er/and/deeper/still/six/deepest.txt", "down here"},
      {"openstack/latest/empty", ""},
  };
}

// Names that survive plain ISO 9660 (genisoimage -l without Joliet or Rock Ridge).
inline std::vector<core::DriveFile> PlainFiles() {
  std::vector<core::DriveFile> out;
  for (auto& f : DriveFiles())
    if (f.path.size() < 40 && f.path.find('-') == std::string::npos &&
        f.path.find("\xC3") == std::string::npos)
      out.push_back(f);
  return out;
}

inline void Run(const std::string& command) {
  int rc =
      std::system(("LC_ALL=C.UTF-8 MTOOLS_SKIP_CHECK=1 " + command + " >/dev/null 2>&1").c_str());
  ASSERT_EQ(rc, 0) << command;
}

inline std::string WriteTree(const std::string& dir, const std::vector<core::DriveFile>& files) {
  std::string root = dir + "/tree";
  for (const auto& f : files) {
    std::filesystem::path p = std::filesystem::path(root) / f.path;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << f.contents;
  }
  return root;
}

struct Writer {
  std::string name;          // the test's name suffix
  std::string format;        // "iso9660" or "vfat"
  std::string label;         // as ProbeDrive should report it
  bool plain_names = false;  // only PlainFiles() fit
  size_t long_name = 64;     // the longest name the writer keeps
  // Writes `files` as an image at `image`, with `dir` for scratch.
  std::function<void(const std::vector<core::DriveFile>& files, const std::string& dir,
                     const std::string& image)>
      write;
};

inline std::string Genisoimage(const std::string& flags) {
  return "genisoimage -ldots -allow-lowercase -allow-multidot -l -publisher test -quiet " + flags +
         " -V config-2";
}

inline std::vector<Writer> Writers() {
  auto ours = [](bool iso) {
    return [iso](const std::vector<core::DriveFile>& files, const std::string&,
                 const std::string& image) {
      configdrive::ImageOptions o;
      if (iso) {
        auto s = configdrive::IsoWriter(o).Write(files, image);
        ASSERT_TRUE(s) << s.error().ToString();
      } else {
        configdrive::VfatOptions v;
        v.size_bytes = uint64_t{16} << 20;
        auto s = (*configdrive::VfatWriter::Create(v))->Write(files, image);
        ASSERT_TRUE(s) << s.error().ToString();
      }
    };
  };
  auto geniso = [](std::string flags) {
    return [flags](const std::vector<core::DriveFile>& files, const std::string& dir,
                   const std::string& image) {
      Run(Genisoimage(flags) + " -o " + image + " " + WriteTree(dir, files));
    };
  };
  auto mkfs = [](std::string fat, std::string kib) {
    return [fat, kib](const std::vector<core::DriveFile>& files, const std::string& dir,
                      const std::string& image) {
      std::string tree = WriteTree(dir, files);
      Run("mkfs.vfat -C -F " + fat + " -n config-2 " + image + " " + kib);
      Run("mcopy -s -i " + image + " " + tree + "/* ::/");
    };
  };
  return {
      // Rock Ridge keeps 200 characters in CE continuation areas; VFAT in 16 LFN entries.
      {"OurIso", "iso9660", "config-2", false, 64, ours(true)},
      {"OurVfat", "vfat", "config-2", false, 200, ours(false)},
      {"GenisoimageJolietRockRidge", "iso9660", "config-2", false, 64, geniso("-J -r")},
      {"GenisoimageRockRidge", "iso9660", "config-2", false, 200, geniso("-r")},
      {"GenisoimagePlain", "iso9660", "config-2", true, 64, geniso("")},
      {"MkfsFat12", "vfat", "config-2", false, 200, mkfs("12", "2048")},
      {"MkfsFat16", "vfat", "config-2", false, 200, mkfs("16", "16384")},
      {"MkfsFat32", "vfat", "config-2", false, 200, mkfs("32", "65536")},
  };
}

inline void PrintTo(const Writer& w, std::ostream* os) { *os << w.name; }

// A fresh directory for one test, removed at the end.

}  // namespace metastack::guest::fakes
