#pragma once
// The EC2 instance identity document (/<version>/dynamic/instance-identity/...): a JSON
// document describing the instance in AWS's field names and formatting, and two proofs that
// this deployment's metadata API wrote it, made with the operator's RSA key:
//   signature  base64 of RSA PKCS#1 v1.5 over SHA-256 of the document bytes;
//   pkcs7      base64 of a DER PKCS#7 SignedData holding the document (not detached), signed
//              with SHA-256, without the certificate and without PEM armour lines (as AWS);
//   rsa2048    the same as pkcs7 (AWS's RSA form of it; ours is RSA either way).
// Base64 is written in lines of 76 characters, no final newline, as AWS serves it.
// Pure (OpenSSL's libcrypto only, no I/O): the PEM texts come from the caller.
// IdentitySigner is immutable after Make; any number of threads may sign at once.

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/error.h"
#include "core/instance.h"

namespace metastack::core {

// The document for `instance`, byte for byte as AWS formats it (Jackson's pretty printer:
// two-space indent, " : ", AWS's field order, no final newline). Sources: accountId the project
// id; availabilityZone, imageId (ec2.ami_id), instanceId (ec2.instance_id), instanceType,
// kernelId, ramdiskId as the EC2 meta-data tree shows them; pendingTime created_at as written;
// privateIp the first fixed IPv4 address; architecture and region null (not known to us);
// billingProducts, devpayProductCodes and marketplaceProductCodes null; version "2017-09-30".
// Strings are written ASCII-only (\uXXXX escapes), which is the same JSON.
std::string IdentityDocument(const Instance& instance);

class IdentitySigner {
 public:
  // From an unencrypted PEM private key (RSA) and the PEM certificate of its public key. Errors,
  // all kInvalidArgument, verbatim:
  //   "the identity key is not an unencrypted PEM private key"
  //   "the identity key is not an RSA key"
  //   "the identity certificate is not a PEM certificate"
  //   "the identity certificate does not match the identity key"
  static Result<std::unique_ptr<IdentitySigner>> Make(std::string_view key_pem,
                                                      std::string_view certificate_pem);
  ~IdentitySigner();
  IdentitySigner(const IdentitySigner&) = delete;
  IdentitySigner& operator=(const IdentitySigner&) = delete;

  // kInternal only when OpenSSL fails (out of memory).
  Result<std::string> Signature(std::string_view document) const;
  Result<std::string> Pkcs7(std::string_view document) const;

 private:
  struct Keys;
  explicit IdentitySigner(std::unique_ptr<Keys> keys);
  std::unique_ptr<Keys> keys_;
};

// `bytes` in base64 lines of 76 characters joined by "\n" (no final newline).
std::string Base64Lines(std::string_view bytes);

}  // namespace metastack::core
