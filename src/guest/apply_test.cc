#include "guest/apply.h"

#include <crypt.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "guest/root_fs.h"
#include "guest/test_util.h"

namespace metastack::guest {
namespace {

using fakes::TempDir;

InstanceData Sample(std::string id = "11111111-2222-3333-4444-555555555555") {
  InstanceData d;
  d.instance_id = std::move(id);
  d.hostname = "web-01.example.org";
  d.ssh_keys = {"ssh-ed25519 AAAAnew new@host", "ssh-rsa AAAAold old@host"};
  d.files = {{"/etc/motd", "welcome\n"}, {"/srv/app/deep/app.conf", "x=1\n"}};
  d.user_data = "#!/bin/sh\necho ran >> \"$PWD/ran.log\"\nexit 3\n";
  d.vendor_data = "{\"v\": 1}";
  return d;
}

// A root with a passwd entry for `debian` and one key already authorized.
struct Root : TempDir {
  Root() {
    Write("etc/passwd",
          "root:x:0:0:root:/root:/bin/sh\ndebian:x:1000:1000::/home/debian:/bin/sh\n");
    Write("etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\told-name\n::1\tip6-localhost\n");
    Write("home/debian/.ssh/authorized_keys", "ssh-rsa AAAAold old@host\n");
  }
  ApplyOptions Options() const {
    ApplyOptions o;
    o.root = path;
    o.user = "debian";
    o.network = NetworkMode::kNone;
    return o;
  }
};

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  stat(path.c_str(), &st);
  return st.st_mode & 07777;
}

TEST(ApplyTest, AppliesEverythingOnceAndAgainForANewInstance) {
  Root root;
  auto r = Apply(Sample(), root.Options());
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_FALSE(r->already_applied);
  EXPECT_EQ(root.Read("etc/hostname"), "web-01\n");
  EXPECT_EQ(root.Read("etc/hosts"),
            "127.0.0.1\tlocalhost\n127.0.1.1\tweb-01.example.org web-01\n::1\tip6-localhost\n");
  // The old key kept, the new one added once.
  EXPECT_EQ(root.Read("home/debian/.ssh/authorized_keys"),
            "ssh-rsa AAAAold old@host\nssh-ed25519 AAAAnew new@host\n");
  EXPECT_EQ(ModeOf(root.path + "/home/debian/.ssh/authorized_keys"), 0600u);
  EXPECT_EQ(root.Read("etc/motd"), "welcome\n");
  EXPECT_EQ(ModeOf(root.path + "/etc/motd"), 0660u);
  EXPECT_EQ(root.Read("srv/app/deep/app.conf"), "x=1\n");
  EXPECT_EQ(ModeOf(root.path + "/srv/app/deep"), 0755u);
  EXPECT_EQ(root.Read("var/lib/metastack-guest/vendor_data.json"), "{\"v\": 1}");
  EXPECT_EQ(ModeOf(root.path + "/var/lib/metastack-guest"), 0700u);
  // The script ran once, in the root, and its status was kept.
  EXPECT_EQ(r->user_data_exit, 3);
  EXPECT_EQ(root.Read("ran.log"), "ran\n");
  EXPECT_EQ(root.Read("var/lib/metastack-guest/user-data.status"), "3\n");
  EXPECT_EQ(root.Read("var/lib/metastack-guest/instance-id"),
            "11111111-2222-3333-4444-555555555555\n");

  // A second boot of the same instance changes nothing.
  root.Write("etc/hostname", "changed-by-admin\n");
  auto again = Apply(Sample(), root.Options());
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->already_applied);
  EXPECT_EQ(again->actions, std::vector<std::string>{
                                "instance 11111111-2222-3333-4444-555555555555 was applied "
                                "already (/var/lib/metastack-guest/instance-id); nothing to do"});
  EXPECT_EQ(root.Read("etc/hostname"), "changed-by-admin\n");
  EXPECT_EQ(root.Read("ran.log"), "ran\n");

  // A new instance id applies again; keys are not duplicated.
  auto other = Apply(Sample("99999999-2222-3333-4444-555555555555"), root.Options());
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->already_applied);
  EXPECT_EQ(root.Read("etc/hostname"), "web-01\n");
  EXPECT_EQ(root.Read("ran.log"), "ran\nran\n");
  EXPECT_EQ(root.Read("home/debian/.ssh/authorized_keys"),
            "ssh-rsa AAAAold old@host\nssh-ed25519 AAAAnew new@host\n");
}

TEST(ApplyTest, DryRunPrintsEveryActionAndWritesNothing) {
  Root root;
  ApplyOptions o = root.Options();
  o.dry_run = true;
  auto r = Apply(Sample(), o);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->actions,
            (std::vector<std::string>{
                "write /etc/hostname (7 bytes, mode 0644)",
                "write /etc/hosts (74 bytes, mode 0644)",
                "write /home/debian/.ssh/authorized_keys (54 bytes, mode 0600, owner "
                "1000:1000)",
                "write /etc/motd (8 bytes, mode 0660, owner 0:0)",
                "write /srv/app/deep/app.conf (4 bytes, mode 0660, owner 0:0)",
                "write /var/lib/metastack-guest/user-data (44 bytes, mode 0600, owner 0:0)",
                "write /var/lib/metastack-guest/user-data.script (44 bytes, mode 0700, "
                "owner 0:0)",
                "write /var/lib/metastack-guest/vendor_data.json (8 bytes, mode 0600, "
                "owner 0:0)",
                "run /var/lib/metastack-guest/user-data.script",
                "write /var/lib/metastack-guest/instance-id "
                "(11111111-2222-3333-4444-555555555555)",
            }));
  EXPECT_FALSE(root.Exists("etc/hostname"));
  EXPECT_FALSE(root.Exists("var/lib/metastack-guest"));
  EXPECT_EQ(root.Read("home/debian/.ssh/authorized_keys"), "ssh-rsa AAAAold old@host\n");
}

TEST(ApplyTest, BadInputIsAnErrorAndWritesNothing) {
  struct Case {
    std::function<void(InstanceData&, ApplyOptions&)> change;
    std::string error;
  } cases[] = {
      {[](InstanceData& d, ApplyOptions&) {
         d.files.push_back({"/../../etc/evil", "x"});
       },
       "/../../etc/evil: path escapes the root"},
      {[](InstanceData& d, ApplyOptions&) {
         d.files.push_back({"/srv/../../x", "x"});
       },
       "/srv/../../x: path escapes the root"},
      {[](InstanceData& d, ApplyOptions&) { d.hostname = "bad/name"; },
       "hostname: not a valid host name"},
      {[](InstanceData& d, ApplyOptions&) { d.hostname = "a..b"; },
       "hostname: not a valid host name"},
      {[](InstanceData& d, ApplyOptions&) { d.hostname = std::string(64, 'a'); },
       "hostname: not a valid host name"},
      {[](InstanceData&, ApplyOptions& o) { o.user = "nobody-here"; },
       "user nobody-here: not in /etc/passwd"},
  };
  for (const auto& c : cases) {
    Root root;
    InstanceData d = Sample();
    ApplyOptions o = root.Options();
    c.change(d, o);
    auto r = Apply(d, o);
    ASSERT_FALSE(r) << c.error;
    EXPECT_EQ(r.error().ToString(), c.error);
    EXPECT_FALSE(root.Exists("etc/hostname")) << c.error;
    EXPECT_FALSE(root.Exists("etc/motd")) << c.error;
    EXPECT_FALSE(root.Exists("var/lib/metastack-guest")) << c.error;
  }
}

TEST(ApplyTest, SymbolicLinksResolveInsideTheRoot) {
  Root root;
  TempDir outside;
  // An absolute link and a relative one climbing past the top: both stay in the root.
  ASSERT_EQ(symlink((outside.path).c_str(), (root.path + "/srv").c_str()), 0);
  ASSERT_EQ(symlink("../../../../../../tmp-elsewhere", (root.path + "/etc/motd").c_str()), 0);
  auto r = Apply(Sample(), root.Options());
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_FALSE(outside.Exists("app"));
  EXPECT_EQ(root.Read(outside.path.substr(1) + "/app/deep/app.conf"), "x=1\n");
  EXPECT_EQ(root.Read("tmp-elsewhere"), "welcome\n");
}

TEST(ApplyTest, ScriptsCanBeKeptFromRunning) {
  Root root;
  ApplyOptions o = root.Options();
  o.run_user_data = false;
  auto r = Apply(Sample(), o);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->user_data_exit);
  EXPECT_FALSE(root.Exists("ran.log"));
  EXPECT_FALSE(root.Exists("var/lib/metastack-guest/user-data.script"));
  EXPECT_TRUE(root.Exists("var/lib/metastack-guest/user-data"));
}

TEST(ApplyTest, NetworkFilesAsTheRootWantsThem) {
  InstanceData d = Sample();
  d.user_data.reset();
  d.network_data = nlohmann::json::parse(R"({
    "links": [{"id": "tap1", "type": "ovs", "ethernet_mac_address": "fa:16:3e:00:00:01"}],
    "networks": [{"id": "n0", "type": "ipv4", "link": "tap1", "ip_address": "10.0.0.5",
                  "netmask": "255.255.255.0", "routes": []}],
    "services": []})");
  {
    // auto: both kinds of directory; the NIC is present, so both are written.
    Root root;
    root.Write("etc/systemd/x", "");
    root.Write("etc/network/x", "");
    ApplyOptions o = root.Options();
    o.network = NetworkMode::kAuto;
    o.nics = {{"fa:16:3e:00:00:01", "ens3"}};
    ASSERT_TRUE(Apply(d, o));
    EXPECT_NE(root.Read("etc/systemd/network/10-metastack-ens3.network").find("10.0.0.5/24"),
              std::string::npos);
    EXPECT_NE(root.Read("etc/network/interfaces").find("iface ens3 inet static"),
              std::string::npos);
  }
  {
    // auto, the NIC absent: networkd (by MAC) is written, ifupdown is reported and left out.
    Root root;
    root.Write("etc/systemd/x", "");
    root.Write("etc/network/x", "");
    ApplyOptions o = root.Options();
    o.network = NetworkMode::kAuto;
    auto r = Apply(d, o);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_TRUE(root.Exists("etc/systemd/network/10-metastack-tap1.network"));
    EXPECT_FALSE(root.Exists("etc/network/interfaces"));
    EXPECT_NE(std::find(r->actions.begin(), r->actions.end(),
                        "network: ifupdown configuration not written: links[0]."
                        "ethernet_mac_address: no interface has this MAC address "
                        "(fa:16:3e:00:00:01)"),
              r->actions.end());
    EXPECT_EQ(root.Read("etc/hostname"), "web-01\n");
  }
  {
    // Chosen: the same is an error, and nothing is written.
    Root root;
    ApplyOptions o = root.Options();
    o.network = NetworkMode::kIfupdown;
    auto r = Apply(d, o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().ToString(),
              "links[0].ethernet_mac_address: no interface has this MAC address "
              "(fa:16:3e:00:00:01)");
    EXPECT_FALSE(root.Exists("etc/hostname"));
  }
}

// A 1024-bit RSA key (its private half is not needed: the service's side is faked here;
// password_test.cc decrypts with OpenSSL, test_guest.py end to end).
constexpr const char* kRsaKey =
    "ssh-rsa "
    "AAAAB3NzaC1yc2EAAAADAQABAAAAgQDEmlhf+pCxQ91JvawqOveknwV4C7gVPylDzsGutmpSn24EetWSkv/"
    "rJMQqk5llkm7ruy8xWVM15bLDo7kYBR3pSBUDRauXAFBkBis6QN5ox4lQT2C4LuaEBFhGMJcpjXShXHyPp66RDMixHK2XX"
    "vOYx7WEIAU9nDbcXTc0eWNJ2Q== test@key";

struct PasswordRoot : Root {
  PasswordRoot() {
    Write("etc/shadow", "root:*:19000:0:99999:7:::\ndebian:!:19000:0:99999:7:::\n");
    chmod((path + "/etc/shadow").c_str(), 0640);
  }
  std::string HashOf(const std::string& user) const {
    for (const auto& line : Lines(Read("etc/shadow")))
      if (line.starts_with(user + ":"))
        return line.substr(user.size() + 1, line.find(':', user.size() + 1) - user.size() - 1);
    return {};
  }
  static std::vector<std::string> Lines(const std::string& s) {
    std::vector<std::string> out;
    for (size_t at = 0; at < s.size();) {
      size_t end = s.find('\n', at);
      out.push_back(s.substr(at, end - at));
      at = end + 1;
    }
    return out;
  }
};

TEST(ApplyPasswordTest, AdminPassIsSetAndNotPosted) {
  PasswordRoot root;
  InstanceData d = Sample();
  d.user_data.reset();
  d.admin_pass = "Adm1nPassw0rd";
  ApplyOptions o = root.Options();
  o.set_password = true;
  ASSERT_TRUE(Apply(d, o));
  std::string hash = root.HashOf("debian");
  ASSERT_TRUE(hash.starts_with("$6$")) << hash;
  EXPECT_EQ(crypt("Adm1nPassw0rd", hash.c_str()), hash);
  EXPECT_EQ(root.HashOf("root"), "*");
  EXPECT_EQ(ModeOf(root.path + "/etc/shadow"), 0640u);
}

TEST(ApplyPasswordTest, AGeneratedOneIsSetOnlyWhereItCanBePosted) {
  InstanceData d = Sample();
  d.user_data.reset();
  d.ssh_keys = {"ssh-ed25519 AAAAC3 first@host", kRsaKey};
  struct Case {
    std::string name, posted;
    bool service, rsa;
    int status;
    bool changed, posts;
    std::string line;
  } cases[] = {
      {"posts", "", true, true, 200, true, true,
       "password: generated for debian, to be posted encrypted with key test@key"},
      {"no service", "", false, true, 200, false, false,
       "password: not set: a generated password must be posted to the metadata service, and "
       "this instance did not come from it"},
      {"posted already", "c2VjcmV0", true, true, 200, false, false,
       "password: not changed: http://svc/password has one posted already"},
      {"no rsa key", "", true, false, 200, false, false,
       "password: not set: no ssh-rsa key to encrypt a generated password with"},
      {"bad key", "", true, true, 200, false, false,
       "password: not set: key bad@key: malformed key"},
      {"raced", "", true, true, 409, true, true,
       "password: http://svc/password had one posted already (409)"},
  };
  for (const auto& c : cases) {
    PasswordRoot root;
    InstanceData data = d;
    if (!c.rsa) data.ssh_keys.pop_back();
    if (c.name == "bad key") data.ssh_keys.insert(data.ssh_keys.begin(), "ssh-rsa AAAA bad@key");
    ApplyOptions o = root.Options();
    o.set_password = true;
    std::vector<std::string> posts;
    if (c.service)
      o.password_service = ApplyOptions::PasswordService{
          "http://svc/password", [&] { return Result<std::string>(c.posted); },
          [&](const std::string& e) {
            posts.push_back(e);
            return Result<int>(c.status);
          }};
    auto r = Apply(data, o);
    ASSERT_TRUE(r) << c.name << ": " << r.error().ToString();
    EXPECT_NE(std::find(r->actions.begin(), r->actions.end(), c.line), r->actions.end()) << c.name;
    EXPECT_EQ(root.HashOf("debian") != "!", c.changed) << c.name;
    ASSERT_EQ(posts.size(), c.posts ? 1u : 0u) << c.name;
    if (c.posts) {
      EXPECT_EQ(posts[0].size(), 172u) << c.name;  // base64 of 128 bytes
    }
  }
  // The service refusing the POST is an error (the state file stays unwritten: the next boot
  // tries again).
  PasswordRoot root;
  ApplyOptions o = root.Options();
  o.set_password = true;
  o.password_service =
      ApplyOptions::PasswordService{"http://svc/password", [] { return Result<std::string>(""); },
                                    [](const std::string&) { return Result<int>(500); }};
  auto r = Apply(d, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().ToString(), "password: the service answered the POST with status 500");
  EXPECT_FALSE(root.Exists("var/lib/metastack-guest/instance-id"));
}

TEST(SplitHostNameTest, AsCloudInitSplitsIt) {
  EXPECT_EQ(SplitHostName("web-01.example.org")->short_name, "web-01");
  EXPECT_EQ(SplitHostName("web-01.example.org")->fqdn, "web-01.example.org");
  EXPECT_EQ(SplitHostName("solo")->fqdn, "solo");
  EXPECT_TRUE(SplitHostName("h\xc3\xa9te"));
  for (std::string bad : {"", ".a", "a.", "a b", "a\nb", "a:b"})
    EXPECT_FALSE(SplitHostName(bad)) << bad;
}

}  // namespace
}  // namespace metastack::guest
