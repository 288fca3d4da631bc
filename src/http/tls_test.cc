// TLS on a real listener and real client connections (http/tls.h, the server's and the pooled
// upstream's TLS, Fetch over https), with certificates the `openssl` command makes for each
// test run: a CA, a second CA that signed nothing here, server certificates (one expired, one
// naming another host, one from the second CA), a client certificate.
#include "http/tls.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "http/client.h"
#include "http/server.h"
#include "http/upstream.h"

namespace metastack::http {
namespace {

using namespace std::chrono_literals;

// The certificates, made once per test binary run.
class Pki {
 public:
  static const Pki& Get() {
    static Pki pki;
    return pki;
  }
  std::string operator()(const std::string& name) const { return dir_ + "/" + name; }

 private:
  Pki() {
    dir_ = ::testing::TempDir() + "/metastack-tls-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ + "/make.sh") << R"(set -e
cd "$1"
key() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key \
          -out $1.csr -subj "/CN=$1" 2>/dev/null; }
ca() {
  key $1
  printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\n' > $1.ext
  openssl x509 -req -in $1.csr -signkey $1.key -days 30 -extfile $1.ext -out $1.cert 2>/dev/null
}
leaf() {  # NAME CA DAYS USAGE [SAN]
  key $1
  printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=%s\n' $4 > $1.ext
  [ -z "$5" ] || printf 'subjectAltName=%s\n' "$5" >> $1.ext
  openssl x509 -req -in $1.csr -CA $2.cert -CAkey $2.key -days $3 -extfile $1.ext -out $1.cert \
    -set_serial $RANDOM 2>/dev/null
}
ca ca
ca other-ca
leaf server ca 30 serverAuth IP:127.0.0.1,DNS:localhost
leaf expired ca -1 serverAuth IP:127.0.0.1
leaf elsewhere ca 30 serverAuth DNS:metadata.example
leaf stranger other-ca 30 serverAuth IP:127.0.0.1
leaf client ca 30 clientAuth
leaf other-client other-ca 30 clientAuth
)";
    made_ = std::system(("bash " + dir_ + "/make.sh " + dir_).c_str()) == 0;
  }
  std::string dir_;

 public:
  bool made_ = false;
};

asio::awaitable<Response> Hello(Request& req) {
  Response r;
  r.content_type = "text/plain";
  r.body = "hello " + std::string(req.message.target());
  co_return r;
}

TlsServerFiles ServerFiles(const std::string& name, const std::string& client_ca = "") {
  const Pki& pki = Pki::Get();
  return {pki(name + ".cert"), pki(name + ".key"), client_ca.empty() ? "" : pki(client_ca)};
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Pki::Get().made_) << "openssl could not make the certificates";
  }
  void TearDown() override {
    if (server_) Post([this] { server_->Stop(); });
    work_.reset();
    if (thread_.joinable()) thread_.join();
  }

  // A TLS listener on 127.0.0.1 serving Hello.
  void Listen(TlsServerFiles files) {
    auto tls = TlsServer::Load(files);
    ASSERT_TRUE(tls) << tls.error().ToString();
    tls_ = *tls;
    server_ = std::make_unique<Server>(ioc_, ServerLimits{});
    auto ep = server_->ListenTcp("127.0.0.1", 0, Hello, nullptr, PeerLimit::kTotalOnly, tls_);
    ASSERT_TRUE(ep) << ep.error().ToString();
    port_ = ep->port();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  std::string Url(const std::string& host = "127.0.0.1") {
    return "https://" + host + ":" + std::to_string(port_);
  }
  std::shared_ptr<Upstream> UpstreamFor(TlsClientOptions options,
                                        const std::string& host = "127.0.0.1") {
    auto context = MakeTlsClientContext(options);
    EXPECT_TRUE(context) << context.error().ToString();
    UpstreamOptions o;
    o.connect_timeout = 5s;
    o.tls = *context;
    auto up = MakeUpstream(Url(host), o);
    EXPECT_TRUE(up) << up.error().ToString();
    return *up;
  }
  Result<UpstreamResponse> Send(const std::shared_ptr<Upstream>& up, const std::string& target) {
    UpstreamRequest req{bhttp::verb::get, target, 11};
    return asio::co_spawn(
               ioc_,
               [up, req]() -> asio::awaitable<Result<UpstreamResponse>> {
                 co_return co_await up->Send(req);
               },
               asio::use_future)
        .get();
  }
  void Post(std::function<void()> fn) {
    std::promise<void> done;
    asio::post(ioc_, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }
  std::string Failure(const Result<UpstreamResponse>& r) {
    return r ? "status " + std::to_string(r->result_int()) : r.error().message;
  }

  const Pki& pki_ = Pki::Get();
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ioc_);
  std::shared_ptr<TlsServer> tls_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST_F(TlsTest, UpstreamVerifiesTheServerAndKeepsItsConnection) {
  Listen(ServerFiles("server"));
  auto up = UpstreamFor({.ca_file = pki_("ca.cert")});
  for (const char* target : {"/a", "/b", "/c"}) {
    auto res = Send(up, target);
    ASSERT_TRUE(res) << res.error().ToString();
    EXPECT_EQ(res->result_int(), 200u);
    EXPECT_EQ(res->body(), std::string("hello ") + target);
  }
  EXPECT_EQ(server_->stats().accepted.load(), 1u);  // one handshake, three requests
  EXPECT_EQ(server_->stats().tls_failures.load(), 0u);
  // By name too: the certificate names localhost.
  auto by_name = Send(UpstreamFor({.ca_file = pki_("ca.cert")}, "localhost"), "/n");
  ASSERT_TRUE(by_name) << by_name.error().ToString();
  EXPECT_EQ(by_name->result_int(), 200u);
}

TEST_F(TlsTest, AServerTheCaDidNotSignIsRefusedWithTheReason) {
  Listen(ServerFiles("stranger"));
  auto res = Send(UpstreamFor({.ca_file = pki_("ca.cert")}), "/");
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(res.error().message, Url() +
                                     ": TLS handshake failed: certificate verify failed: unable "
                                     "to get local issuer certificate");
}

TEST_F(TlsTest, AnExpiredServerCertificateIsRefusedWithTheReason) {
  Listen(ServerFiles("expired"));
  auto res = Send(UpstreamFor({.ca_file = pki_("ca.cert")}), "/");
  EXPECT_EQ(Failure(res),
            Url() + ": TLS handshake failed: certificate verify failed: certificate has expired");
  // The server counts the handshake the client gave up.
  for (int i = 0; i < 100 && server_->stats().tls_failures.load() == 0; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->stats().tls_failures.load(), 1u);
}

TEST_F(TlsTest, ACertificateNamingAnotherHostIsRefused) {
  Listen(ServerFiles("elsewhere"));
  EXPECT_EQ(Failure(Send(UpstreamFor({.ca_file = pki_("ca.cert")}), "/")),
            Url() + ": TLS handshake failed: certificate verify failed: IP address mismatch");
  EXPECT_EQ(
      Failure(Send(UpstreamFor({.ca_file = pki_("ca.cert")}, "localhost"), "/")),
      Url("localhost") + ": TLS handshake failed: certificate verify failed: hostname mismatch");
  // Insecure verifies nothing: for tests only, and it says so in its flag's help.
  auto res = Send(UpstreamFor({.insecure = true}), "/");
  ASSERT_TRUE(res) << res.error().ToString();
  EXPECT_EQ(res->result_int(), 200u);
}

TEST_F(TlsTest, MutualTlsWantsAClientCertificateTheCaSigned) {
  Listen(ServerFiles("server", "ca.cert"));
  auto with = Send(UpstreamFor({.ca_file = pki_("ca.cert"),
                                .cert_file = pki_("client.cert"),
                                .key_file = pki_("client.key")}),
                   "/m");
  ASSERT_TRUE(with) << with.error().ToString();
  EXPECT_EQ(with->body(), "hello /m");

  // TLS 1.3: the client's handshake ends before the server checks its certificate; the refusal
  // arrives as an alert where the answer would.
  EXPECT_EQ(Failure(Send(UpstreamFor({.ca_file = pki_("ca.cert")}), "/")),
            Url() +
                ": tlsv13 alert certificate required (the server asked for a client "
                "certificate, and none is configured)");
  EXPECT_EQ(Failure(Send(UpstreamFor({.ca_file = pki_("ca.cert"),
                                      .cert_file = pki_("other-client.cert"),
                                      .key_file = pki_("other-client.key")}),
                         "/")),
            Url() + ": tlsv1 alert unknown ca");
  for (int i = 0; i < 100 && server_->stats().tls_failures.load() < 2; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->stats().tls_failures.load(), 2u);
}

TEST_F(TlsTest, ReloadServesTheNewCertificateAndDropsNoConnection) {
  Listen(ServerFiles("server"));
  auto trusting_ca = UpstreamFor({.ca_file = pki_("ca.cert")});
  ASSERT_TRUE(Send(trusting_ca, "/before"));
  ASSERT_TRUE(tls_->Reload(ServerFiles("stranger")));
  // The pooled connection was accepted with the old certificate: it goes on.
  auto kept = Send(trusting_ca, "/kept");
  ASSERT_TRUE(kept) << kept.error().ToString();
  EXPECT_EQ(kept->body(), "hello /kept");
  EXPECT_EQ(server_->stats().accepted.load(), 1u);
  // New connections get the new one: a client of the old CA refuses it, one of the new takes it.
  EXPECT_EQ(Failure(Send(UpstreamFor({.ca_file = pki_("ca.cert")}), "/")),
            Url() +
                ": TLS handshake failed: certificate verify failed: unable to get local issuer "
                "certificate");
  auto fresh = Send(UpstreamFor({.ca_file = pki_("other-ca.cert")}), "/new");
  ASSERT_TRUE(fresh) << fresh.error().ToString();
  EXPECT_EQ(fresh->body(), "hello /new");
  // A reload that cannot be used changes nothing.
  auto bad = tls_->Reload(ServerFiles("missing"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(tls_->files(), ServerFiles("stranger"));
  EXPECT_TRUE(Send(UpstreamFor({.ca_file = pki_("other-ca.cert")}), "/still"));
}

TEST_F(TlsTest, OlderProtocolsThanTls12AreRefused) {
  Listen(ServerFiles("server"));
  ssl::context old(ssl::context::tls_client);
  SSL_CTX_set_security_level(old.native_handle(), 0);
  SSL_CTX_set_min_proto_version(old.native_handle(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(old.native_handle(), TLS1_1_VERSION);
  SSL_CTX_set_cipher_list(old.native_handle(), "ALL:@SECLEVEL=0");
  asio::io_context ioc;
  beast::ssl_stream<beast::tcp_stream> stream(ioc, old);
  beast::get_lowest_layer(stream).connect(
      asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  beast::error_code ec;
  stream.handshake(ssl::stream_base::client, ec);
  ASSERT_TRUE(ec);
  EXPECT_EQ(ec.message(), "tlsv1 alert protocol version");
}

TEST_F(TlsTest, FetchSpeaksHttpsWithTheGivenCas) {
  Listen(ServerFiles("server", "ca.cert"));
  TlsClientOptions tls{
      .ca_file = pki_("ca.cert"), .cert_file = pki_("client.cert"), .key_file = pki_("client.key")};
  auto res = Fetch(Url(), {.target = "/cli"}, 5s, &tls);
  ASSERT_TRUE(res) << res.error().ToString();
  EXPECT_EQ(res->status, 200u);
  EXPECT_EQ(res->body, "hello /cli");
  TlsClientOptions wrong_ca{.ca_file = pki_("other-ca.cert")};
  auto refused = Fetch(Url(), {.target = "/"}, 5s, &wrong_ca);
  ASSERT_FALSE(refused);
  // The server sends its CA with its certificate (built from its client CAs).
  EXPECT_EQ(refused.error().message, Url() +
                                         ": TLS handshake failed: certificate verify failed: "
                                         "self-signed certificate in certificate chain");
}

TEST(TlsFilesTest, ErrorsNameTheFileAndWhatIsWrong) {
  const Pki& pki = Pki::Get();
  ASSERT_TRUE(pki.made_);
  auto missing = TlsServer::Load({pki("nothing.cert"), pki("server.key"), ""});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message,
            pki("nothing.cert") + ": cannot read: No such file or directory");
  auto not_pem = TlsServer::Load({pki("make.sh"), pki("server.key"), ""});
  EXPECT_EQ(not_pem.error().message, pki("make.sh") + ": no PEM certificate in it");
  auto cert_as_key = TlsServer::Load({pki("server.cert"), pki("server.cert"), ""});
  EXPECT_EQ(cert_as_key.error().message, pki("server.cert") + ": no PEM private key in it");
  auto swapped = TlsServer::Load({pki("server.cert"), pki("client.key"), ""});
  ASSERT_FALSE(swapped);
  EXPECT_EQ(swapped.error().message, pki("client.key") + ": not the key of " + pki("server.cert"));
  auto key_as_ca = TlsServer::Load({pki("server.cert"), pki("server.key"), pki("server.key")});
  ASSERT_FALSE(key_as_ca);
  EXPECT_EQ(key_as_ca.error().message, pki("server.key") + ": no PEM certificate in it");
  auto half = MakeTlsClientContext({.cert_file = pki("client.cert")});
  ASSERT_FALSE(half);
  EXPECT_EQ(half.error().message,
            "a client certificate needs both its certificate and its key file");
  auto loaded = TlsServer::Load({pki("server.cert"), pki("server.key"), pki("ca.cert")});
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  EXPECT_TRUE((*loaded)->mutual());
  EXPECT_GT((*loaded)->not_after(), std::time(nullptr) + 29 * 86400);
}

}  // namespace
}  // namespace metastack::http
