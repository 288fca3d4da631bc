#include "guest/password.h"

#include <crypt.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/base64.h"
#include "base/file.h"

namespace metastack::guest {
namespace {

constexpr std::string_view kAlphanumeric =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

// `count` characters drawn uniformly from `alphabet` (at most 256 characters): a random byte
// is kept only below the largest multiple of the alphabet's size, so that no character is
// likelier than another.
std::string RandomString(std::string_view alphabet, size_t count) {
  const unsigned limit = 256 / alphabet.size() * alphabet.size();
  std::string out;
  uint8_t bytes[64];
  while (out.size() < count) {
    SystemRandom(bytes);
    for (uint8_t b : bytes) {
      if (b < limit && out.size() < count) out += alphabet[b % alphabet.size()];
    }
  }
  return out;
}

// ---- A natural number as little-endian 32-bit limbs, just enough for m^e mod n ----

using Limbs = std::vector<uint32_t>;

// `bytes` (big-endian) as `size` limbs; the caller makes sure they fit.
Limbs FromBigEndian(std::string_view bytes, size_t size) {
  Limbs x(size, 0);
  for (size_t i = 0; i < bytes.size(); ++i) {
    size_t bit = 8 * (bytes.size() - 1 - i);
    x[bit / 32] |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])) << (bit % 32);
  }
  return x;
}

// The `k` lowest bytes of `x`, big-endian.
std::string ToBigEndian(const Limbs& x, size_t k) {
  std::string out(k, '\0');
  for (size_t i = 0; i < k; ++i) {
    size_t bit = 8 * (k - 1 - i);
    if (bit / 32 < x.size()) out[i] = static_cast<char>(x[bit / 32] >> (bit % 32));
  }
  return out;
}

// a >= b, for numbers of the same number of limbs.
bool AtLeast(const Limbs& a, const Limbs& b) {
  for (size_t i = a.size(); i-- > 0;) {
    if (a[i] != b[i]) return a[i] > b[i];
  }
  return true;
}

// a -= b (a >= b, or a carries an implicit top bit that the borrow clears).
void Subtract(Limbs& a, const Limbs& b) {
  uint64_t borrow = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    uint64_t d = uint64_t{a[i]} - b[i] - borrow;
    a[i] = static_cast<uint32_t>(d);
    borrow = (d >> 32) & 1;
  }
}

// Arithmetic modulo an odd n in Montgomery form (R = 2^(32 * limbs)): a product costs one
// pass of multiply-and-reduce (CIOS, Koc et al. 1996) instead of a long division.
class Montgomery {
 public:
  explicit Montgomery(Limbs n) : n_(std::move(n)) {
    // -n^-1 mod 2^32 by Newton's iteration: each step doubles the correct low bits.
    uint32_t inv = 1;
    for (int i = 0; i < 5; ++i) inv *= 2 - n_[0] * inv;
    n_inv_ = ~inv + 1;
    // R^2 mod n: 1 doubled 64 * limbs times, reduced as it goes.
    r2_.assign(n_.size(), 0);
    r2_[0] = 1;
    for (size_t i = 0; i < 64 * n_.size(); ++i) {
      uint32_t carry = 0;
      for (auto& limb : r2_) {
        uint32_t next = limb >> 31;
        limb = (limb << 1) | carry;
        carry = next;
      }
      if (carry || AtLeast(r2_, n_)) Subtract(r2_, n_);
    }
  }

  // a * b / R mod n, for a, b < n.
  Limbs Multiply(const Limbs& a, const Limbs& b) const {
    const size_t s = n_.size();
    std::vector<uint32_t> t(s + 2, 0);
    for (size_t i = 0; i < s; ++i) {
      uint64_t carry = 0;
      for (size_t j = 0; j < s; ++j) {
        uint64_t v = uint64_t{t[j]} + uint64_t{a[j]} * b[i] + carry;
        t[j] = static_cast<uint32_t>(v);
        carry = v >> 32;
      }
      uint64_t v = uint64_t{t[s]} + carry;
      t[s] = static_cast<uint32_t>(v);
      t[s + 1] = static_cast<uint32_t>(v >> 32);
      uint32_t m = t[0] * n_inv_;
      carry = (uint64_t{t[0]} + uint64_t{m} * n_[0]) >> 32;
      for (size_t j = 1; j < s; ++j) {
        v = uint64_t{t[j]} + uint64_t{m} * n_[j] + carry;
        t[j - 1] = static_cast<uint32_t>(v);
        carry = v >> 32;
      }
      v = uint64_t{t[s]} + carry;
      t[s - 1] = static_cast<uint32_t>(v);
      t[s] = t[s + 1] + static_cast<uint32_t>(v >> 32);
    }
    Limbs out(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(s));
    if (t[s] || AtLeast(out, n_)) Subtract(out, n_);
    return out;
  }

  // base^exponent mod n, for base < n and `exponent` big-endian bytes; left-to-right square
  // and multiply.
  Limbs Power(const Limbs& base, std::string_view exponent) const {
    Limbs one(n_.size(), 0);
    one[0] = 1;
    Limbs x = Multiply(base, r2_);      // base * R
    Limbs result = Multiply(one, r2_);  // 1 * R
    for (char byte : exponent) {
      for (int bit = 7; bit >= 0; --bit) {
        result = Multiply(result, result);
        if ((static_cast<uint8_t>(byte) >> bit) & 1) result = Multiply(result, x);
      }
    }
    return Multiply(result, one);
  }

 private:
  Limbs n_;
  uint32_t n_inv_ = 0;
  Limbs r2_;
};

// ---- The OpenSSH public key ----

struct RsaKey {
  std::string e;  // big-endian, no leading zero bytes
  std::string n;
  size_t bits = 0;
};

std::unexpected<Error> Invalid(std::string message) {
  return std::unexpected(MakeError(ErrorCode::kInvalidArgument, std::move(message)));
}

// One SSH wire-format string (uint32 length, then the bytes) taken off the front of `in`.
std::optional<std::string_view> TakeString(std::string_view& in) {
  if (in.size() < 4) return std::nullopt;
  uint32_t length = 0;
  for (int i = 0; i < 4; ++i) length = (length << 8) | static_cast<uint8_t>(in[i]);
  if (in.size() - 4 < length) return std::nullopt;
  std::string_view out = in.substr(4, length);
  in.remove_prefix(4 + length);
  return out;
}

// An mpint (RFC 4251 5) that must be positive, without its leading zero bytes.
std::optional<std::string> PositiveMpint(std::string_view bytes) {
  if (bytes.empty() || (static_cast<uint8_t>(bytes[0]) & 0x80)) return std::nullopt;
  size_t first = bytes.find_first_not_of('\0');
  if (first == std::string_view::npos) return std::nullopt;
  return std::string(bytes.substr(first));
}

size_t BitLength(std::string_view big_endian) {
  if (big_endian.empty()) return 0;
  unsigned top = static_cast<uint8_t>(big_endian[0]);
  size_t bits = 8 * (big_endian.size() - 1);
  while (top) {
    ++bits;
    top >>= 1;
  }
  return bits;
}

bool Odd(std::string_view big_endian) { return static_cast<uint8_t>(big_endian.back()) & 1; }

Result<RsaKey> ParseSshRsa(std::string_view line) {
  constexpr std::string_view kBlanks = " \t\r\n";
  constexpr std::string_view kType = "ssh-rsa";
  size_t start = line.find_first_not_of(kBlanks);
  line.remove_prefix(std::min(start, line.size()));
  if (line.substr(0, line.find_first_of(kBlanks)) != kType) return Invalid("not an ssh-rsa key");
  line.remove_prefix(kType.size());
  line.remove_prefix(std::min(line.find_first_not_of(kBlanks), line.size()));
  auto blob = Base64Decode(line.substr(0, line.find_first_of(kBlanks)));
  if (!blob) return Invalid("malformed key");

  std::string_view in = *blob;
  auto type = TakeString(in);
  auto e_bytes = TakeString(in);
  auto n_bytes = TakeString(in);
  if (!type || !e_bytes || !n_bytes || !in.empty() || *type != kType)
    return Invalid("malformed key");
  auto e = PositiveMpint(*e_bytes);
  auto n = PositiveMpint(*n_bytes);
  if (!e || !n || !Odd(*e) || !Odd(*n) || BitLength(*e) < 2) return Invalid("malformed key");
  RsaKey key{std::move(*e), std::move(*n), 0};
  key.bits = BitLength(key.n);
  if (key.bits < 1024 || key.bits > 8192)
    return Invalid("key of " + std::to_string(key.bits) + " bits: 1024 to 8192 bits are supported");
  // e < n: a shorter e is smaller; one as long compares byte by byte.
  if (key.e.size() > key.n.size() || (key.e.size() == key.n.size() && key.e >= key.n))
    return Invalid("malformed key");
  return key;
}

// ---- /etc/shadow ----

constexpr std::string_view kSaltAlphabet =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

Result<std::string> Sha512Crypt(const std::string& password) {
  std::string setting = "$6$" + RandomString(kSaltAlphabet, 16) + "$";
  auto data = std::make_unique<crypt_data>();  // ~32 KiB: not for the stack
  const char* hash = crypt_r(password.c_str(), setting.c_str(), data.get());
  // libxcrypt answers a failure with a string starting with '*' (or NULL, by its build).
  if (hash == nullptr || !std::string_view(hash).starts_with(setting))
    return std::unexpected(MakeError(ErrorCode::kInternal, "crypt: SHA-512 hashing failed"));
  return std::string(hash);
}

}  // namespace

std::string GeneratePassword() {
  for (;;) {
    std::string password = RandomString(kAlphanumeric, kGeneratedPasswordLength);
    auto has = [&](char from, char to) {
      return std::any_of(password.begin(), password.end(),
                         [&](char c) { return c >= from && c <= to; });
    };
    if (has('a', 'z') && has('A', 'Z') && has('0', '9')) return password;
  }
}

Result<std::string> EncryptPassword(const std::string& openssh_public_key,
                                    std::string_view password) {
  METASTACK_ASSIGN_OR_RETURN(RsaKey key, ParseSshRsa(openssh_public_key));
  const size_t k = key.n.size();
  if (password.size() + 11 > k) return Invalid("key too small for the password");

  // EM = 0x00 0x02 PS 0x00 M, PS nonzero random bytes. EM < n: its top byte is 0 and n's is not.
  std::string em(k, '\0');
  em[1] = 0x02;
  std::span<uint8_t> padding(reinterpret_cast<uint8_t*>(em.data()) + 2, k - 3 - password.size());
  SystemRandom(padding);
  for (uint8_t& b : padding) {
    while (b == 0) SystemRandom(std::span<uint8_t>(&b, 1));
  }
  std::copy(password.begin(), password.end(),
            em.end() - static_cast<std::ptrdiff_t>(password.size()));

  const size_t limbs = (k + 3) / 4;
  Montgomery mod_n(FromBigEndian(key.n, limbs));
  Limbs c = mod_n.Power(FromBigEndian(em, limbs), key.e);
  return Base64Encode(ToBigEndian(c, k));
}

Result<std::string> ShadowWithPassword(std::string_view shadow, const std::string& user,
                                       const std::string& password) {
  size_t at = 0;
  while (at < shadow.size()) {
    size_t end = shadow.find('\n', at);
    if (end == std::string_view::npos) end = shadow.size();
    std::string_view line = shadow.substr(at, end - at);
    if (!user.empty() && line.substr(0, line.find(':')) == user) {
      // crypt(3) reads a C string of at most CRYPT_MAX_PASSPHRASE_SIZE - 1 bytes: anything
      // else would be hashed cut short, or not at all.
      if (password.find('\0') != std::string::npos) return Invalid("password: contains a NUL byte");
      if (password.size() >= CRYPT_MAX_PASSPHRASE_SIZE)
        return Invalid("password: longer than " + std::to_string(CRYPT_MAX_PASSPHRASE_SIZE - 1) +
                       " bytes");
      size_t hash_start = user.size() + 1;
      size_t hash_end = line.find(':', hash_start);
      if (hash_end == std::string_view::npos)
        return Invalid("user " + user + ": malformed /etc/shadow line");
      size_t change_end = std::min(line.find(':', hash_end + 1), line.size());
      METASTACK_ASSIGN_OR_RETURN(std::string hash, Sha512Crypt(password));
      const long today = static_cast<long>(std::time(nullptr) / 86400);
      std::string out(shadow.substr(0, at + hash_start));
      out += hash;
      out += ':';
      out += std::to_string(today);
      out += shadow.substr(at + change_end);
      return out;
    }
    at = end + 1;
  }
  return std::unexpected(MakeError(ErrorCode::kNotFound, "user " + user + ": not in /etc/shadow"));
}

}  // namespace metastack::guest
