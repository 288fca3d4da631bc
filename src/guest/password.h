#pragma once
// The pieces of `metastack-guest --set-password`, the flow of cloudbase-init's
// SetUserPasswordPlugin against an OpenStack metadata service: a random password is made, set
// for a user in /etc/shadow, and handed to the service encrypted with the instance's SSH public
// key (POST /openstack/2013-04-04/password, which Nova stores once; `nova get-password` decrypts
// it with the private key). No OpenSSL here (the guest binary links statically and stays
// small): the RSA public-key operation is our own, which is safe without constant-time code
// because everything it touches is either public (the key) or meant for the key's owner (the
// encrypted password; the padding bytes are fresh from getrandom(2)).
//
// Pure functions of their arguments and getrandom(2); thread-safe. The caller reads and writes
// the files (RootFs) and talks to the service (service.h).

#include <cstddef>
#include <string>
#include <string_view>

#include "base/error.h"

namespace metastack::guest {

// cloudbase-init's length (its `user_password_length` option, default 20) and alphabet (osutils
// generate_random_password: base64 of urandom with '+' and '/' dropped, i.e. [A-Za-z0-9]).
inline constexpr size_t kGeneratedPasswordLength = 20;

// kGeneratedPasswordLength characters drawn uniformly from [A-Za-z0-9] (getrandom(2)), drawn
// again until at least one lower-case letter, one upper-case letter and one digit appear (as
// cloudbase-init's WindowsUtils.generate_random_password does for Windows' complexity rule).
std::string GeneratePassword();

// `password` encrypted for the owner of `openssh_public_key`, as cloudbase-init's
// CryptManager + RSA_public_encrypt(RSA_PKCS1_PADDING) produce it and `nova get-password`
// reads it: RSAES-PKCS1-v1_5 (RFC 8017 7.2.1: 0x00 0x02, at least 8 nonzero random bytes,
// 0x00, the password's bytes), m^e mod n, the k-byte big-endian result (k = the modulus'
// length in bytes) in base64 with padding.
//
// `openssh_public_key` is one line as meta_data.json's public_keys carries it:
// "ssh-rsa AAAA... [comment]" (surrounding whitespace ignored), the base64 blob holding the
// SSH wire form (RFC 4253 6.6): string "ssh-rsa", mpint e, mpint n, nothing after. Moduli of
// 1024 to 8192 bits and any odd e >= 3 smaller than n. Errors, all kInvalidArgument:
//   "not an ssh-rsa key"             another key type (ssh-ed25519, ecdsa-..., anything else)
//   "malformed key"                  bad base64, a short or overlong blob, a type in the blob
//                                    other than ssh-rsa, a negative or even n, an even e,
//                                    e < 3 or e >= n
//   "key of N bits: 1024 to 8192 bits are supported"
//   "key too small for the password" more than k - 11 bytes of password
// Nova keeps at most 1020 bytes of a posted password (4 chunks of 255): base64 of a key over
// 6120 bits is longer, and Nova answers such a POST with 400.
Result<std::string> EncryptPassword(const std::string& openssh_public_key,
                                    std::string_view password);

// The text of /etc/shadow (shadow(5): name:hash:lastchg:min:max:warn:inactive:expire:reserved)
// with `user`'s hash replaced by crypt(3) SHA-512 of `password` ("$6$" + a 16-character salt
// from getrandom(2), default rounds) and its lastchg set to today (days since 1970-01-01 UTC,
// as passwd(1) and chpasswd(8) write it; a lastchg of 0, "change at next login", is thereby
// cleared as chpasswd clears it). Every other line, every other field and the line ends are
// kept byte for byte. Errors:
//   kNotFound        "user X: not in /etc/shadow"
//   kInvalidArgument "user X: malformed /etc/shadow line" (fewer than 3 fields)
//   kInvalidArgument "password: contains a NUL byte", "password: longer than 511 bytes"
//                    (crypt(3)'s limits; a generated password is 20 bytes)
//   kInternal        "crypt: ..." if libcrypt refuses (it does not for "$6$")
Result<std::string> ShadowWithPassword(std::string_view shadow, const std::string& user,
                                       const std::string& password);

}  // namespace metastack::guest
