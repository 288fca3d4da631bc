#include "configdrive/disk_container.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

#include "configdrive/byte_order.h"

namespace metastack::configdrive::disk {

void RawReader::Read(uint64_t offset, uint64_t length, char* out) const {
  std::memset(out, 0, length);
  const auto& extents = raw_.extents;
  // The first extent that ends after `offset`.
  auto it = std::upper_bound(
      extents.begin(), extents.end(), offset,
      [](uint64_t off, const Image::Extent& e) { return off < e.offset + e.bytes.size(); });
  for (; it != extents.end() && it->offset < offset + length; ++it) {
    uint64_t lo = std::max(offset, it->offset);
    uint64_t hi = std::min(offset + length, it->offset + it->bytes.size());
    if (lo < hi) std::memcpy(out + (lo - offset), it->bytes.data() + (lo - it->offset), hi - lo);
  }
}

std::string RawReader::Bytes(uint64_t offset, uint64_t length) const {
  std::string out(length, '\0');
  Read(offset, length, out.data());
  return out;
}

namespace {

bool AllZero(const char* p, size_t n) {
  return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0);
}

}  // namespace

std::vector<uint64_t> UsedUnits(const Image& raw, uint64_t unit) {
  std::vector<uint64_t> out;
  for (const auto& e : raw.extents) {
    const uint64_t end = e.offset + e.bytes.size();
    for (uint64_t u = e.offset / unit; u * unit < end; ++u) {
      if (!out.empty() && out.back() == u) continue;  // the previous extent found data here
      uint64_t lo = std::max(u * unit, e.offset);
      uint64_t hi = std::min((u + 1) * unit, end);
      if (!AllZero(e.bytes.data() + (lo - e.offset), hi - lo)) out.push_back(u);
    }
  }
  return out;
}

Digest ContentDigest(const Image& raw) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  char head[8];
  PutBe64(head, raw.size);
  EVP_DigestUpdate(ctx, head, sizeof head);
  RawReader reader(raw);
  char sector[kSector];
  for (uint64_t s : UsedUnits(raw, kSector)) {
    PutBe64(head, s);
    reader.Read(s * kSector, kSector, sector);
    EVP_DigestUpdate(ctx, head, sizeof head);
    EVP_DigestUpdate(ctx, sector, sizeof sector);
  }
  Digest out{};
  EVP_DigestFinal_ex(ctx, out.data(), nullptr);
  EVP_MD_CTX_free(ctx);
  return out;
}

std::array<uint8_t, 16> DerivedUuid(const Digest& digest, std::string_view purpose) {
  unsigned char md[EVP_MAX_MD_SIZE];
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, digest.data(), digest.size());
  EVP_DigestUpdate(ctx, purpose.data(), purpose.size());
  EVP_DigestFinal_ex(ctx, md, nullptr);
  EVP_MD_CTX_free(ctx);
  std::array<uint8_t, 16> out{};
  std::memcpy(out.data(), md, out.size());
  out[6] = static_cast<uint8_t>((out[6] & 0x0F) | 0x80);  // version 8
  out[8] = static_cast<uint8_t>((out[8] & 0x3F) | 0x80);  // variant 10
  return out;
}

void ContainerBuilder::Put(uint64_t offset, std::string bytes) {
  // Runs of 4 KiB file pages that hold a non-zero byte; the pages between stay holes.
  constexpr uint64_t kPage = 4096;
  if (bytes.empty()) return;
  const uint64_t end = offset + bytes.size();
  uint64_t run = end;  // where the current run of non-zero pages began; end: none
  for (uint64_t at = offset; at < end;) {
    const uint64_t next = std::min(end, (at / kPage + 1) * kPage);
    const bool zero = AllZero(bytes.data() + (at - offset), next - at);
    if (!zero && run == end) run = at;
    if (zero && run != end) {
      pieces_.push_back({run, bytes.substr(run - offset, at - run)});
      run = end;
    }
    at = next;
  }
  if (run == offset) {
    pieces_.push_back({offset, std::move(bytes)});
  } else if (run != end) {
    pieces_.push_back({run, bytes.substr(run - offset)});
  }
}

Image ContainerBuilder::Finish(uint64_t size) && {
  std::sort(pieces_.begin(), pieces_.end(),
            [](const Image::Extent& a, const Image::Extent& b) { return a.offset < b.offset; });
  Image out;
  out.size = size;
  for (auto& p : pieces_) {
    if (!out.extents.empty()) {
      auto& last = out.extents.back();
      if (last.offset + last.bytes.size() == p.offset) {
        last.bytes += p.bytes;
        continue;
      }
    }
    out.extents.push_back(std::move(p));
  }
  return out;
}

Status CheckSectors(const Image& raw, DiskFormat format) {
  if (raw.size == 0 || raw.size % kSector != 0)
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     std::string(DiskFormatName(format)) + ": the drive is " +
                                         std::to_string(raw.size) +
                                         " bytes, not a whole number of 512-byte sectors"));
  return Ok();
}

Error TooLarge(DiskFormat format, uint64_t size, std::string_view limit) {
  return MakeError(ErrorCode::kTooLarge, std::string(DiskFormatName(format)) + ": the drive is " +
                                             std::to_string(size) + " bytes; " +
                                             std::string(limit));
}

}  // namespace metastack::configdrive::disk
