#include "core/entity_tag.h"

#include <openssl/evp.h>

#include <memory>

namespace metastack::core {
namespace {

struct DigestCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

std::string_view TrimOws(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

}  // namespace

std::string EntityTag(std::string_view content_type, std::span<const std::string_view> body_parts) {
  std::unique_ptr<EVP_MD_CTX, DigestCtxFree> ctx(EVP_MD_CTX_new());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // A content type never holds a line feed: it separates the type from the body unambiguously.
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), content_type.data(), content_type.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), "\n", 1) != 1)
    return std::string(kEntityTagLength, '0');
  for (const auto& part : body_parts)
    if (EVP_DigestUpdate(ctx.get(), part.data(), part.size()) != 1)
      return std::string(kEntityTagLength, '0');
  if (EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1) return std::string(kEntityTagLength, '0');
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string tag(kEntityTagLength, '\0');
  for (size_t i = 0; i < kEntityTagLength / 2; ++i) {
    tag[2 * i] = kDigits[digest[i] >> 4];
    tag[2 * i + 1] = kDigits[digest[i] & 0xf];
  }
  return tag;
}

std::string EntityTag(std::string_view content_type, std::string_view body) {
  const std::string_view parts[] = {body};
  return EntityTag(content_type, parts);
}

std::string_view OpaqueTag(std::string_view item) {
  item = TrimOws(item);
  if (item.starts_with("W/")) item.remove_prefix(2);
  if (item.size() >= 2 && item.front() == '"' && item.back() == '"')
    item = item.substr(1, item.size() - 2);
  return item;
}

bool IfNoneMatchNames(std::string_view field, std::string_view tag) {
  while (!field.empty()) {
    size_t comma = field.find(',');
    std::string_view item = TrimOws(field.substr(0, comma));
    field = comma == std::string_view::npos ? std::string_view() : field.substr(comma + 1);
    if (item == "*") return true;
    item = OpaqueTag(item);
    if (!item.empty() && item == tag) return true;
  }
  return false;
}

}  // namespace metastack::core
