// The namespace manager's pure part: which routers and networks this host serves, the names of
// their namespaces, the settings it refuses, and the DHCP hosts of a network.
#include "netns_manager/desired.h"

#include <gtest/gtest.h>

#include <functional>

namespace metastack::netns_manager {
namespace {

Settings Here() {
  Settings s;
  s.host = "node-1";
  return s;
}

TEST(DesiredTest, NamespaceNamesFollowTheFormat) {
  EXPECT_EQ(NamespaceName("qrouter-{id}", "r1").value(), "qrouter-r1");
  EXPECT_EQ(NamespaceName("t{id}.x", "ab").value(), "tab.x");
  // An id that makes no valid name: too long, or a character names may not have.
  auto long_id = NamespaceName("qrouter-{id}", std::string(60, 'a'));
  ASSERT_FALSE(long_id);
  EXPECT_EQ(long_id.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(long_id.error().message.starts_with("namespace qrouter-aaaa"))
      << long_id.error().message;
  EXPECT_FALSE(NamespaceName("qdhcp-{id}", "a/b"));
}

TEST(DesiredTest, BadSettingsNameTheFlag) {
  struct Case {
    std::function<void(Settings&)> edit;
    std::string error;
  } cases[] = {
      {[](Settings& s) { s.router_namespace = "qrouter-"; },
       "--router-namespace: expected exactly one {id} in qrouter-"},
      {[](Settings& s) { s.network_namespace = "{id}-{id}"; },
       "--network-namespace: expected exactly one {id} in {id}-{id}"},
      {[](Settings& s) { s.router_namespace = "q router {id}"; },
       "--router-namespace: q router {id} makes no valid namespace name (1-64 of A-Z a-z 0-9 _ . "
       "-)"},
      {[](Settings& s) { s.network_namespace = s.router_namespace; },
       "--network-namespace: must differ from --router-namespace"},
      {[](Settings& s) { s.host.clear(); }, "--host: is empty"},
      {[](Settings& s) { s.dhcp_interface_prefix = "tap with space"; },
       "--dhcp-interface-prefix: 1-15 of A-Z a-z 0-9 _ . - @"},
      {[](Settings& s) { s.dhcp_state_dir = "relative/dir"; },
       "--dhcp-state-dir: expected an absolute path"},
      {[](Settings& s) { s.router_port = 0; }, "--router-port: must be a port from 1 to 65535"},
      {[](Settings& s) { s.resync_interval = std::chrono::milliseconds(10); },
       "--resync-interval: must be at least 1 second"},
  };
  EXPECT_TRUE(ValidateSettings(Here()));
  for (const auto& c : cases) {
    Settings s = Here();
    c.edit(s);
    auto st = ValidateSettings(s);
    ASSERT_FALSE(st) << c.error;
    EXPECT_EQ(st.error().ToString(), c.error);
  }
}

TEST(DesiredTest, RoutersOfThisHostOrOfNone) {
  const Settings s = Here();
  auto mine = RouterTarget({"r1", "", "p", 0, "node-1"}, s);
  ASSERT_TRUE(mine);
  EXPECT_EQ(*mine, (Target{Kind::kRouter, "r1", "qrouter-r1", ""}));
  EXPECT_TRUE(RouterTarget({"r2", "", "p", 0, ""}, s));
  EXPECT_FALSE(RouterTarget({"r3", "", "p", 0, "node-2"}, s));
  // A router whose id makes no namespace name is still this host's, with the reason.
  auto odd = RouterTarget({std::string(70, 'r'), "", "p", 0, ""}, s);
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->netns, "");
  EXPECT_NE(odd->problem.find("1-64"), std::string::npos) << odd->problem;
}

TEST(DesiredTest, IsolatedNetworksUnlessForceMetadata) {
  Settings s = Here();
  s.network_namespace = "ns-{id}-dhcp";
  const store::Network isolated{"n1", "", "p", std::nullopt, 0, ""};
  const store::Network routed{"n2", "", "p", "r1", 0, "node-1"};
  const store::Network elsewhere{"n3", "", "p", std::nullopt, 0, "node-2"};
  auto t = NetworkTarget(isolated, s);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, (Target{Kind::kNetwork, "n1", "ns-n1-dhcp", ""}));
  EXPECT_FALSE(NetworkTarget(routed, s));
  EXPECT_FALSE(NetworkTarget(elsewhere, s));
  s.force_metadata = true;
  EXPECT_TRUE(NetworkTarget(routed, s));
  EXPECT_FALSE(NetworkTarget(elsewhere, s));
}

TEST(DesiredTest, DhcpHostsAreTheGuestsOfTheSubnet) {
  const net::DhcpSubnet subnet{"tap1", "10.0.0.2", "10.0.0.0/24", ""};
  const std::vector<store::PortBinding> ports = {
      {"p3", "FA:16:3E:00:00:03", "n1", "10.0.0.7", "i3", "p"},
      {"p1", "fa:16:3e:00:00:01", "n1", "10.0.0.5", "i1", "p"},
      {"p1", "fa:16:3e:00:00:01", "n1", "10.0.0.5", "i1", "p"},     // twice: once
      {"p2", "fa:16:3e:00:00:02", "n1", "10.1.0.5", "i2", "p"},     // another subnet
      {"p4", "fa:16:3e:00:00:04", "n1", "2001:db8::5", "i4", "p"},  // IPv6
      {"p5", "fa:16:3e:00:00:05", "n1", "10.0.0.2", "i5", "p"},     // the DHCP port's
      {"p6", "fa:16:3e:00:00:06", "n1", "10.0.0.255", "i6", "p"},   // broadcast
  };
  auto hosts = DhcpHosts(ports, subnet);
  ASSERT_EQ(hosts.size(), 2u);
  EXPECT_EQ(hosts[0], (net::DhcpHost{"fa:16:3e:00:00:01", "10.0.0.5", ""}));
  EXPECT_EQ(hosts[1], (net::DhcpHost{"fa:16:3e:00:00:03", "10.0.0.7", ""}));
}

TEST(DesiredTest, DhcpServerNames) {
  EXPECT_EQ(ParseDhcpServer("dnsmasq"), DhcpServer::kDnsmasq);
  EXPECT_EQ(ParseDhcpServer("none"), DhcpServer::kNone);
  EXPECT_EQ(ParseDhcpServer("isc"), std::nullopt);
  EXPECT_EQ(DhcpServerName(DhcpServer::kDnsmasq), "dnsmasq");
}

}  // namespace
}  // namespace metastack::netns_manager
