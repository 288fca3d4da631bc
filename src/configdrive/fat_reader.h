#pragma once
// A small, independent FAT12/16/32 reader for checking what VfatWriter wrote (unit tests and
// the vfat_writer fuzz target; the service never reads images). It decides the FAT type from
// the cluster count and takes a long name from LFN entries only when their checksum matches
// the short entry, as the kernel does. It reads an Image in place: a 600 MiB FAT32 image is
// mostly holes. Faults (a chain leaving the data area or looping, "." or ".." pointing
// elsewhere, directories nested past any sane depth) are collected in `problems`, never fatal.
// Header-only test support; thread-compatible.

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/utf8.h"
#include "configdrive/image_writer.h"
#include "configdrive/vfat_names.h"

namespace metastack::configdrive {

struct FatReader {
  static uint32_t Get16(const std::string& s, size_t at) {
    return static_cast<uint8_t>(s[at]) | static_cast<uint8_t>(s[at + 1]) << 8;
  }
  static uint32_t Get32(const std::string& s, size_t at) {
    return Get16(s, at) | Get16(s, at + 2) << 16;
  }

  explicit FatReader(Image image) : img(std::move(image)) {
    std::string boot = At(0, 512);
    spc = static_cast<uint8_t>(boot[13]);
    reserved = Get16(boot, 14);
    root_entries = Get16(boot, 17);
    total = Get16(boot, 19) ? Get16(boot, 19) : Get32(boot, 32);
    fat_sectors = Get16(boot, 22) ? Get16(boot, 22) : Get32(boot, 36);
    uint32_t root_sectors = root_entries * 32 / 512;
    data_start = reserved + 2 * fat_sectors + root_sectors;
    if (spc == 0 || total < data_start) {
      problems.push_back("boot sector: no data area");
      spc = 1;
      clusters = 0;
    } else {
      clusters = (total - data_start) / spc;
    }
    bits = Get16(boot, 22) == 0 ? 32 : clusters <= 4084 ? 12 : 16;
    root_cluster = Get32(boot, 44);
  }

  // `len` bytes at `offset`: extents over zeros.
  std::string At(uint64_t offset, size_t len) const {
    std::string out(len, '\0');
    for (const auto& e : img.extents) {
      uint64_t lo = std::max(offset, e.offset);
      uint64_t hi = std::min(offset + len, e.offset + e.bytes.size());
      if (lo < hi) out.replace(lo - offset, hi - lo, e.bytes, lo - e.offset, hi - lo);
    }
    return out;
  }

  uint32_t Next(uint32_t c) const {
    uint64_t fat = uint64_t{reserved} * 512;
    if (bits == 16) return Get16(At(fat + c * 2, 2), 0);
    if (bits == 32) return Get32(At(fat + c * 4, 4), 0) & 0x0FFFFFFF;
    uint32_t v = Get16(At(fat + c * 3 / 2, 2), 0);
    return c % 2 ? v >> 4 : v & 0xFFF;
  }
  bool Eoc(uint32_t c) const {
    return c >= (bits == 12 ? 0xFF8u : bits == 16 ? 0xFFF8u : 0x0FFFFFF8u);
  }

  std::string Chain(uint32_t first) {
    std::string out;
    uint32_t steps = 0;
    for (uint32_t c = first; !Eoc(c); c = Next(c)) {
      if (c < 2 || c >= clusters + 2 || ++steps > clusters) {
        problems.push_back("bad cluster chain from " + std::to_string(first));
        break;
      }
      out += At((uint64_t{data_start} + uint64_t{c - 2} * spc) * 512, size_t{spc} * 512);
    }
    return out;
  }

  // UTF-16 (as LFN entries hold it) to UTF-8; an unpaired surrogate becomes U+FFFD.
  static std::string Utf8(const std::u16string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      char32_t c = s[i];
      if (c >= 0xD800 && c < 0xDC00 && i + 1 < s.size() && s[i + 1] >= 0xDC00 &&
          s[i + 1] < 0xE000) {
        c = 0x10000 + ((c - 0xD800) << 10) + (s[++i] - 0xDC00);
      } else if (c >= 0xD800 && c < 0xE000) {
        c = 0xFFFD;
      }
      AppendUtf8(out, c);
    }
    return out;
  }

  // Every file under the directory, by UTF-8 path; checks "." and ".." on the way.
  void Walk(const std::string& dir_bytes, const std::string& prefix, uint32_t self, uint32_t parent,
            std::map<std::string, std::string>& out, int depth = 0) {
    if (depth > 64) {
      problems.push_back(prefix + ": directories nested too deep");
      return;
    }
    std::u16string lfn;
    int lfn_sum = -1;
    for (size_t at = 0; at + 32 <= dir_bytes.size(); at += 32) {
      std::string e = dir_bytes.substr(at, 32);
      if (e[0] == 0) break;
      uint8_t attr = static_cast<uint8_t>(e[11]);
      if (attr == 0x0F) {
        std::u16string part;
        for (int k : {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}) {
          char16_t ch = static_cast<char16_t>(Get16(e, static_cast<size_t>(k)));
          if (ch == 0 || ch == 0xFFFF) break;
          part += ch;
        }
        lfn = (e[0] & 0x40) ? part : part + lfn;
        lfn_sum = static_cast<uint8_t>(e[13]);
        continue;
      }
      ShortName sn;
      std::copy_n(e.begin(), 11, sn.begin());
      std::string name = ShortNameText(sn);
      if (lfn_sum == LfnChecksum(sn)) name = Utf8(lfn);
      lfn.clear();
      lfn_sum = -1;
      uint32_t first = Get16(e, 26) | (bits == 32 ? Get16(e, 20) << 16 : 0);
      if (attr & 0x08) {
        label = std::string(e, 0, 11);
      } else if (name == ".") {
        if (first != self) problems.push_back(prefix + ".: points to " + std::to_string(first));
      } else if (name == "..") {
        if (first != parent) problems.push_back(prefix + "..: points to " + std::to_string(first));
      } else if (attr & 0x10) {
        dirs.push_back(prefix + name);
        Walk(Chain(first), prefix + name + "/", first, self, out, depth + 1);
      } else {
        uint32_t size = Get32(e, 28);
        if (out.count(prefix + name)) problems.push_back(prefix + name + ": listed twice");
        out[prefix + name] = size ? Chain(first).substr(0, size) : "";
      }
    }
  }

  std::map<std::string, std::string> Files() {
    std::map<std::string, std::string> out;
    if (bits == 32) {
      Walk(Chain(root_cluster), "", 0, 0, out);
    } else {
      uint64_t root = (uint64_t{reserved} + 2 * fat_sectors) * 512;
      Walk(At(root, size_t{root_entries} * 32), "", 0, 0, out);
    }
    return out;
  }

  Image img;
  uint32_t spc, reserved, root_entries, total, fat_sectors, data_start, clusters, root_cluster;
  int bits;
  std::string label;
  std::vector<std::string> dirs;      // every directory Files() walked, by path
  std::vector<std::string> problems;  // what Files() found wrong, in reading order
};

}  // namespace metastack::configdrive
