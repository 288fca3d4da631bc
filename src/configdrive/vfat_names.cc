#include "configdrive/vfat_names.h"

#include <algorithm>

#include "base/utf8.h"

namespace metastack::configdrive {
namespace {

constexpr uint8_t kAttrLfn = 0x0F;

// Characters a short name may hold besides A-Z and 0-9 (FAT spec, "DIR_Name").
bool ShortNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("$%'-_@~`!(){}^#&").find(c) != std::string_view::npos;
}

// Maps a name's characters to short-name characters; `lossy` is set when any could not be
// kept as they are (case changes are not losses: the LFN keeps the case).
std::string Squeeze(std::string_view in, bool& lossy) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c == ' ') {
      lossy = true;
      continue;
    }
    if (c >= 0x80) {  // one "_" per UTF-8 character, not per byte
      size_t next = i;
      NextCodePoint(in, next);
      i = next - 1;
      out.push_back('_');
      lossy = true;
      continue;
    }
    char u = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    if (ShortNameChar(u)) {
      out.push_back(u);
    } else {
      out.push_back('_');
      lossy = true;
    }
  }
  return out;
}

}  // namespace

ShortName MakeShortName(std::string_view base, std::string_view ext) {
  ShortName n;
  n.fill(' ');
  std::copy_n(base.begin(), std::min<size_t>(base.size(), 8), n.begin());
  std::copy_n(ext.begin(), std::min<size_t>(ext.size(), 3), n.begin() + 8);
  return n;
}

std::string ShortNameText(const ShortName& name) {
  std::string base(name.begin(), name.begin() + 8), ext(name.begin() + 8, name.end());
  base.erase(base.find_last_not_of(' ') + 1);
  ext.erase(ext.find_last_not_of(' ') + 1);
  return ext.empty() ? base : base + "." + ext;
}

ShortNameGenerator::Names ShortNameGenerator::Add(std::string_view name) {
  bool lossy = false;
  std::string_view rest = name;
  while (!rest.empty() && rest.front() == '.') {  // ".profile" -> "PROFILE~1"
    rest.remove_prefix(1);
    lossy = true;
  }
  size_t dot = rest.rfind('.');
  std::string_view base_in = rest.substr(0, dot);
  std::string_view ext_in = dot == std::string_view::npos ? "" : rest.substr(dot + 1);
  std::string base;
  for (size_t start = 0;;) {  // dots inside the base are dropped
    size_t d = base_in.find('.', start);
    base += Squeeze(base_in.substr(start, d - start), lossy);
    if (d == std::string_view::npos) break;
    lossy = true;
    start = d + 1;
  }
  std::string ext = Squeeze(ext_in, lossy);
  if (base.size() > 8) lossy = true;
  if (ext.size() > 3) lossy = true;
  if (base.empty()) {
    base = "_";
    lossy = true;
  }
  ShortName candidate = MakeShortName(base, ext);
  // Exactly representable: no LFN needed when the name is its short name, case included.
  bool exact = !lossy && ShortNameText(candidate) == name;
  if (lossy || used_.count(candidate)) {
    for (unsigned n = 1;; ++n) {
      std::string tail = "~" + std::to_string(n);
      candidate = MakeShortName(base.substr(0, std::min(base.size(), 8 - tail.size())) + tail, ext);
      if (!used_.count(candidate)) break;
    }
    exact = false;
  }
  used_.insert(candidate);
  return {candidate, !exact};
}

uint8_t LfnChecksum(const ShortName& name) {
  uint8_t sum = 0;
  for (char c : name)
    sum = static_cast<uint8_t>(((sum & 1) << 7) + (sum >> 1) + static_cast<uint8_t>(c));
  return sum;
}

void AppendLfnEntries(std::u16string_view name, uint8_t checksum, std::string& out) {
  // Character slots of one entry, as byte offsets.
  static constexpr int kSlots[13] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
  const size_t count = LfnEntryCount(name.size());
  for (size_t seq = count; seq >= 1; --seq) {
    char e[32] = {};
    e[0] = static_cast<char>(seq | (seq == count ? 0x40 : 0));
    e[11] = static_cast<char>(kAttrLfn);
    e[12] = 0;
    e[13] = static_cast<char>(checksum);
    for (int k = 0; k < 13; ++k) {
      size_t idx = (seq - 1) * 13 + static_cast<size_t>(k);
      char16_t c = idx < name.size() ? name[idx] : idx == name.size() ? u'\0' : u'\xFFFF';
      e[kSlots[k]] = static_cast<char>(c & 0xFF);
      e[kSlots[k] + 1] = static_cast<char>(c >> 8);
    }
    out.append(e, sizeof e);
  }
}

}  // namespace metastack::configdrive
