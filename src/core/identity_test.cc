#include "core/identity.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "base/base64.h"
#include "core/identity_testdata.h"
#include "core/metadata.h"
#include "core/testdata.h"

namespace metastack::core {
namespace {

Instance IdentityExample() { return ParseInstanceJson(testing::ExampleDocument()).value(); }

std::unique_ptr<IdentitySigner> TestSigner() {
  return IdentitySigner::Make(kTestIdentityKeyPem, kTestIdentityCertificatePem).value();
}

std::string Unwrapped(std::string_view lines) {
  std::string out;
  for (char c : lines)
    if (c != '\n') out += c;
  return out;
}

X509* LoadCertificate() {
  BIO* bio = BIO_new_mem_buf(kTestIdentityCertificatePem, -1);
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return cert;
}

// Verifies as a guest does with `openssl dgst -sha256 -verify`: against the certificate's key.
bool SignatureVerifies(std::string_view document, std::string_view signature_lines) {
  auto sig = Base64Decode(Unwrapped(signature_lines));
  if (!sig) return false;
  X509* cert = LoadCertificate();
  EVP_PKEY* pub = X509_get0_pubkey(cert);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pub) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                             reinterpret_cast<const unsigned char*>(document.data()),
                             document.size()) == 1;
  EVP_MD_CTX_free(ctx);
  X509_free(cert);
  return ok;
}

// Verifies as `openssl smime -verify -certfile cert -noverify` does; the signed content, or
// nullopt when the signature does not verify.
std::optional<std::string> Pkcs7Content(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  PKCS7* p7 = d2i_PKCS7(nullptr, &p, static_cast<long>(der.size()));
  if (!p7) return std::nullopt;
  X509* cert = LoadCertificate();
  STACK_OF(X509)* certs = sk_X509_new_null();
  sk_X509_push(certs, cert);
  BIO* out = BIO_new(BIO_s_mem());
  std::optional<std::string> content;
  if (PKCS7_verify(p7, certs, nullptr, nullptr, out, PKCS7_NOVERIFY | PKCS7_BINARY) == 1) {
    char* data = nullptr;
    long len = BIO_get_mem_data(out, &data);
    content = std::string(data, len);
  }
  BIO_free(out);
  sk_X509_pop_free(certs, X509_free);
  PKCS7_free(p7);
  return content;
}

TEST(IdentityDocumentTest, ExactTextForAnInstance) {
  Instance inst = IdentityExample();
  inst.created_at = "2026-01-02T03:04:05Z";
  EXPECT_EQ(IdentityDocument(inst),
            "{\n"
            "  \"accountId\" : \"3d2b1fa1c2e84b6d9f4e0d7c9a6b5e41\",\n"
            "  \"architecture\" : null,\n"
            "  \"availabilityZone\" : \"nova\",\n"
            "  \"billingProducts\" : null,\n"
            "  \"devpayProductCodes\" : null,\n"
            "  \"marketplaceProductCodes\" : null,\n"
            "  \"imageId\" : \"ami-00000003\",\n"
            "  \"instanceId\" : \"i-0000002a\",\n"
            "  \"instanceType\" : \"m1.small\",\n"
            "  \"kernelId\" : null,\n"
            "  \"pendingTime\" : \"2026-01-02T03:04:05Z\",\n"
            "  \"privateIp\" : \"10.0.0.5\",\n"
            "  \"ramdiskId\" : null,\n"
            "  \"region\" : null,\n"
            "  \"version\" : \"2017-09-30\"\n"
            "}");
}

TEST(IdentityDocumentTest, NullsWhereTheInstanceHasNothing) {
  Instance inst = testing::InstanceWithPort("00000000-0000-4000-8000-00000000abcd", "net",
                                            "fd00::5", "proj \"q\" \xc3\xa9");
  inst.ec2.kernel_id = "aki-1";
  EXPECT_EQ(IdentityDocument(inst),
            "{\n"
            "  \"accountId\" : \"proj \\\"q\\\" \\u00e9\",\n"
            "  \"architecture\" : null,\n"
            "  \"availabilityZone\" : null,\n"
            "  \"billingProducts\" : null,\n"
            "  \"devpayProductCodes\" : null,\n"
            "  \"marketplaceProductCodes\" : null,\n"
            "  \"imageId\" : null,\n"
            "  \"instanceId\" : \"i-00000000\",\n"
            "  \"instanceType\" : \"\",\n"
            "  \"kernelId\" : \"aki-1\",\n"
            "  \"pendingTime\" : null,\n"
            "  \"privateIp\" : null,\n"
            "  \"ramdiskId\" : null,\n"
            "  \"region\" : null,\n"
            "  \"version\" : \"2017-09-30\"\n"
            "}");
}

TEST(IdentitySignerTest, SignatureVerifiesAgainstTheCertificatesKey) {
  auto signer = TestSigner();
  std::string doc = IdentityDocument(IdentityExample());
  auto sig = signer->Signature(doc);
  ASSERT_TRUE(sig) << sig.error().ToString();
  // RSA-2048: 256 bytes, 344 base64 characters in lines of 76.
  EXPECT_EQ(sig->size(), 344u + 4u);
  EXPECT_EQ(sig->find('\n'), 76u);
  EXPECT_TRUE(SignatureVerifies(doc, *sig));
  // PKCS#1 v1.5 is deterministic: the same document, the same signature.
  EXPECT_EQ(signer->Signature(doc).value(), *sig);
  std::string tampered = doc;
  tampered[tampered.find("i-0000002a") + 9] = 'b';
  EXPECT_FALSE(SignatureVerifies(tampered, *sig));
}

TEST(IdentitySignerTest, Pkcs7HoldsTheDocumentAndVerifies) {
  auto signer = TestSigner();
  std::string doc = IdentityDocument(IdentityExample());
  auto p7 = signer->Pkcs7(doc);
  ASSERT_TRUE(p7) << p7.error().ToString();
  EXPECT_EQ(p7->find('\n'), 76u);
  auto der = Base64Decode(Unwrapped(*p7));
  ASSERT_TRUE(der);
  EXPECT_EQ(Pkcs7Content(*der), doc);
  // The document is carried inside: changing one byte of it breaks the signature.
  std::string tampered = *der;
  size_t at = tampered.find("i-0000002a");
  ASSERT_NE(at, std::string::npos);
  tampered[at + 9] = 'b';
  EXPECT_EQ(Pkcs7Content(tampered), std::nullopt);
}

TEST(IdentitySignerTest, MakeRefusesBadKeysVerbatim) {
  struct Case {
    const char* key;
    const char* certificate;
    const char* error;
  };
  const Case cases[] = {
      {"", kTestIdentityCertificatePem, "the identity key is not an unencrypted PEM private key"},
      {kTestIdentityCertificatePem, kTestIdentityCertificatePem,
       "the identity key is not an unencrypted PEM private key"},
      {kTestEcKeyPem, kTestIdentityCertificatePem, "the identity key is not an RSA key"},
      {kTestIdentityKeyPem, "", "the identity certificate is not a PEM certificate"},
      {kTestIdentityKeyPem, kTestIdentityKeyPem,
       "the identity certificate is not a PEM certificate"},
      {kTestOtherRsaKeyPem, kTestIdentityCertificatePem,
       "the identity certificate does not match the identity key"},
  };
  for (const auto& c : cases) {
    auto made = IdentitySigner::Make(c.key, c.certificate);
    ASSERT_FALSE(made) << c.error;
    EXPECT_EQ(made.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(made.error().message, c.error);
  }
}

TEST(IdentityRenderTest, DynamicTreeOnlyWithAKeyAndFrom2009) {
  Instance inst = IdentityExample();
  Settings settings;
  auto signer = TestSigner();
  RenderContext plain;
  RenderContext with = plain;
  with.identity = signer.get();
  auto body = [&](std::string_view path, const RenderContext& ctx) -> std::string {
    auto doc = Lookup(inst, path, settings, ctx);
    return doc ? doc->body : "404 " + doc.error().message;
  };
  const std::string nova_listing = body("/latest/", plain);
  EXPECT_EQ(nova_listing, "meta-data/\nuser-data");
  EXPECT_EQ(body("/latest/", with), "dynamic/\nmeta-data/\nuser-data");
  EXPECT_EQ(body("/2009-04-04", with), "dynamic/\nmeta-data/\nuser-data");
  EXPECT_EQ(body("/2008-09-01/", with), nova_listing);
  EXPECT_EQ(body("/2008-09-01/dynamic/instance-identity/document", with),
            "404 no such metadata path");
  EXPECT_EQ(body("/latest/dynamic/instance-identity/document", plain), "404 no such metadata path");
  EXPECT_EQ(body("/latest/dynamic", with), "instance-identity/");
  EXPECT_EQ(body("/latest/dynamic/instance-identity/", with),
            "document\npkcs7\nrsa2048\nsignature");
  EXPECT_EQ(body("/latest/dynamic/instance-identity/document", with), IdentityDocument(inst));
  EXPECT_EQ(body("/2009-04-04/dynamic/instance-identity/signature", with),
            signer->Signature(IdentityDocument(inst)).value());
  for (std::string_view leaf : {"pkcs7", "rsa2048"}) {
    std::string p7 = body("/latest/dynamic/instance-identity/" + std::string(leaf), with);
    auto der = Base64Decode(Unwrapped(p7));
    ASSERT_TRUE(der) << leaf;
    EXPECT_EQ(Pkcs7Content(*der), IdentityDocument(inst)) << leaf;
  }
  for (std::string_view path : {"/latest/dynamic/fws", "/latest/dynamic/instance-identity/dsa2048",
                                "/latest/dynamic/instance-identity/document/accountId"})
    EXPECT_EQ(body(path, with), "404 no such metadata path") << path;
  auto doc = Lookup(inst, "/latest/dynamic/instance-identity/document", settings, with);
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->content_type, kContentTypeText);
}

}  // namespace
}  // namespace metastack::core
