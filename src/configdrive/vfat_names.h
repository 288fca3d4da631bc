#pragma once
// Directory-entry names on VFAT: the 8.3 short name every FAT entry has, and the long-file-name
// (LFN) entries that carry the real name ("meta_data.json") for readers that know VFAT, which
// is every reader a config drive meets (Linux vfat, cloud-init, mtools, Windows).
//
// Short names follow the algorithm Windows and Linux's vfat use: upper-case, characters FAT
// does not allow in short names become "_", dots but the last one and spaces are dropped, the
// base is cut to 8 and the extension to 3 characters; when anything was lost, a "~N" tail makes
// the name unique in its directory ("META_D~1.JSO", "VENDOR~1.JSO", "VENDOR~2.JSO"). An LFN is
// written whenever the short name is not exactly the name ("latest" -> "LATEST" + LFN, as Linux
// does with its default shortname=mixed); "0000" needs none.
//
// Plain value types; a ShortNameGenerator is per directory and not thread-safe.

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

namespace metastack::configdrive {

// 8 + 3 characters, space-padded, without the dot: "META_D~1JSO".
using ShortName = std::array<char, 11>;

ShortName MakeShortName(std::string_view base, std::string_view ext);

// "META_D~1.JSO": for messages and tests.
std::string ShortNameText(const ShortName& name);

class ShortNameGenerator {
 public:
  struct Names {
    ShortName short_name;
    bool needs_lfn = false;
  };
  // The short name for `name` (UTF-8, already validated by drive_tree.h), unique among those
  // this generator has returned. Deterministic for a given sequence of calls.
  Names Add(std::string_view name);

 private:
  std::set<ShortName> used_;
};

// The checksum of a short name stored in each of its LFN entries (the FAT spec's rotate-add).
uint8_t LfnChecksum(const ShortName& name);

// How many 32-byte LFN entries a name of `utf16_units` needs (13 characters each).
inline size_t LfnEntryCount(size_t utf16_units) { return (utf16_units + 12) / 13; }

// Appends the LFN entries for `name` in on-disk order (the last part first, flagged 0x40),
// each ending, where room is left, with a 0x0000 terminator and 0xFFFF padding.
void AppendLfnEntries(std::u16string_view name, uint8_t checksum, std::string& out);

}  // namespace metastack::configdrive
