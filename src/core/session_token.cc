#include "core/session_token.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <memory>
#include <optional>
#include <stdexcept>

#include "base/base64.h"
#include "base/strings.h"

namespace metastack::core {
namespace {

constexpr size_t kNonceBytes = 12;
constexpr size_t kExpiryBytes = 8;
constexpr size_t kTagBytes = 16;
constexpr size_t kTokenBytes = 1 + kNonceBytes + kExpiryBytes + kTagBytes;
constexpr std::string_view kContext = "metastack-session-v1";

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

const unsigned char* U(const void* p) { return static_cast<const unsigned char*>(p); }

std::string AssociatedData(uint8_t key_id, std::string_view uuid) {
  std::string aad(kContext);
  aad += static_cast<char>(key_id);
  aad += uuid;
  return aad;
}

std::string ToBase64Url(std::string_view bytes) {
  std::string s = Base64Encode(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}

std::optional<std::string> FromBase64Url(std::string_view text) {
  std::string s(text);
  for (char c : s)
    if (c == '+' || c == '/' || c == '=') return std::nullopt;
  for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (s.size() % 4 != 0) s += '=';
  return Base64Decode(s);
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::unexpected<Error> Unauthenticated(std::string message) {
  return std::unexpected(MakeError(ErrorCode::kUnauthenticated, std::move(message)));
}

}  // namespace

Result<std::vector<TokenKey>> ParseTokenKeys(std::string_view text) {
  std::vector<TokenKey> keys;
  int number = 0;
  for (std::string_view line : SplitLines(text)) {
    ++number;
    line = TrimBlanks(line);
    if (!line.empty() && line.back() == '\r') line = TrimBlanks(line.substr(0, line.size() - 1));
    if (line.empty() || line.front() == '#') continue;
    std::string where = "line " + std::to_string(number);
    size_t space = line.find_first_of(" \t");
    if (space == std::string_view::npos)
      return InvalidField(where, "expected \"ID HEX\" (a key id 0..255 and 64 hex digits)");
    std::string_view id_text = line.substr(0, space);
    std::string_view hex = TrimBlanks(line.substr(space));
    int id = 0;
    if (id_text.empty() || id_text.size() > 3) return InvalidField(where, "key id not in 0..255");
    for (char c : id_text) {
      if (c < '0' || c > '9') return InvalidField(where, "key id not in 0..255");
      id = id * 10 + (c - '0');
    }
    if (id > 255) return InvalidField(where, "key id not in 0..255");
    if (hex.size() != 64) return InvalidField(where, "the key must be 64 hex digits (32 bytes)");
    TokenKey key;
    key.id = static_cast<uint8_t>(id);
    for (size_t i = 0; i < 32; ++i) {
      int hi = HexDigit(hex[2 * i]), lo = HexDigit(hex[2 * i + 1]);
      if (hi < 0 || lo < 0) return InvalidField(where, "the key must be 64 hex digits (32 bytes)");
      key.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    for (const TokenKey& k : keys) {
      if (k.id == key.id) return InvalidField(where, "key id " + std::to_string(id) + " repeated");
      if (k.bytes == key.bytes) return InvalidField(where, "the same key is listed twice");
    }
    keys.push_back(key);
  }
  if (keys.empty()) return InvalidField("", "no keys");
  return keys;
}

TokenKey DeriveTokenKey(std::string_view secret) {
  TokenKey key;
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
  EVP_KDF_free(kdf);
  static const char kSalt[] = "metastack";
  static const char kInfo[] = "imds-session-token-v1";
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_octet_string(
                             OSSL_KDF_PARAM_KEY, const_cast<char*>(secret.data()), secret.size()),
                         OSSL_PARAM_construct_octet_string(
                             OSSL_KDF_PARAM_SALT, const_cast<char*>(kSalt), sizeof(kSalt) - 1),
                         OSSL_PARAM_construct_octet_string(
                             OSSL_KDF_PARAM_INFO, const_cast<char*>(kInfo), sizeof(kInfo) - 1),
                         OSSL_PARAM_construct_end()};
  bool ok = ctx && EVP_KDF_derive(ctx, key.bytes.data(), key.bytes.size(), params) == 1;
  EVP_KDF_CTX_free(ctx);
  if (!ok) throw std::runtime_error("HKDF-SHA256: deriving the session token key failed");
  return key;
}

SessionTokens::SessionTokens(std::vector<TokenKey> keys) : keys_(std::move(keys)) {
  if (keys_.empty()) throw std::invalid_argument("SessionTokens: no keys");
}

std::string SessionTokens::Issue(std::string_view instance_uuid, int64_t expires_at,
                                 const RandomBytes& random) const {
  const TokenKey& key = keys_.front();
  std::array<uint8_t, kTokenBytes> out{};
  out[0] = key.id;
  random(std::span<uint8_t>(out.data() + 1, kNonceBytes));
  std::array<uint8_t, kExpiryBytes> plain;
  auto expiry = static_cast<uint64_t>(expires_at);
  for (size_t i = 0; i < kExpiryBytes; ++i)
    plain[i] = static_cast<uint8_t>(expiry >> (8 * (kExpiryBytes - 1 - i)));
  std::string aad = AssociatedData(key.id, instance_uuid);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  uint8_t* cipher = out.data() + 1 + kNonceBytes;
  if (!ctx || !EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) ||
      !EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) ||
      !EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.bytes.data(), out.data() + 1) ||
      !EVP_EncryptUpdate(ctx.get(), nullptr, &len, U(aad.data()), static_cast<int>(aad.size())) ||
      !EVP_EncryptUpdate(ctx.get(), cipher, &len, plain.data(), kExpiryBytes) ||
      !EVP_EncryptFinal_ex(ctx.get(), cipher + len, &len) ||
      !EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, cipher + kExpiryBytes))
    throw std::runtime_error("AES-256-GCM: sealing a session token failed");
  return ToBase64Url(std::string_view(reinterpret_cast<const char*>(out.data()), out.size()));
}

Result<int64_t> SessionTokens::Open(std::string_view token, std::string_view instance_uuid) const {
  if (token.size() > 2 * kTokenBytes) return Unauthenticated("malformed token");
  auto raw = FromBase64Url(token);
  if (!raw || raw->size() != kTokenBytes) return Unauthenticated("malformed token");
  const auto* bytes = U(raw->data());
  const TokenKey* key = nullptr;
  for (const TokenKey& k : keys_)
    if (k.id == bytes[0]) key = &k;
  if (!key) return Unauthenticated("token sealed with an unknown key");
  std::string aad = AssociatedData(key->id, instance_uuid);
  const unsigned char* cipher = bytes + 1 + kNonceBytes;
  std::array<unsigned char, kTagBytes> tag;
  std::copy(cipher + kExpiryBytes, cipher + kExpiryBytes + kTagBytes, tag.begin());
  std::array<uint8_t, kExpiryBytes + 16> plain{};
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0, final_len = 0;
  if (!ctx || !EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) ||
      !EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) ||
      !EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key->bytes.data(), bytes + 1) ||
      !EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(aad.data()), static_cast<int>(aad.size())) ||
      !EVP_DecryptUpdate(ctx.get(), plain.data(), &len, cipher, kExpiryBytes) ||
      !EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) ||
      EVP_DecryptFinal_ex(ctx.get(), plain.data() + len, &final_len) != 1)
    return Unauthenticated("token not valid for this instance");
  uint64_t expiry = 0;
  for (size_t i = 0; i < kExpiryBytes; ++i) expiry = expiry << 8 | plain[i];
  OPENSSL_cleanse(plain.data(), plain.size());
  return static_cast<int64_t>(expiry);
}

Status SessionTokens::Verify(std::string_view token, std::string_view instance_uuid,
                             int64_t now) const {
  METASTACK_ASSIGN_OR_RETURN(int64_t expiry, Open(token, instance_uuid));
  if (expiry <= now) return Unauthenticated("token expired");
  return Ok();
}

}  // namespace metastack::core
