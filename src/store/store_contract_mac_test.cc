// The contract's port look-ups for link-local guests (store.h FindPortOnNetwork): by the MAC
// their address names, scoped as by IP. Part of StoreContractTest, run on every implementation.

#include "store/store_contract_test.h"

namespace metastack::store::testing {
namespace {

// The address Neutron's metadata agent reads as MAC fa:16:3e:00:04:07.
constexpr char kLinkLocal[] = "fe80::f816:3eff:fe00:407";
constexpr char kMac[] = "fa:16:3e:00:04:07";

core::Instance WithMac(const std::string& uuid, const std::string& network, const std::string& ip,
                       const std::string& mac, const std::string& project = "proj-a") {
  core::Instance inst = InstanceWithPort(uuid, network, ip, project);
  inst.ports[0].mac = mac;
  return inst;
}

TEST_P(StoreContractTest, LinkLocalGuestIsFoundByMacOnItsNetwork) {
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  ASSERT_TRUE(store_->CreateNetwork({"net-b", "b", "proj-b", std::nullopt, 0, ""}));
  // Written in capitals, with two fixed IPs: still one port, found by the lowercase MAC.
  core::Instance u1 = WithMac(kU1, "net-a", "10.0.0.5", "FA:16:3E:00:04:07");
  u1.ports[0].subnets.push_back(u1.ports[0].subnets[0]);
  u1.ports[0].subnets[1].cidr = "fd00::/64";
  u1.ports[0].subnets[1].version = 6;
  u1.ports[0].subnets[1].ip_address = "fd00::5";
  ASSERT_TRUE(store_->CreateInstance(u1));
  // Another tenant's port with the same MAC on another network.
  ASSERT_TRUE(store_->CreateInstance(WithMac(kU2, "net-b", "10.0.0.5", kMac, "proj-b")));

  auto a = store_->FindPortOnNetwork("net-a", kLinkLocal);
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->instance_id, kU1);
  EXPECT_EQ(a->project_id, "proj-a");
  EXPECT_EQ(a->mac, kMac);
  EXPECT_EQ(a->ip_address, "10.0.0.5");
  auto b = store_->FindPortOnNetwork("net-b", "FE80::F816:3EFF:FE00:0407");
  ASSERT_TRUE(b) << b.error().ToString();
  EXPECT_EQ(b->instance_id, kU2);
  EXPECT_EQ(b->project_id, "proj-b");
  // The document keeps the MAC as written; the index lists it lowercase.
  EXPECT_EQ(store_->GetInstance(kU1)->instance.ports[0].mac, "FA:16:3E:00:04:07");
  EXPECT_EQ(store_->ListPorts("net-a", {})->items[0].mac, kMac);

  auto unknown = store_->FindPortOnNetwork("net-a", "fe80::f816:3eff:fe00:408");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(unknown.error().message, "no port with MAC fa:16:3e:00:04:08 on network net-a");

  // A second port with that MAC on net-a: no answer rather than a guess.
  ASSERT_TRUE(store_->CreateInstance(WithMac(kU3, "net-a", "10.0.0.6", kMac)));
  auto ambiguous = store_->FindPortOnNetwork("net-a", kLinkLocal);
  ASSERT_FALSE(ambiguous);
  EXPECT_EQ(ambiguous.error().code, ErrorCode::kConflict);
  EXPECT_EQ(ambiguous.error().message, "2 ports have MAC fa:16:3e:00:04:07 on network net-a");
  EXPECT_EQ(store_->FindPortOnNetwork("net-b", kLinkLocal)->instance_id, kU2);
}

TEST_P(StoreContractTest, LinkLocalGuestIsFoundByMacBehindItsRouter) {
  ASSERT_TRUE(store_->CreateRouter({"r1", "r1", "proj-a", 0, ""}));
  ASSERT_TRUE(store_->CreateRouter({"r2", "r2", "proj-b", 0, ""}));
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", "r1", 0, ""}));
  ASSERT_TRUE(store_->CreateNetwork({"net-b", "b", "proj-b", "r2", 0, ""}));
  ASSERT_TRUE(store_->CreateNetwork({"net-c", "c", "proj-a", "r1", 0, ""}));
  ASSERT_TRUE(store_->CreateInstance(WithMac(kU1, "net-a", "10.0.0.5", kMac)));
  ASSERT_TRUE(store_->CreateInstance(WithMac(kU2, "net-b", "10.0.0.5", kMac, "proj-b")));
  EXPECT_EQ(store_->FindPortOnRouter("r1", kLinkLocal)->instance_id, kU1);
  EXPECT_EQ(store_->FindPortOnRouter("r2", kLinkLocal)->instance_id, kU2);
  EXPECT_EQ(store_->FindPortOnRouter("r3", kLinkLocal).error().message, "no router r3");
  EXPECT_EQ(store_->FindPortOnRouter("r1", "fe80::f816:3eff:fe00:408").error().message,
            "no port with MAC fa:16:3e:00:04:08 behind router r1");
  // The link-local address is looked up by MAC only, never as a fixed IP.
  core::Instance u3 = WithMac(kU3, "net-c", "10.0.1.5", "fa:16:3e:00:00:09");
  u3.ports[0].subnets[0].cidr = "fe80::/64";
  u3.ports[0].subnets[0].version = 6;
  u3.ports[0].subnets[0].ip_address = kLinkLocal;
  ASSERT_TRUE(store_->CreateInstance(u3));
  EXPECT_EQ(store_->FindPortOnRouter("r1", kLinkLocal)->instance_id, kU1);

  // The same MAC on a second network of r1 makes the lookup ambiguous.
  ASSERT_TRUE(store_->ReplaceInstance(WithMac(kU3, "net-c", "10.0.1.5", kMac), std::nullopt));
  auto ambiguous = store_->FindPortOnRouter("r1", kLinkLocal);
  ASSERT_FALSE(ambiguous);
  EXPECT_EQ(ambiguous.error().code, ErrorCode::kConflict);
  EXPECT_EQ(ambiguous.error().message, "2 ports have MAC fa:16:3e:00:04:07 behind router r1");
  // A new MAC in the document moves the port in the index.
  ASSERT_TRUE(store_->ReplaceInstance(WithMac(kU3, "net-c", "10.0.1.5", "fa:16:3e:00:04:09"),
                                      std::nullopt));
  EXPECT_EQ(store_->FindPortOnRouter("r1", kLinkLocal)->instance_id, kU1);
  EXPECT_EQ(store_->FindPortOnRouter("r1", "fe80::f816:3eff:fe00:409")->instance_id, kU3);
}

}  // namespace
}  // namespace metastack::store::testing
