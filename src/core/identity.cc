#include "core/identity.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include <optional>

#include "base/base64.h"
#include "core/network_data.h"
#include "core/render_parts.h"

namespace metastack::core {
namespace {

template <typename T, void (*Free)(T*)>
struct OpenSslFree {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using OpenSslPtr = std::unique_ptr<T, OpenSslFree<T, Free>>;
using BioPtr = OpenSslPtr<BIO, BIO_free_all>;
using PkeyPtr = OpenSslPtr<EVP_PKEY, EVP_PKEY_free>;
using X509Ptr = OpenSslPtr<X509, X509_free>;
using Pkcs7Ptr = OpenSslPtr<PKCS7, PKCS7_free>;
using IdentityMdCtx = OpenSslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;

std::unexpected<Error> Invalid(const char* message) {
  return std::unexpected(MakeError(ErrorCode::kInvalidArgument, message));
}

std::unexpected<Error> OpenSslFailed(const char* what) {
  return std::unexpected(MakeError(ErrorCode::kInternal, std::string("identity: ") + what));
}

BioPtr ReadOnlyBio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Refuses to prompt for a passphrase: an encrypted key fails to load.
int NoPassphrase(char*, int, int, void*) { return -1; }

void IdentityField(std::string& out, std::string_view name, const std::optional<std::string>& value,
                   bool last = false) {
  out += "  \"";
  out += name;
  out += "\" : ";
  if (value)
    AppendPythonString(out, *value);
  else
    out += "null";
  out += last ? "\n" : ",\n";
}

std::unexpected<Error> NoSuchPath() {
  return std::unexpected(MakeError(ErrorCode::kNotFound, "no such metadata path"));
}

}  // namespace

std::string IdentityDocument(const Instance& instance) {
  auto present = [](const std::optional<std::string>& v) -> std::optional<std::string> {
    if (v && v->empty()) return std::nullopt;
    return v;
  };
  Ec2IpInfo ips = Ec2Addresses(instance);
  std::optional<std::string> private_ip;
  if (!ips.fixed_ipv4.empty()) private_ip = ips.fixed_ipv4[0];
  std::string out = "{\n";
  IdentityField(out, "accountId", instance.project_id);
  IdentityField(out, "architecture", std::nullopt);
  IdentityField(out, "availabilityZone", instance.availability_zone);
  IdentityField(out, "billingProducts", std::nullopt);
  IdentityField(out, "devpayProductCodes", std::nullopt);
  IdentityField(out, "marketplaceProductCodes", std::nullopt);
  IdentityField(out, "imageId", present(instance.ec2.ami_id));
  IdentityField(out, "instanceId", present(instance.ec2.instance_id));
  IdentityField(out, "instanceType", instance.ec2.instance_type);
  IdentityField(out, "kernelId", present(instance.ec2.kernel_id));
  IdentityField(out, "pendingTime", present(instance.created_at));
  IdentityField(out, "privateIp", private_ip);
  IdentityField(out, "ramdiskId", present(instance.ec2.ramdisk_id));
  IdentityField(out, "region", std::nullopt);
  IdentityField(out, "version", "2017-09-30", true);
  out += "}";
  return out;
}

std::string Base64Lines(std::string_view bytes) {
  std::string flat = Base64Encode(bytes);
  constexpr size_t kLine = 76;
  std::string out;
  out.reserve(flat.size() + flat.size() / kLine);
  for (size_t at = 0; at < flat.size(); at += kLine) {
    if (at) out += '\n';
    out.append(flat, at, kLine);
  }
  return out;
}

struct IdentitySigner::Keys {
  PkeyPtr key;
  X509Ptr certificate;
};

IdentitySigner::IdentitySigner(std::unique_ptr<Keys> keys) : keys_(std::move(keys)) {}
IdentitySigner::~IdentitySigner() = default;

Result<std::unique_ptr<IdentitySigner>> IdentitySigner::Make(std::string_view key_pem,
                                                             std::string_view certificate_pem) {
  auto keys = std::make_unique<Keys>();
  BioPtr key_bio = ReadOnlyBio(key_pem);
  if (!key_bio) return OpenSslFailed("BIO_new_mem_buf failed");
  keys->key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr));
  if (!keys->key) return Invalid("the identity key is not an unencrypted PEM private key");
  if (EVP_PKEY_get_base_id(keys->key.get()) != EVP_PKEY_RSA)
    return Invalid("the identity key is not an RSA key");
  BioPtr cert_bio = ReadOnlyBio(certificate_pem);
  if (!cert_bio) return OpenSslFailed("BIO_new_mem_buf failed");
  keys->certificate.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, NoPassphrase, nullptr));
  if (!keys->certificate) return Invalid("the identity certificate is not a PEM certificate");
  if (X509_check_private_key(keys->certificate.get(), keys->key.get()) != 1)
    return Invalid("the identity certificate does not match the identity key");
  return std::unique_ptr<IdentitySigner>(new IdentitySigner(std::move(keys)));
}

Result<std::string> IdentitySigner::Signature(std::string_view document) const {
  IdentityMdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) return OpenSslFailed("EVP_MD_CTX_new failed");
  // EVP_DigestSignInit takes the key non-const but only reads it (a context per call).
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, keys_->key.get()) != 1)
    return OpenSslFailed("EVP_DigestSignInit failed");
  size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(document.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &len, data, document.size()) != 1)
    return OpenSslFailed("EVP_DigestSign failed");
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                     document.size()) != 1)
    return OpenSslFailed("EVP_DigestSign failed");
  sig.resize(len);
  return Base64Lines(sig);
}

Result<std::string> IdentitySigner::Pkcs7(std::string_view document) const {
  BioPtr in = ReadOnlyBio(document);
  if (!in) return OpenSslFailed("BIO_new_mem_buf failed");
  // BINARY: the document is signed as it is served (no CRLF canonicalisation); NOCERTS: AWS's
  // carries no certificate, the guest supplies it (-certfile).
  Pkcs7Ptr p7(PKCS7_sign(keys_->certificate.get(), keys_->key.get(), nullptr, in.get(),
                         PKCS7_BINARY | PKCS7_NOCERTS | PKCS7_NOSMIMECAP));
  if (!p7) return OpenSslFailed("PKCS7_sign failed");
  unsigned char* der = nullptr;
  int len = i2d_PKCS7(p7.get(), &der);
  if (len <= 0) return OpenSslFailed("i2d_PKCS7 failed");
  std::string out = Base64Lines(std::string_view(reinterpret_cast<char*>(der), len));
  OPENSSL_free(der);
  return out;
}

namespace internal {

Result<Document> RenderDynamic(const Instance& instance, const std::vector<std::string>& tokens,
                               const IdentitySigner& signer) {
  // tokens[0] is "dynamic".
  if (tokens.size() == 1) return Document{std::string(kContentTypeText), "instance-identity/"};
  if (tokens[1] != "instance-identity" || tokens.size() > 3) return NoSuchPath();
  if (tokens.size() == 2)
    return Document{std::string(kContentTypeText), "document\npkcs7\nrsa2048\nsignature"};
  const std::string& leaf = tokens[2];
  std::string document = IdentityDocument(instance);
  Result<std::string> body;
  if (leaf == "document")
    body = std::move(document);
  else if (leaf == "signature")
    body = signer.Signature(document);
  else if (leaf == "pkcs7" || leaf == "rsa2048")
    body = signer.Pkcs7(document);
  else
    return NoSuchPath();
  if (!body) return std::unexpected(body.error());
  return Document{std::string(kContentTypeText), std::move(*body)};
}

}  // namespace internal
}  // namespace metastack::core
