#pragma once
// TLS for the hops that leave a host: the API's signed listener and the admin listener (servers),
// the agent's hop to the API and the CLI's to the admin API (clients). Guest-facing listeners
// stay plain HTTP: guests speak http to 169.254.169.254.
//
// Both sides speak TLS 1.2 or 1.3 only, with OpenSSL's default cipher suites and security level
// (no compression, no renegotiation). A server presents a certificate chain and, given a client
// CA file, requires every client to present a certificate that CA signed (mutual TLS). A client
// verifies the server's chain against a CA file (or the system's CA store) and checks that the
// certificate names the host of the URL: its DNS name or IP address in subjectAltName.
//
// TlsServer is thread-safe: Reload() (SIGHUP) swaps in a new context while connections are being
// accepted; a connection keeps the context it was accepted with, so a reload drops none. A client
// context is immutable once made and may be shared by any number of connections on any threads.

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>

#include "base/error.h"
#include "http/asio.h"

namespace metastack::http {

namespace ssl = asio::ssl;

struct TlsServerFiles {
  std::string cert_file;       // PEM: the server's certificate, then any intermediate CAs
  std::string key_file;        // PEM: its private key
  std::string client_ca_file;  // PEM CAs; set: clients must present a certificate they signed
  bool operator==(const TlsServerFiles&) const = default;
};

class TlsServer {
 public:
  // Reads and checks the files: each readable PEM, the key the certificate's. Errors are
  // kInvalidArgument, naming the file and what is wrong with it.
  static Result<std::shared_ptr<TlsServer>> Load(const TlsServerFiles& files);

  // Reads `files` (the same paths, or new ones) again. Connections accepted from now on use
  // them; on an error nothing changes and the old certificate stays in use.
  Status Reload(const TlsServerFiles& files);
  // Takes what `other` has loaded (Reload without reading: `other` was loaded beforehand).
  void Replace(const TlsServer& other);

  // The context new connections are accepted with.
  std::shared_ptr<ssl::context> context() const;
  TlsServerFiles files() const;
  // When the certificate in use stops being valid (its notAfter), seconds since the epoch.
  std::time_t not_after() const;
  bool mutual() const { return !files().client_ca_file.empty(); }

 private:
  struct Loaded {
    std::shared_ptr<ssl::context> context;
    std::time_t not_after = 0;
  };
  static Result<Loaded> Read(const TlsServerFiles& files);

  mutable std::mutex mu_;
  TlsServerFiles files_;
  Loaded loaded_;
};

struct TlsClientOptions {
  std::string ca_file;    // PEM CAs the server's chain must end in; "": the system's CA store
  std::string cert_file;  // PEM client certificate (with key_file), for servers that ask for one
  std::string key_file;
  bool insecure = false;  // verify nothing (neither chain nor name): for tests only
  bool operator==(const TlsClientOptions&) const = default;
};

// A client context for `options`; kInvalidArgument naming the file that cannot be used.
Result<std::shared_ptr<ssl::context>> MakeTlsClientContext(const TlsClientOptions& options);

// Sets a client connection up for `host` (a DNS name, or an IP address without brackets): SNI
// for a name, and the name or address the server's certificate must carry unless the context
// verifies nothing.
Status PrepareTlsClient(SSL* ssl, const std::string& host);

// A failed TLS exchange as an operator reads it: "certificate verify failed: certificate has
// expired" when a certificate was refused (the verification's reason, not only OpenSSL's
// routine), else the error's own text ("tlsv13 alert certificate required"), followed by
// "(the server asked for a client certificate, and none is configured)" when that happened on
// the connection (under TLS 1.3 the server's refusal may arrive only as a broken pipe).
std::string TlsFailure(const beast::error_code& ec, SSL* ssl);

}  // namespace metastack::http
