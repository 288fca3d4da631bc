// The configuration file and the flags it stands for: every section of the sample file, the
// precedence of flags, and the errors of a bad file.
#include "daemon/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/identity_testdata.h"
#include "daemon/config_file.h"
#include "daemon/process.h"

namespace metastack::daemon {
namespace {

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("daemon-config-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // Parses `args` for a daemon running `run`, then applies its --config file.
  DaemonConfig Parse(Components run, std::vector<std::string> args) {
    CLI::App app;
    DaemonConfig config;
    config.run = run;
    Declare(app, config);
    args.insert(args.begin(), "metastack");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    app.parse(static_cast<int>(argv.size()), argv.data());
    ApplyConfigFile(app, config.config_file);
    return config;
  }
  std::string ParseError(Components run, std::vector<std::string> args) {
    try {
      Parse(run, std::move(args));
    } catch (const std::exception& e) {
      return e.what();
    }
    return "(no error)";
  }

  static constexpr Components kServe{true, true, true};
  std::filesystem::path dir_;
};

TEST_F(ConfigFileTest, EverySectionSetsItsFlags) {
  std::string path = Write("m.toml", R"(
store = "sqlite:/tmp/x.db"
secret-file = "/etc/metastack/secret"
threads = 3
store-threads = 2
log-level = "debug"
access-log = true
ready-file = "/run/ready.json"

[api]
signed-listen = ["127.0.0.1:18775", "[::1]:18775"]
source-listen = []
trusted-proxy = ["10.0.0.1"]
network = ["net-a"]
dhcp-domain = "example.org"
vendor-data = "/etc/metastack/vendor.json"
cache-instances = 1000
check-forwarded-address = false
rate-limit = 2.5
rate-burst = 40
vendordata-dynamic-targets = ["ci@http://127.0.0.1:8080/vd", "site@http://vd.example/"]
vendordata-dynamic-connect-timeout = 0.5
vendordata-dynamic-read-timeout = 2
watch-max-timeout = 120
watchers-per-instance = 4
watchers = 500

[admin]
listen = "127.0.0.1:18776"
token-file = "/etc/metastack/token"
body-limit = 4096

[ops]
listen = "127.0.0.1:18777"

[agent]
socket = "/run/m/agent.sock"
socket-mode = "0600"
cache-entries = 77

[proxy]
control = "/run/m/proxy.sock"
listeners = "/etc/metastack/listeners.json"
listen = ["qrouter-r1,qrouter-r1,router,r1"]

[limits]
max-connections = 500
max-connections-per-listener = 100
reserved-connections = 50
max-connections-per-address = 8
header-limit = 4096
body-limit = 1024
request-timeout = 1.5
idle-timeout = 7
drain-timeout = 3
)");
  DaemonConfig c = Parse(kServe, {"--config", path});
  EXPECT_EQ(c.general.store, "sqlite:/tmp/x.db");
  EXPECT_EQ(c.general.secret_file, "/etc/metastack/secret");
  EXPECT_EQ(c.general.threads, 3u);
  EXPECT_EQ(c.general.store_threads, 2u);
  EXPECT_EQ(c.general.log_level, "debug");
  EXPECT_TRUE(c.general.access_log);
  EXPECT_EQ(c.general.ready_file, "/run/ready.json");
  EXPECT_EQ(c.api.signed_listen, (std::vector<std::string>{"127.0.0.1:18775", "[::1]:18775"}));
  EXPECT_EQ(c.api.source_listen, (std::vector<std::string>{""}));  // none
  EXPECT_EQ(c.api.trusted_proxies, std::vector<std::string>{"10.0.0.1"});
  EXPECT_EQ(c.api.networks, std::vector<std::string>{"net-a"});
  EXPECT_EQ(c.api.dhcp_domain, "example.org");
  EXPECT_EQ(c.api.vendor_data_file, "/etc/metastack/vendor.json");
  EXPECT_EQ(c.api.cache_instances, 1000u);
  EXPECT_FALSE(c.api.check_forwarded_address);
  EXPECT_EQ(c.api.rate, 2.5);
  EXPECT_EQ(c.api.burst, 40);
  EXPECT_EQ(c.api.vendordata_dynamic_targets,
            (std::vector<std::string>{"ci@http://127.0.0.1:8080/vd", "site@http://vd.example/"}));
  EXPECT_EQ(c.api.vendordata_dynamic_connect_timeout, 0.5);
  EXPECT_EQ(c.api.vendordata_dynamic_read_timeout, 2);
  EXPECT_EQ(c.api.watch_max_timeout, 120);
  EXPECT_EQ(c.api.watchers_per_instance, 4u);
  EXPECT_EQ(c.api.watchers, 500u);
  ApiConfig no_files = c.api;
  no_files.vendor_data_file.clear();
  api::ApiOptions api = BuildApiOptions(no_files);
  EXPECT_EQ(api.watch.max_timeout, std::chrono::seconds(120));
  EXPECT_EQ(api.watch.per_instance, 4u);
  EXPECT_EQ(api.watch.total, 500u);
  EXPECT_EQ(c.admin.listen, "127.0.0.1:18776");
  EXPECT_EQ(c.admin.token_file, "/etc/metastack/token");
  EXPECT_EQ(c.admin.body_limit, 4096u);
  EXPECT_EQ(c.ops.listen, "127.0.0.1:18777");
  EXPECT_EQ(c.agent.socket, "/run/m/agent.sock");
  EXPECT_EQ(c.agent.socket_mode, "0600");
  EXPECT_EQ(c.agent.cache_entries, 77u);
  EXPECT_EQ(c.proxy.control, "/run/m/proxy.sock");
  EXPECT_EQ(c.proxy.listeners_file, "/etc/metastack/listeners.json");
  EXPECT_EQ(c.proxy.listen, std::vector<std::string>{"qrouter-r1,qrouter-r1,router,r1"});
  EXPECT_EQ(c.limits.max_connections, 500u);
  EXPECT_EQ(c.limits.max_connections_per_listener, 100u);
  EXPECT_EQ(c.limits.reserved_connections, 50u);
  EXPECT_EQ(c.limits.max_connections_per_address, 8u);
  EXPECT_EQ(c.limits.header_limit, 4096u);
  EXPECT_EQ(c.limits.body_limit, 1024u);
  EXPECT_EQ(c.limits.request_timeout, 1.5);
  EXPECT_EQ(c.limits.idle_timeout, 7);
  EXPECT_EQ(c.limits.drain_timeout, 3);
}

TEST_F(ConfigFileTest, ManageKeysSetTheManagersSettings) {
  std::string path = Write("m.toml", R"(
store = "sqlite:/tmp/m.db"
host = "node-7"
[proxy]
manage = true
router-namespace = "r-{id}"
network-namespace = "d-{id}"
force-metadata = true
dhcp-server = "dnsmasq"
dhcp-interface-prefix = "tap"
dhcp-state-dir = "/run/m/dhcp"
router-port = 9698
resync-interval = 5
)");
  for (Components run : {kServe, Components{.proxy = true}}) {
    DaemonConfig c = Parse(run, {"--config", path});
    EXPECT_EQ(c.general.store, "sqlite:/tmp/m.db");
    auto s = BuildManageSettings(c);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->host, "node-7");
    EXPECT_EQ(s->router_namespace, "r-{id}");
    EXPECT_EQ(s->network_namespace, "d-{id}");
    EXPECT_TRUE(s->force_metadata);
    EXPECT_EQ(s->dhcp_server, netns_manager::DhcpServer::kDnsmasq);
    EXPECT_EQ(s->dhcp_interface_prefix, "tap");
    EXPECT_EQ(s->dhcp_state_dir, "/run/m/dhcp");
    EXPECT_EQ(s->router_port, 9698);
    EXPECT_EQ(s->resync_interval, std::chrono::seconds(5));
  }
  // Off by default; the host defaults to the system's name.
  EXPECT_FALSE(BuildManageSettings(Parse(kServe, {})));
  char name[256] = {};
  ASSERT_EQ(::gethostname(name, sizeof name - 1), 0);
  EXPECT_EQ(BuildManageSettings(Parse(kServe, {"--manage"}))->host, name);
  auto error_of = [&](std::vector<std::string> args) -> std::string {
    try {
      BuildManageSettings(Parse(kServe, std::move(args)));
    } catch (const std::exception& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(error_of({"--manage", "--router-namespace", "qrouter"}),
            "--router-namespace: expected exactly one {id} in qrouter");
  EXPECT_EQ(error_of({"--manage", "--resync-interval", "0"}),
            "--resync-interval: must be at least 1 second");
  EXPECT_NE(ParseError(kServe, {"--manage", "--dhcp-server", "isc"}).find("--dhcp-server"),
            std::string::npos);
}

TEST_F(ConfigFileTest, ConfigDriveKeysSetTheKeepersSettings) {
  std::string seed = Write("seed", "host-secret\n");
  std::string path = Write("m.toml", R"(
[configdrive]
dir = ")" + dir_.string() + R"("
all = true
format = "nocloud-vfat"
disk-format = "vhdx"
vfat-size = 8
seed-file = ")" + seed + R"("
)");
  for (Components run : {kServe, Components{.api = true}}) {
    auto s = BuildKeeperSettings(Parse(run, {"--config", path}));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->dir, dir_.string());
    EXPECT_TRUE(s->all);
    EXPECT_EQ(s->spec.layout, configdrive::DriveLayout::kNoCloudVfat);
    EXPECT_EQ(s->spec.disk, configdrive::DiskFormat::kVhdx);
    EXPECT_EQ(s->spec.vfat_size, uint64_t{8} << 20);
    EXPECT_EQ(s->spec.seed, "host-secret");
  }
  // Off without a directory, and in daemons without the API (whose settings a drive renders).
  EXPECT_FALSE(BuildKeeperSettings(Parse(kServe, {})));
  EXPECT_FALSE(BuildKeeperSettings(Parse({.agent = true}, {"--config", path})));
  auto d = BuildKeeperSettings(Parse(kServe, {"--configdrive-dir", dir_.string()}));
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->all);
  EXPECT_EQ(d->spec.layout, configdrive::DriveLayout::kIso);
  EXPECT_EQ(d->spec.disk, configdrive::DiskFormat::kRaw);
  EXPECT_EQ(d->spec.vfat_size, uint64_t{64} << 20);
  EXPECT_FALSE(d->spec.seed);
  auto error_of = [&](std::vector<std::string> args) -> std::string {
    if (args[0] != "--configdrive-dir")
      args.insert(args.begin(), {"--configdrive-dir", dir_.string()});
    try {
      BuildKeeperSettings(Parse(kServe, std::move(args)));
    } catch (const std::exception& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(error_of({"--configdrive-dir", (dir_ / "none").string()}),
            "--configdrive-dir: not a directory: " + (dir_ / "none").string());
  EXPECT_EQ(error_of({"--configdrive-format", "udf"}),
            "--configdrive-format: expected iso, vfat, nocloud or nocloud-vfat, not 'udf'");
  EXPECT_EQ(error_of({"--configdrive-disk-format", "vdi"}),
            "--configdrive-disk-format: expected raw, qcow2, vhd, vhdx or vmdk, not 'vdi'");
  EXPECT_EQ(error_of({"--configdrive-vfat-size", "0"}),
            "--configdrive-vfat-size: must be 1 to 32768 MiB");
  EXPECT_EQ(error_of({"--configdrive-seed-file", (dir_ / "none").string()})
                .rfind("--configdrive-seed-file: ", 0),
            0u);
}

TEST_F(ConfigFileTest, FlagsWinOverTheFile) {
  std::string path = Write("m.toml", R"(
log-level = "debug"
[api]
signed-listen = ["127.0.0.1:1", "127.0.0.1:2"]
dhcp-domain = "file.example"
[limits]
max-connections = 500
)");
  DaemonConfig c =
      Parse({.api = true}, {"--config", path, "--log-level", "error", "--signed-listen",
                            "127.0.0.1:3", "--max-connections", "9"});
  EXPECT_EQ(c.general.log_level, "error");
  EXPECT_EQ(c.api.signed_listen, std::vector<std::string>{"127.0.0.1:3"});  // replaced, not added
  EXPECT_EQ(c.limits.max_connections, 9u);
  EXPECT_EQ(c.api.dhcp_domain, "file.example");  // not given: the file's
}

TEST_F(ConfigFileTest, KeysOfComponentsNotRunAreSkippedNotErrors) {
  // One file for every daemon of a host: the agent's api-url in a file read by serve (whose
  // agent calls its API directly), [api] read by the proxy.
  std::string path = Write("m.toml", R"(
[agent]
api-url = "http://10.0.0.9:8775"
api-timeout = 5
socket = "/run/x/agent.sock"
[api]
dhcp-domain = "x"
[proxy]
agent = "unix:/run/x/agent.sock"
)");
  DaemonConfig serve = Parse(kServe, {"--config", path});
  EXPECT_EQ(serve.agent.socket, "/run/x/agent.sock");
  EXPECT_EQ(serve.agent.api_url, AgentConfig{}.api_url);
  DaemonConfig proxy = Parse({.proxy = true}, {"--config", path});
  EXPECT_EQ(proxy.proxy.agent_url, "unix:/run/x/agent.sock");
  DaemonConfig agent = Parse({.agent = true}, {"--config", path});
  EXPECT_EQ(agent.agent.api_url, "http://10.0.0.9:8775");
  EXPECT_EQ(agent.agent.api_timeout, 5);
}

TEST_F(ConfigFileTest, ErrorsNameTheFileLineAndKey) {
  std::string missing = (dir_ / "nope.toml").string();
  EXPECT_NE(ParseError(kServe, {"--config", missing}).find("nope.toml"), std::string::npos);

  auto error_of = [&](const std::string& text) {
    return ParseError(kServe, {"--config", Write("bad.toml", text)});
  };
  EXPECT_EQ(error_of("store = \"a\"\nstorr = \"b\"\n"),
            (dir_ / "bad.toml").string() + ":2: unknown key storr");
  EXPECT_EQ(error_of("[api]\nlisten = \"1.2.3.4:5\"\n"),
            (dir_ / "bad.toml").string() + ":2: unknown key api.listen");
  EXPECT_EQ(error_of("[apii]\nx = 1\n"),
            (dir_ / "bad.toml").string() + ":1: unknown section [apii]");
  EXPECT_NE(error_of("[api]\ndhcp-domain = [\"a\", \"b\"]\n")
                .find(":2: api.dhcp-domain: takes one value"),
            std::string::npos);
  EXPECT_NE(error_of("log-level = \"loud\"\n").find(":1: log-level:"), std::string::npos);
  EXPECT_NE(error_of("threads = \"many\"\n").find(":1: threads:"), std::string::npos);
  EXPECT_NE(error_of("store = \n").find("bad.toml:1"), std::string::npos);  // TOML syntax
  EXPECT_NE(error_of("[api]\nrate = { a = 1 }\n").find("api.rate"), std::string::npos);
  EXPECT_NE(error_of("check = true\n").find("unknown key check"), std::string::npos);
}

TEST_F(ConfigFileTest, TheSampleFileIsValidForEveryDaemon) {
  const std::string sample = std::string(METASTACK_SOURCE_DIR) + "/etc/metastack.toml";
  ASSERT_TRUE(std::filesystem::exists(sample)) << sample;
  for (Components run :
       {kServe, Components{.api = true}, Components{.agent = true}, Components{.proxy = true}})
    EXPECT_NO_THROW(Parse(run, {"--config", sample}));
}

TEST_F(ConfigFileTest, CheckValidatesWhatTheFilesSay) {
  std::string secret = Write("secret", "s3cret\n");
  std::string vendor = Write("vendor.json", "[1]");
  auto check = [&](std::vector<std::string> args) -> std::string {
    args.push_back("--check");
    try {
      DaemonConfig c = Parse(kServe, std::move(args));
      RunDaemon(c, {});
    } catch (const std::exception& e) {
      return e.what();
    }
    return "ok";
  };
  EXPECT_EQ(check({"--secret-file", secret, "--signed-listen", "127.0.0.1:0"}), "ok");
  EXPECT_EQ(check({"--signed-listen", "127.0.0.1:0"}),
            "--secret-file is required for the signed listener (--signed-listen; '' for none)");
  EXPECT_EQ(check({"--signed-listen", "", "--vendor-data", vendor}),
            "--vendor-data: " + vendor + ": not a JSON object");
  EXPECT_EQ(check({"--signed-listen", "", "--listen", "a,,router"}),
            "--listen: expected NAME,NETNS,router|network,ID[,ADDRESS,PORT]: a,,router");
  EXPECT_EQ(
      check({"--signed-listen", "", "--max-connections", "10", "--reserved-connections", "10"}),
      "--reserved-connections (10) must be below --max-connections (10)");
  EXPECT_EQ(check({"--signed-listen", "", "--vendordata-dynamic-targets", "http://x/"}),
            "--vendordata-dynamic-targets: vendor data target http://x/: expected NAME@URL");
  EXPECT_EQ(check({"--signed-listen", "", "--vendordata-dynamic-targets", "a@http://x/",
                   "--vendordata-dynamic-targets", "a@http://y/"}),
            "--vendordata-dynamic-targets: the name a is given twice");
  EXPECT_EQ(check({"--signed-listen", "", "--vendordata-dynamic-read-timeout", "0"}),
            "--vendordata-dynamic-read-timeout: must be more than 0 seconds");
  EXPECT_EQ(check({"--signed-listen", "", "--admin-listen", "localhost"}),
            "--admin-listen: expected HOST:PORT: localhost");
  for (std::string seconds : {"0", "3601"})
    EXPECT_EQ(check({"--signed-listen", "", "--watch-max-timeout", seconds}),
              "--watch-max-timeout: must be 1 to 3600 seconds");
  EXPECT_EQ(check({"--signed-listen", "", "--watchers", "0"}), "--watchers: must be at least 1");
  EXPECT_EQ(check({"--signed-listen", "", "--watchers-per-instance", "0"}),
            "--watchers-per-instance: must be at least 1");
}

TEST_F(ConfigFileTest, IdentityKeyAndCertificateLoadAtStartup) {
  std::string key = Write("key.pem", core::kTestIdentityKeyPem);
  std::string cert = Write("cert.pem", core::kTestIdentityCertificatePem);
  std::string other = Write("other.pem", core::kTestOtherRsaKeyPem);
  std::string missing = (dir_ / "missing.pem").string();
  auto build = [&](std::vector<std::string> args) -> std::string {
    try {
      DaemonConfig c = Parse(kServe, std::move(args));
      return BuildApiOptions(c.api).identity ? "signer" : "none";
    } catch (const std::exception& e) {
      return e.what();
    }
  };
  EXPECT_EQ(build({}), "none");
  EXPECT_EQ(build({"--identity-key-file", key, "--identity-certificate-file", cert}), "signer");
  EXPECT_EQ(build({"--identity-key-file", key}),
            "--identity-key-file: needs --identity-certificate-file");
  EXPECT_EQ(build({"--identity-certificate-file", cert}),
            "--identity-certificate-file: needs --identity-key-file");
  EXPECT_EQ(build({"--identity-key-file", missing, "--identity-certificate-file", cert}),
            "--identity-key-file: " + missing + ": cannot read: No such file or directory");
  EXPECT_EQ(build({"--identity-key-file", cert, "--identity-certificate-file", cert}),
            "--identity-key-file " + cert + ", --identity-certificate-file " + cert +
                ": the identity key is not an unencrypted PEM private key");
  EXPECT_EQ(build({"--identity-key-file", other, "--identity-certificate-file", cert}),
            "--identity-key-file " + other + ", --identity-certificate-file " + cert +
                ": the identity certificate does not match the identity key");
}

}  // namespace
}  // namespace metastack::daemon
