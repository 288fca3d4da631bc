// DHCP-namespace metadata: Neutron's dnsmasq options and command line (pure), and the address,
// dnsmasq and conf-dir file in a throwaway namespace (root only).
#include "net/dhcp_metadata.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "base/file.h"
#include "net/command.h"
#include "net/dhcp_options.h"
#include "net/test_namespace.h"

namespace metastack::net {
namespace {

// A zombie (exited, not yet reaped by init) has an empty command line.
bool Running(int pid) {
  auto cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  return cmdline && !cmdline->empty();
}

const DhcpSubnet kSubnet{"tap7e8f9a0b-1c", "10.60.0.2", "10.60.0.0/24", "10.60.0.1"};

TEST(DhcpOptionsTest, OptionLinesAreNeutrons) {
  // reference/neutron.md, opts file of an isolated subnet.
  EXPECT_EQ(MetadataOptionLines(kSubnet, "subnet-x"),
            (std::vector<std::string>{
                "tag:subnet-x,option:classless-static-route,169.254.169.254/32,10.60.0.2,"
                "0.0.0.0/0,10.60.0.1",
                "tag:subnet-x,249,169.254.169.254/32,10.60.0.2,0.0.0.0/0,10.60.0.1",
                "tag:subnet-x,option:router,10.60.0.1"}));
  DhcpSubnet no_gateway = kSubnet;
  no_gateway.gateway.clear();
  EXPECT_EQ(
      MetadataOptionLines(no_gateway, "t"),
      (std::vector<std::string>{"tag:t,option:classless-static-route,169.254.169.254/32,10.60.0.2",
                                "tag:t,249,169.254.169.254/32,10.60.0.2"}));
  EXPECT_EQ(ConfDirLines(kSubnet)[0],
            "dhcp-option=tag:tap7e8f9a0b-1c,option:classless-static-route,169.254.169.254/32,"
            "10.60.0.2,0.0.0.0/0,10.60.0.1");
  EXPECT_EQ(SubnetTag(kSubnet), "subnet-10.60.0.0-24");
}

TEST(DhcpOptionsTest, CommandLineHasNeutronsFlags) {
  DnsmasqSettings d;
  d.hosts.push_back(*ParseDhcpHost("FA:16:3E:00:02:05,10.60.0.5,host-10-60-0-5.openstacklocal"));
  EXPECT_EQ(HostLine(d.hosts[0]), "fa:16:3e:00:02:05,host-10-60-0-5.openstacklocal,10.60.0.5");
  EXPECT_EQ(DnsmasqCommandLine(kSubnet, d, DnsmasqFiles::In("/s")),
            (std::vector<std::string>{
                "/usr/sbin/dnsmasq", "--no-hosts", "--no-resolv", "--port=0", "--pid-file=/s/pid",
                "--dhcp-hostsfile=/s/host", "--dhcp-optsfile=/s/opts", "--dhcp-leasefile=/s/leases",
                "--log-facility=/s/dnsmasq.log", "--bind-dynamic", "--interface=tap7e8f9a0b-1c",
                "--except-interface=lo",
                "--dhcp-range=set:subnet-10.60.0.0-24,10.60.0.0,static,255.255.255.0,86400s",
                "--dhcp-lease-max=256", "--conf-file=/dev/null", "--domain=openstacklocal"}));
  d.range_start = "10.60.0.100";
  d.range_end = "10.60.0.150";
  d.lease_time = std::chrono::seconds(600);
  EXPECT_EQ(DnsmasqCommandLine(kSubnet, d, DnsmasqFiles::In("/s"))[12],
            "--dhcp-range=set:subnet-10.60.0.0-24,10.60.0.100,10.60.0.150,255.255.255.0,600s");
}

TEST(DhcpOptionsTest, TheDhcpPortIsTheOneInterfaceWithAnIpv4Address) {
  const std::vector<InterfaceAddress> one = {
      {"lo", "127.0.0.1/8"}, {"tap1", "10.60.0.2/24"}, {"tap1", "169.254.169.254/32"}};
  auto port = ChooseDhcpPort(one, "", "qdhcp-n");
  ASSERT_TRUE(port) << port.error().ToString();
  EXPECT_EQ(port->interface, "tap1");
  EXPECT_EQ(port->dhcp_ip, "10.60.0.2");
  EXPECT_EQ(port->subnet, "10.60.0.0/24");
  EXPECT_EQ(port->gateway, "");
  // The metadata address alone does not make a DHCP port; neither does lo.
  auto none = ChooseDhcpPort({{"lo", "127.0.0.1/8"}, {"tap1", "169.254.169.254/32"}}, "", "ns1");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(none.error().message,
            "netns ns1: no interface other than lo has an IPv4 address (the DHCP port's)");
  const std::vector<InterfaceAddress> two = {{"tap1", "10.60.0.2/24"}, {"ns-2", "10.61.0.2/24"}};
  auto both = ChooseDhcpPort(two, "", "ns1");
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error().code, ErrorCode::kConflict);
  EXPECT_EQ(both.error().message,
            "netns ns1: tap1 and ns-2 both have IPv4 addresses; which is the DHCP port's? (set "
            "the interface prefix)");
  EXPECT_EQ(ChooseDhcpPort(two, "ns-", "ns1")->interface, "ns-2");
  EXPECT_EQ(ChooseDhcpPort(two, "qr-", "ns1").error().message,
            "netns ns1: no interface named qr-* has an IPv4 address (the DHCP port's)");
}

TEST(DhcpOptionsTest, ValidationNamesTheField) {
  struct Case {
    DhcpSubnet subnet;
    std::string error;
  };
  const Case cases[] = {
      {{"eth0", "10.9.0.2", "10.60.0.0/24", ""},
       "dhcp_ip: 10.9.0.2 is not a host address in 10.60.0.0/24"},
      {{"eth0", "10.60.0.2", "10.60.0.0/33", ""}, "subnet: not an IPv4 CIDR: \"10.60.0.0/33\""},
      {{"eth0", "10.60.0.2", "10.60.0.0/24", "10.60.0.255"},
       "gateway: 10.60.0.255 is not a host address in 10.60.0.0/24"},
      {{"eth0", "10.60.0.2", "10.60.0.0/24", "10.60.0.2"},
       "gateway: is the DHCP port's own address"},
      {{"an-interface-name-too-long", "10.60.0.2", "10.60.0.0/24", ""},
       "interface: 1-15 of A-Z a-z 0-9 _ . - @"},
      {{"eth0", "fe80::1", "10.60.0.0/24", ""}, "dhcp_ip: not an IPv4 address: \"fe80::1\""},
  };
  for (const auto& c : cases) {
    auto st = ValidateDhcpSubnet(c.subnet);
    ASSERT_FALSE(st) << c.error;
    EXPECT_EQ(st.error().ToString(), c.error);
  }
  EXPECT_TRUE(ValidateDhcpSubnet({"eth0", "10.60.0.2", "10.60.0.7/24", ""}));  // host bits ignored
  auto h = ParseDhcpHost("fa:16:3e:00:02:05");
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().ToString(), "host: \"fa:16:3e:00:02:05\": expected MAC,IP[,NAME]");
  h = ParseDhcpHost("fa:16:3e:00:02,10.0.0.1");
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().ToString(),
            "host: \"fa:16:3e:00:02,10.0.0.1\": not a MAC address: fa:16:3e:00:02");
  auto st = ValidateDnsmasqSettings(kSubnet, {});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().ToString(),
            "hosts: a static range hands out nothing without hosts; give hosts or a range");
}

// A namespace with a veth (this kernel may lack "dummy") carrying the DHCP port's address, and a
// state directory.
class DhcpNamespaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    METASTACK_NEED_ROOT();
    if (!FindExecutable("/usr/sbin/dnsmasq")) GTEST_SKIP() << "dnsmasq not installed";
    ns_ = std::make_unique<TestNamespace>("dhcp");
    for (std::vector<std::string> argv :
         {std::vector<std::string>{"ip", "link", "add", "tap0", "type", "veth", "peer", "name",
                                   "tap0p"},
          {"ip", "addr", "add", "10.60.0.2/24", "dev", "tap0"},
          {"ip", "link", "set", "tap0", "up"}}) {
      auto r = RunChecked({.argv = argv, .netns = ns_->name()});
      ASSERT_TRUE(r) << r.error().ToString();
    }
    char tmpl[] = "/tmp/metastack-net-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    ASSERT_EQ(::chmod(tmpl, 0755), 0);  // dnsmasq, as nobody, reads its files under here
    tmp_ = tmpl;
    setup_.netns = ns_->name();
    setup_.subnet = {"tap0", "10.60.0.2", "10.60.0.0/24", "10.60.0.1"};
    setup_.state_dir = tmp_ + "/state";
    setup_.dnsmasq.hosts.push_back(*ParseDhcpHost("fa:16:3e:00:02:05,10.60.0.5"));
  }
  void TearDown() override {
    if (!ns_) return;
    (void)TeardownDhcpMetadata(setup_.state_dir, setup_.netns);  // even after a failure
    ns_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(tmp_, ignored);
  }
  bool HasAddress() { return HasMetadataAddress(setup_.netns, "tap0").value_or(false); }
  bool HasAddress6() {
    return HasMetadataAddress(setup_.netns, "tap0", IpFamily::kV6).value_or(false);
  }

  std::unique_ptr<TestNamespace> ns_;
  std::string tmp_;
  DhcpMetadataSetup setup_;
};

TEST_F(DhcpNamespaceTest, StartsDnsmasqAndTearsDownExactlyThat) {
  setup_.start_dnsmasq = true;
  auto state = SetupDhcpMetadata(setup_);
  ASSERT_TRUE(state) << state.error().ToString();
  EXPECT_TRUE(state->address_added);
  EXPECT_TRUE(HasAddress());
  // fe80::a9fe:a9fe/64 next to it, usable at once (no duplicate address detection).
  EXPECT_EQ(state->address6_added, KernelHasIpv6());
  EXPECT_EQ(HasAddress6(), KernelHasIpv6());
  if (KernelHasIpv6()) {
    auto shown = RunChecked(
        {.argv = {"ip", "-o", "-6", "addr", "show", "dev", "tap0"}, .netns = setup_.netns});
    ASSERT_TRUE(shown);
    EXPECT_NE(shown->find("fe80::a9fe:a9fe/64 scope link nodad"), std::string::npos) << *shown;
  }
  const int pid = state->dnsmasq_pid;
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(Running(pid));
  EXPECT_EQ(*ReadFile(state->dir + "/opts"),
            "tag:subnet-10.60.0.0-24,option:classless-static-route,169.254.169.254/32,10.60.0.2,"
            "0.0.0.0/0,10.60.0.1\n"
            "tag:subnet-10.60.0.0-24,249,169.254.169.254/32,10.60.0.2,0.0.0.0/0,10.60.0.1\n"
            "tag:subnet-10.60.0.0-24,option:router,10.60.0.1\n");
  EXPECT_EQ(*ReadFile(state->dir + "/host"), "fa:16:3e:00:02:05,10.60.0.5\n");

  // Again: same dnsmasq (SIGHUP), one address.
  auto again = SetupDhcpMetadata(setup_);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->dnsmasq_pid, pid);
  EXPECT_TRUE(again->address_added);
  EXPECT_EQ(again->address6_added, KernelHasIpv6());
  // Changed flags: a new dnsmasq replaces it.
  setup_.dnsmasq.lease_time = std::chrono::seconds(600);
  again = SetupDhcpMetadata(setup_);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_NE(again->dnsmasq_pid, pid);

  auto listed = ListDhcpMetadata(setup_.state_dir);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].dnsmasq_pid, again->dnsmasq_pid);

  auto gone = TeardownDhcpMetadata(setup_.state_dir, setup_.netns);
  ASSERT_TRUE(gone) << gone.error().ToString();
  ASSERT_TRUE(gone->has_value());
  EXPECT_FALSE(HasAddress());
  EXPECT_FALSE(HasAddress6());
  EXPECT_FALSE(Running(again->dnsmasq_pid));
  EXPECT_FALSE(std::filesystem::exists(state->dir));
  gone = TeardownDhcpMetadata(setup_.state_dir, setup_.netns);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
}

TEST_F(DhcpNamespaceTest, ConfDirFileAndAPreexistingAddressIsLeftAlone) {
  ASSERT_TRUE(AddMetadataAddress(setup_.netns, "tap0"));
  if (KernelHasIpv6()) {
    ASSERT_TRUE(AddMetadataAddress(setup_.netns, "tap0", IpFamily::kV6));
  }
  setup_.conf_dir = tmp_;
  auto state = SetupDhcpMetadata(setup_);
  ASSERT_TRUE(state) << state.error().ToString();
  EXPECT_FALSE(state->address_added);
  EXPECT_FALSE(state->address6_added);
  const std::string file = tmp_ + "/metastack-" + setup_.netns + ".conf";
  EXPECT_EQ(state->conf_file, file);
  EXPECT_EQ(*ReadFile(file),
            "# metastack net dhcp-setup --netns " + setup_.netns +
                "; removed by dhcp-teardown\n"
                "dhcp-option=tag:tap0,option:classless-static-route,169.254.169.254/32,10.60.0.2,"
                "0.0.0.0/0,10.60.0.1\n"
                "dhcp-option=tag:tap0,249,169.254.169.254/32,10.60.0.2,0.0.0.0/0,10.60.0.1\n"
                "dhcp-option=tag:tap0,option:router,10.60.0.1\n");
  auto gone = TeardownDhcpMetadata(setup_.state_dir, setup_.netns);
  ASSERT_TRUE(gone) << gone.error().ToString();
  EXPECT_FALSE(std::filesystem::exists(file));
  EXPECT_TRUE(HasAddress());
  EXPECT_EQ(HasAddress6(), KernelHasIpv6());
}

TEST_F(DhcpNamespaceTest, RefusesAStateDirDnsmasqCannotReadAfterDroppingRoot) {
  ASSERT_EQ(::mkdir((tmp_ + "/private").c_str(), 0700), 0);
  setup_.state_dir = tmp_ + "/private/state";
  setup_.start_dnsmasq = true;
  auto state = SetupDhcpMetadata(setup_);
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().ToString(),
            "state_dir: " + tmp_ +
                "/private is not searchable by others (dnsmasq runs as nobody and reads its "
                "files there)");
}

// The DHCP port (and its interface, and the metadata address on it) went before the teardown:
// the rest is still torn down, without an error.
TEST_F(DhcpNamespaceTest, TearsDownAfterTheInterfaceWent) {
  auto state = SetupDhcpMetadata(setup_);
  ASSERT_TRUE(state) << state.error().ToString();
  ASSERT_TRUE(HasAddress());
  auto deleted = RunChecked({.argv = {"ip", "link", "del", "tap0"}, .netns = setup_.netns});
  ASSERT_TRUE(deleted) << deleted.error().ToString();
  auto gone = TeardownDhcpMetadata(setup_.state_dir, setup_.netns);
  ASSERT_TRUE(gone) << gone.error().ToString();
  ASSERT_TRUE(gone->has_value());
  EXPECT_FALSE(Running(state->dnsmasq_pid));
  EXPECT_FALSE(std::filesystem::exists(state->dir));
}

TEST_F(DhcpNamespaceTest, RefusesWhenTheDhcpAddressIsMissing) {
  setup_.subnet.dhcp_ip = "10.60.0.3";
  auto state = SetupDhcpMetadata(setup_);
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().ToString(),
            "dhcp_ip: tap0 in netns " + setup_.netns + " does not have address 10.60.0.3");
  EXPECT_FALSE(HasAddress());
  setup_.subnet.dhcp_ip = "10.60.0.2";
  setup_.subnet.interface = "nope0";
  state = SetupDhcpMetadata(setup_);
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().message,
            "ip -o -4 addr show dev nope0: exit status 1: Device \"nope0\" does not exist.");
}

}  // namespace
}  // namespace metastack::net
