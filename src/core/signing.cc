#include "core/signing.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <stdexcept>

namespace metastack::core {
namespace {

constexpr size_t kBlock = 64;  // SHA-256's block size: the HMAC pad length
constexpr char kHex[] = "0123456789abcdef";

std::string Hex(const unsigned char* mac, size_t len) {
  std::string out(len * 2, '\0');
  for (size_t i = 0; i < len; ++i) {
    out[2 * i] = kHex[mac[i] >> 4];
    out[2 * i + 1] = kHex[mac[i] & 0xf];
  }
  return out;
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

[[noreturn]] void Fail(const char* what) {
  throw std::runtime_error(std::string("HMAC-SHA256: ") + what + " failed");
}

}  // namespace

std::string SignInstanceId(std::string_view secret, std::string_view id) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(id.data()), id.size(), mac, &len);
  return Hex(mac, len);
}

// RFC 2104: HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m)), K' the key hashed when longer
// than a block and zero-padded. The two prefixes are one block each, so their hash states are
// kept and copied per signature.
struct InstanceSigner::Keyed {
  EVP_MD* md = nullptr;
  MdCtx inner, outer;
  ~Keyed() { EVP_MD_free(md); }
};

InstanceSigner::InstanceSigner(std::string_view secret) : keyed_(std::make_unique<Keyed>()) {
  keyed_->md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (!keyed_->md) Fail("fetching SHA256");
  std::array<unsigned char, kBlock> key{};
  if (secret.size() > kBlock) {
    unsigned int len = 0;
    if (!EVP_Digest(secret.data(), secret.size(), key.data(), &len, keyed_->md, nullptr))
      Fail("hashing the key");
  } else {
    std::copy(secret.begin(), secret.end(), key.begin());
  }
  auto prefix = [&](unsigned char pad) {
    std::array<unsigned char, kBlock> block;
    for (size_t i = 0; i < kBlock; ++i) block[i] = key[i] ^ pad;
    MdCtx ctx(EVP_MD_CTX_new());
    if (!ctx || !EVP_DigestInit_ex(ctx.get(), keyed_->md, nullptr) ||
        !EVP_DigestUpdate(ctx.get(), block.data(), block.size()))
      Fail("keying");
    OPENSSL_cleanse(block.data(), block.size());
    return ctx;
  };
  keyed_->inner = prefix(0x36);
  keyed_->outer = prefix(0x5c);
  OPENSSL_cleanse(key.data(), key.size());
}

InstanceSigner::~InstanceSigner() = default;

std::string InstanceSigner::Sign(std::string_view id) const {
  // One context per thread, re-seeded from the keyed states: EVP_MD_CTX_copy_ex reuses its
  // allocation, so a signature allocates nothing but the returned string.
  thread_local MdCtx ctx(EVP_MD_CTX_new());
  unsigned char inner[EVP_MAX_MD_SIZE], mac[EVP_MAX_MD_SIZE];
  unsigned int inner_len = 0, mac_len = 0;
  if (!ctx || !EVP_MD_CTX_copy_ex(ctx.get(), keyed_->inner.get()) ||
      !EVP_DigestUpdate(ctx.get(), id.data(), id.size()) ||
      !EVP_DigestFinal_ex(ctx.get(), inner, &inner_len) ||
      !EVP_MD_CTX_copy_ex(ctx.get(), keyed_->outer.get()) ||
      !EVP_DigestUpdate(ctx.get(), inner, inner_len) ||
      !EVP_DigestFinal_ex(ctx.get(), mac, &mac_len))
    Fail("signing");
  return Hex(mac, mac_len);
}

bool InstanceSigner::Verify(std::string_view id, std::string_view signature) const {
  return ConstantTimeEqual(Sign(id), signature);
}

}  // namespace metastack::core
