#pragma once
// The input format of the image writer fuzz targets: a drive's file set as text, easy to write
// by hand and easy for the fuzzer to mutate.
//
//   [@<vfat size in KiB> [<label>]]\n        optional first line
//   <path>[\t<contents>[\t<repeat>]]\n        one file a line; contents repeated <repeat> times
//
// Paths and labels are taken as they are (any byte but '\n' and '\t': the writers must refuse
// what is hostile). Sizes are clamped to 1..64 MiB and whole contents to 8 MiB per input so a
// run stays fast; "@" with no number keeps the writer's default size.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "configdrive/vfat_writer.h"

namespace metastack::fuzz {

struct DriveInput {
  configdrive::VfatOptions vfat;  // also carries the ISO writer's ImageOptions
  std::vector<core::DriveFile> files;
};

inline uint64_t Number(std::string_view s, uint64_t fallback) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end != s.data() ? v : fallback;
}

inline DriveInput ParseDriveInput(std::string_view in) {
  constexpr size_t kMaxTotal = 8 << 20;
  DriveInput out;
  size_t total = 0;
  bool first = true;
  while (!in.empty()) {
    size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    if (first && line.starts_with("@")) {
      first = false;
      line.remove_prefix(1);
      size_t sp = line.find(' ');
      uint64_t kib = Number(line.substr(0, sp), 0);
      if (kib) out.vfat.size_bytes = std::clamp<uint64_t>(kib, 1024, 65536) << 10;
      if (sp != std::string_view::npos) out.vfat.image.label = std::string(line.substr(sp + 1));
      continue;
    }
    first = false;
    size_t tab = line.find('\t');
    core::DriveFile f{std::string(line.substr(0, tab)), {}};
    if (tab != std::string_view::npos) {
      std::string_view rest = line.substr(tab + 1);
      size_t tab2 = rest.find('\t');
      std::string_view contents = rest.substr(0, tab2);
      uint64_t repeat = tab2 == std::string_view::npos ? 1 : Number(rest.substr(tab2 + 1), 1);
      if (!contents.empty())
        repeat = std::min<uint64_t>(repeat, (kMaxTotal - total) / contents.size());
      for (uint64_t i = 0; i < repeat; ++i) f.contents += contents;
      total += f.contents.size();
    }
    out.files.push_back(std::move(f));
  }
  return out;
}

}  // namespace metastack::fuzz
