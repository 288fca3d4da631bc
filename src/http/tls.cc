#include "http/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/file.h"

namespace metastack::http {
namespace {

// What OpenSSL said of a failed context call, as text.
std::string Reason(const beast::error_code& ec) {
  ERR_clear_error();
  return ec.message();
}

std::unexpected<Error> Bad(const std::string& path, const std::string& what) {
  return std::unexpected(MakeError(ErrorCode::kInvalidArgument, path + ": " + what));
}

// TLS 1.2 and 1.3 only; nothing compressed, nothing renegotiated.
void Harden(ssl::context& ctx) {
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                  SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
}

// A PEM file's contents, holding at least one block of `kind` ("CERTIFICATE", "PRIVATE
// KEY": also "EC PRIVATE KEY" and the like); an error names the file.
Result<std::string> ReadPem(const std::string& path, std::string_view kind) {
  auto text = ReadFile(path);
  if (!text) return Bad(path, text.error().message);
  if (text->find(std::string(kind) + "-----") == std::string::npos)
    return Bad(path, "no PEM " +
                         (kind == "CERTIFICATE" ? std::string("certificate")
                                                : std::string("private key")) +
                         " in it");
  return text;
}

// The certificate chain and its key into `ctx`, checked against each other.
Status UseIdentity(ssl::context& ctx, const std::string& cert_file, const std::string& key_file) {
  auto cert = ReadPem(cert_file, "CERTIFICATE");
  if (!cert) return std::unexpected(cert.error());
  auto key = ReadPem(key_file, "PRIVATE KEY");
  if (!key) return std::unexpected(key.error());
  beast::error_code ec;
  ctx.use_certificate_chain(asio::buffer(*cert), ec);
  if (ec) return Bad(cert_file, "not a certificate chain: " + Reason(ec));
  ctx.use_private_key(asio::buffer(*key), ssl::context::pem, ec);
  if (ec && ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH)
    return Bad(key_file, "not the key of " + cert_file);
  if (ec) return Bad(key_file, "not a private key: " + Reason(ec));
  return Ok();
}

// Every certificate of a PEM file as a trusted CA of `ctx`.
Status TrustCas(ssl::context& ctx, const std::string& ca_file) {
  auto pem = ReadPem(ca_file, "CERTIFICATE");
  if (!pem) return std::unexpected(pem.error());
  beast::error_code ec;
  ctx.add_certificate_authority(asio::buffer(*pem), ec);
  if (ec) return Bad(ca_file, "not a CA certificate: " + Reason(ec));
  return Ok();
}

// Where a client connection records that the server asked for a certificate it has none to
// give (TLS 1.3 completes the client's handshake before the server refuses: the refusal comes
// as an alert on the first read, or as a broken pipe when the server has closed first).
int AskedForCertificateIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int NoClientCertificate(SSL* ssl, X509**, EVP_PKEY**) {
  static int asked = 1;
  SSL_set_ex_data(ssl, AskedForCertificateIndex(), &asked);
  return 0;  // none: the handshake goes on without one
}

std::time_t NotAfter(ssl::context& ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx.native_handle());
  std::tm tm{};
  if (!cert || ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return 0;
  return timegm(&tm);
}

}  // namespace

Result<TlsServer::Loaded> TlsServer::Read(const TlsServerFiles& files) {
  if (files.cert_file.empty() || files.key_file.empty())
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     "a TLS listener needs both a certificate and a key file"));
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  Harden(*ctx);
  METASTACK_RETURN_IF_ERROR(UseIdentity(*ctx, files.cert_file, files.key_file));
  if (!files.client_ca_file.empty()) {
    METASTACK_RETURN_IF_ERROR(TrustCas(*ctx, files.client_ca_file));
    // The CAs a client is told to choose its certificate by.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca_file.c_str());
    if (!names) {
      ERR_clear_error();
      return Bad(files.client_ca_file, "no CA certificate in it");
    }
    SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    // Resumed sessions must have been verified under this same setting.
    static constexpr unsigned char kContext[] = "metastack";
    SSL_CTX_set_session_id_context(ctx->native_handle(), kContext, sizeof kContext - 1);
  }
  return Loaded{ctx, NotAfter(*ctx)};
}

Result<std::shared_ptr<TlsServer>> TlsServer::Load(const TlsServerFiles& files) {
  auto server = std::make_shared<TlsServer>();
  METASTACK_RETURN_IF_ERROR(server->Reload(files));
  return server;
}

Status TlsServer::Reload(const TlsServerFiles& files) {
  auto loaded = Read(files);
  if (!loaded) return std::unexpected(loaded.error());
  std::lock_guard lock(mu_);
  files_ = files;
  loaded_ = std::move(*loaded);
  return Ok();
}

void TlsServer::Replace(const TlsServer& other) {
  if (&other == this) return;
  std::scoped_lock lock(mu_, other.mu_);
  files_ = other.files_;
  loaded_ = other.loaded_;
}

std::shared_ptr<ssl::context> TlsServer::context() const {
  std::lock_guard lock(mu_);
  return loaded_.context;
}

TlsServerFiles TlsServer::files() const {
  std::lock_guard lock(mu_);
  return files_;
}

std::time_t TlsServer::not_after() const {
  std::lock_guard lock(mu_);
  return loaded_.not_after;
}

Result<std::shared_ptr<ssl::context>> MakeTlsClientContext(const TlsClientOptions& options) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  Harden(*ctx);
  if (options.cert_file.empty() != options.key_file.empty())
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     "a client certificate needs both its certificate and its "
                                     "key file"));
  if (!options.cert_file.empty())
    METASTACK_RETURN_IF_ERROR(UseIdentity(*ctx, options.cert_file, options.key_file));
  else
    SSL_CTX_set_client_cert_cb(ctx->native_handle(), NoClientCertificate);
  if (options.insecure) {
    ctx->set_verify_mode(ssl::verify_none);
    return ctx;
  }
  ctx->set_verify_mode(ssl::verify_peer);
  if (!options.ca_file.empty()) {
    METASTACK_RETURN_IF_ERROR(TrustCas(*ctx, options.ca_file));
  } else {
    beast::error_code ec;
    ctx->set_default_verify_paths(ec);
    if (ec)
      return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                       "cannot load the system's CA certificates: " + Reason(ec)));
  }
  return ctx;
}

Status PrepareTlsClient(SSL* ssl, const std::string& host) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  bool is_address = !ec;
  // SNI carries names only (RFC 6066 3).
  if (!is_address && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1)
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, host + ": not a TLS server name"));
  if (SSL_get_verify_mode(ssl) == SSL_VERIFY_NONE) return Ok();
  int ok = is_address ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str())
                      : SSL_set1_host(ssl, host.c_str());
  if (ok != 1)
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, host + ": cannot be checked against a certificate"));
  return Ok();
}

std::string TlsFailure(const beast::error_code& ec, SSL* ssl) {
  long result = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (result != X509_V_OK)
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(result);
  std::string out = ec == ssl::error::stream_truncated ? "the connection ended without a TLS close"
                                                       : ec.message();
  if (ssl && SSL_get_ex_data(ssl, AskedForCertificateIndex()))
    out += " (the server asked for a client certificate, and none is configured)";
  return out;
}

}  // namespace metastack::http
