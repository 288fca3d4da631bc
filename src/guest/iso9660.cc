#include "guest/iso9660.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/utf8.h"

namespace metastack::guest {
namespace iso9660_internal {
namespace {

constexpr uint64_t kSector = 2048;
constexpr uint64_t kFirstDescriptor = 16;
constexpr int kMaxDescriptors = 64;
constexpr int kMaxContinuations = 32;
constexpr size_t kRootRecordAt = 156;
constexpr size_t kMinRecord = 34;

enum class Names { kJoliet, kRockRidge, kPlain };

struct Record {
  uint32_t extent = 0;
  uint32_t size = 0;
  uint8_t flags = 0;
  std::string_view id;
  std::string_view system_use;  // after the name and its padding byte
};

constexpr uint8_t kDirectory = 0x02;
constexpr uint8_t kAssociated = 0x04;
constexpr uint8_t kMultiExtent = 0x80;

// `rec` is one whole record (its length byte is rec.size()).
std::optional<Record> ParseRecord(std::string_view rec) {
  if (rec.size() < kMinRecord - 1) return std::nullopt;
  size_t id_len = static_cast<uint8_t>(rec[32]);
  if (33 + id_len > rec.size()) return std::nullopt;
  Record r;
  r.extent = Le32(rec, 2);
  r.size = Le32(rec, 10);
  r.flags = static_cast<uint8_t>(rec[25]);
  r.id = rec.substr(33, id_len);
  size_t su = 33 + id_len + (id_len % 2 == 0 ? 1 : 0);
  if (su < rec.size()) r.system_use = rec.substr(su);
  return r;
}

// UCS-2 big-endian (UTF-16 pairs accepted; a lone surrogate becomes U+FFFD) to UTF-8, then
// isofs's get_joliet_filename: ";1" and trailing dots dropped.
std::string JolietName(std::string_view id) {
  std::string out;
  for (size_t i = 0; i + 1 < id.size(); i += 2) {
    char32_t c = uint32_t{static_cast<uint8_t>(id[i])} << 8 | static_cast<uint8_t>(id[i + 1]);
    if (c >= 0xD800 && c < 0xDC00 && i + 3 < id.size()) {
      char32_t low =
          uint32_t{static_cast<uint8_t>(id[i + 2])} << 8 | static_cast<uint8_t>(id[i + 3]);
      if (low >= 0xDC00 && low < 0xE000) {
        c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
        i += 2;
      }
    }
    if (c >= 0xD800 && c < 0xE000) c = kReplacementCharacter;
    AppendUtf8(out, c);
  }
  if (out.size() > 2 && out.ends_with(";1")) out.resize(out.size() - 2);
  while (out.size() >= 2 && out.back() == '.') out.pop_back();
  return out;
}

// isofs's isofs_name_translate (map=normal).
std::string PlainName(std::string_view id) {
  std::string out;
  for (size_t i = 0; i < id.size(); ++i) {
    char c = id[i];
    if (c == '.' && i + 3 == id.size() && id[i + 1] == ';' && id[i + 2] == '1') break;
    if (c == ';' && i + 2 == id.size() && id[i + 1] == '1') break;
    if (c == ';' || c == '/') c = '.';
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    out += c;
  }
  return out;
}

struct RockRidge {
  std::optional<std::string> name;
  bool relocated = false;              // RE: shown where its CL entry is instead
  std::optional<uint32_t> child_link;  // CL: a directory relocated to this block
};

class IsoFs final : public DriveFs {
 public:
  IsoFs(std::shared_ptr<ImageSource> source, std::string label)
      : source_(std::move(source)), label_(std::move(label)) {}

  Status Init(std::string_view primary, std::optional<std::string> joliet) {
    if (Le16(primary, 128) != kSector)
      return Fail("logical block size " + std::to_string(Le16(primary, 128)) +
                  " is not supported (only 2048)");
    std::string_view root = joliet ? std::string_view(*joliet) : primary;
    auto rec = ParseRecord(root.substr(kRootRecordAt, kMinRecord));
    if (!rec || !(rec->flags & kDirectory))
      return Fail("the volume descriptor's root directory record is malformed");
    root_ = DriveEntry{"", true, rec->size, rec->extent};
    if (joliet) {
      names_ = Names::kJoliet;
      return Ok();
    }
    // Rock Ridge: the root's "." record starts its system use area with SUSP's SP entry.
    METASTACK_ASSIGN_OR_RETURN(std::string first, source_->ReadAt(Offset(rec->extent), kSector));
    auto dot = ParseRecord(std::string_view(first).substr(0, static_cast<uint8_t>(first[0])));
    std::string_view su = dot ? dot->system_use : std::string_view();
    if (su.size() >= 7 && su.substr(0, 2) == "SP" && static_cast<uint8_t>(su[2]) >= 7 &&
        static_cast<uint8_t>(su[4]) == 0xBE && static_cast<uint8_t>(su[5]) == 0xEF) {
      names_ = Names::kRockRidge;
      susp_skip_ = static_cast<uint8_t>(su[6]);
    }
    return Ok();
  }

  DriveLabel Label() const override { return {DriveFormat::kIso9660, label_}; }
  bool CaseInsensitive() const override { return false; }
  DriveEntry Root() const override { return root_; }
  const std::string& Name() const override { return source_->Name(); }

  Result<std::vector<DriveEntry>> List(const DriveEntry& dir) override {
    if (dir.size > kMaxDirectoryBytes)
      return Fail("directory at block " + std::to_string(dir.location) + " has " +
                  std::to_string(dir.size) + " bytes, more than 2 MiB");
    METASTACK_ASSIGN_OR_RETURN(std::string bytes, source_->ReadAt(Offset(dir.location), dir.size));
    std::vector<DriveEntry> out;
    bool in_multi_extent = false;
    for (size_t sector = 0; sector < bytes.size(); sector += kSector) {
      size_t end = std::min<size_t>(sector + kSector, bytes.size());
      for (size_t at = sector; at < end;) {
        size_t len = static_cast<uint8_t>(bytes[at]);
        if (len == 0) break;  // the rest of the sector is padding
        uint64_t where = Offset(dir.location) + at;
        auto rec =
            len > end - at ? std::nullopt : ParseRecord(std::string_view(bytes).substr(at, len));
        if (!rec)
          return Fail("directory record at byte " + std::to_string(where) +
                      " is malformed or runs past its sector");
        at += len;
        if (rec->id.size() == 1 && (rec->id[0] == '\0' || rec->id[0] == '\1')) continue;
        if (rec->flags & kAssociated) continue;
        if (in_multi_extent) {  // the remaining extents of a file already listed
          in_multi_extent = (rec->flags & kMultiExtent) != 0;
          continue;
        }
        DriveEntry e{"", (rec->flags & kDirectory) != 0, rec->size, rec->extent,
                     (rec->flags & kMultiExtent) != 0};
        in_multi_extent = e.multi_extent;
        if (names_ == Names::kJoliet) {
          e.name = JolietName(rec->id);
        } else if (names_ == Names::kRockRidge) {
          RockRidge rr;
          std::string_view su =
              rec->system_use.substr(std::min(susp_skip_, rec->system_use.size()));
          METASTACK_RETURN_IF_ERROR(ReadSusp(su, where, rr));
          if (rr.relocated) continue;
          if (rr.child_link) {
            METASTACK_ASSIGN_OR_RETURN(e, Relocated(*rr.child_link));
          }
          e.name = rr.name ? *rr.name : PlainName(rec->id);
        } else {
          e.name = PlainName(rec->id);
        }
        out.push_back(std::move(e));
      }
    }
    return out;
  }

  Result<std::string> ReadFile(const DriveEntry& file) override {
    if (file.multi_extent) return Fail("multi-extent files are not supported");
    if (file.size > kMaxDriveFileBytes)
      return std::unexpected(MakeError(ErrorCode::kTooLarge, "file too large", Name()));
    return source_->ReadAt(Offset(file.location), file.size);
  }

 private:
  static uint64_t Offset(uint64_t block) { return block * kSector; }
  std::unexpected<Error> Fail(std::string what) const {
    return std::unexpected(source_->Corrupt("iso9660: " + std::move(what)));
  }

  // SUSP entries of one record, following CE continuation areas (bounded as Linux's rock.c).
  Status ReadSusp(std::string_view area, uint64_t where, RockRidge& rr) {
    std::string continuation;
    for (int hops = 0;; ++hops) {
      std::optional<std::array<uint32_t, 3>> next;
      for (size_t at = 0; at + 4 <= area.size();) {
        size_t len = static_cast<uint8_t>(area[at + 2]);
        if (len < 4) break;
        if (len > area.size() - at)
          return Fail("Rock Ridge entry of the record at byte " + std::to_string(where) +
                      " runs past its area");
        std::string_view e = area.substr(at, len);
        at += len;
        std::string_view sig = e.substr(0, 2);
        if (sig == "ST") break;
        if (sig == "CE" && len >= 28) {
          next = {Le32(e, 4), Le32(e, 12), Le32(e, 20)};
        } else if (sig == "NM" && len >= 5 && !(static_cast<uint8_t>(e[4]) & 0x06)) {
          if (!rr.name) rr.name.emplace();
          rr.name->append(e.substr(5));
        } else if (sig == "RE") {
          rr.relocated = true;
        } else if (sig == "CL" && len >= 12) {
          rr.child_link = Le32(e, 4);
        }
      }
      if (!next) return Ok();
      if (hops >= kMaxContinuations)
        return Fail("the record at byte " + std::to_string(where) +
                    " has more than 32 Rock Ridge continuation areas");
      auto [block, offset, length] = *next;
      if (offset >= kSector || length > kSector - offset)
        return Fail("a Rock Ridge continuation area of the record at byte " +
                    std::to_string(where) + " leaves its block");
      METASTACK_ASSIGN_OR_RETURN(continuation, source_->ReadAt(Offset(block) + offset, length));
      area = continuation;
    }
  }

  // The directory a CL entry points to: its size is in its own "." record.
  Result<DriveEntry> Relocated(uint32_t block) {
    METASTACK_ASSIGN_OR_RETURN(std::string first, source_->ReadAt(Offset(block), kSector));
    size_t len = static_cast<uint8_t>(first[0]);
    auto dot = ParseRecord(std::string_view(first).substr(0, len));
    if (!dot)
      return Fail("relocated directory at block " + std::to_string(block) + " has no \".\" record");
    return DriveEntry{"", true, dot->size, block};
  }

  std::shared_ptr<ImageSource> source_;
  std::string label_;
  DriveEntry root_;
  Names names_ = Names::kPlain;
  size_t susp_skip_ = 0;
};

bool IsJoliet(std::string_view svd) {
  std::string_view escape = svd.substr(88, 3);
  return escape == "%/@" || escape == "%/C" || escape == "%/E";
}

}  // namespace
}  // namespace iso9660_internal

Result<std::unique_ptr<DriveFs>> OpenIso9660(std::shared_ptr<ImageSource> source) {
  using namespace iso9660_internal;
  if (source->Size() < (kFirstDescriptor + 1) * kSector) return nullptr;
  std::optional<std::string> primary, joliet;
  for (int i = 0; i < kMaxDescriptors; ++i) {
    uint64_t at = (kFirstDescriptor + i) * kSector;
    if (at + kSector > source->Size()) break;
    METASTACK_ASSIGN_OR_RETURN(std::string d, source->ReadAt(at, kSector));
    if (d.substr(1, 5) != "CD001") {
      if (i == 0) return nullptr;
      break;
    }
    uint8_t type = static_cast<uint8_t>(d[0]);
    if (type == 255) break;
    if (type == 1 && !primary)
      primary = std::move(d);
    else if (type == 2 && !joliet && IsJoliet(d))
      joliet = std::move(d);
  }
  if (!primary) return std::unexpected(source->Corrupt("iso9660: no primary volume descriptor"));
  std::string label = primary->substr(40, 32);
  while (!label.empty() && (label.back() == ' ' || label.back() == '\0')) label.pop_back();
  auto fs = std::make_unique<IsoFs>(source, std::move(label));
  METASTACK_RETURN_IF_ERROR(fs->Init(*primary, std::move(joliet)));
  return fs;
}

}  // namespace metastack::guest
