#pragma once
// The blocking work of the namespace manager for one target (desired.h): serving a router or
// network in its namespace, and undoing that. What each owns there:
//   router:  the metadata rules (net::InstallRouterMetadata: our chains and jumps, IPv4 and
//            IPv6) and the proxy listener [::]:<router port>, named after the namespace;
//   network: 169.254.169.254/32 and fe80::a9fe:a9fe/64 on the DHCP port's interface and, with
//            the dnsmasq DHCP server, a dnsmasq with the store's ports on the network as static
//            hosts (net::SetupDhcpMetadata, recorded under the manager's DHCP state directory),
//            and the proxy listeners 169.254.169.254:80 and [fe80::a9fe:a9fe%<DHCP port>]:80.
// Listeners carry NsProxy::Origin::kManaged: one of another origin with the same name is a
// conflict, reported and left alone.
//
// Blocking (runs ip, iptables, dnsmasq; binds in namespaces; store calls): only on the
// manager's own thread. Not thread-safe: one caller.

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "net/dhcp_options.h"
#include "netns_manager/desired.h"
#include "proxy/proxy.h"
#include "store/store.h"

namespace metastack::netns_manager {

// A namespace's existence, as /run/netns shows it: `ip netns add` creates the file, then binds
// the namespace onto it; until then the name is pending.
enum class NamespaceState { kAbsent, kPending, kReady };
NamespaceState StateOfNamespace(std::string_view name);

// What this run has set up for one target, so that it is redone only when something changed.
struct Applied {
  bool rules = false;     // router: our rules installed
  bool listener = false;  // our listeners open (all of them)
  bool dhcp = false;      // network: SetupDhcpMetadata done with the fields below
  net::DhcpSubnet subnet;
  std::vector<net::DhcpHost> hosts;
  bool dnsmasq = false;
  std::set<std::string> instances;  // whose ports are among the hosts
  bool Empty() const { return !rules && !listener && !dhcp; }
};

class TargetSetup {
 public:
  TargetSetup(store::Store& store, proxy::NsProxy& proxy) : store_(store), proxy_(proxy) {}

  // Brings the target's namespace (which must be ready) to what it should hold; `verify` also
  // checks what is believed done (the DHCP address and dnsmasq) and redoes what went. Errors:
  // kConflict for a listener name held by another origin, else what the tools or the store said.
  Status Serve(const Target& target, const Settings& settings, Applied& applied, bool verify);

  // Undoes what `applied` says (rules only while the namespace exists; the DHCP record also
  // when the namespace is gone) and clears it.
  Status Unserve(const Target& target, const Settings& settings, Applied& applied);

 private:
  Status ServeRouter(const Target& target, const Settings& settings, Applied& applied);
  Status ServeNetwork(const Target& target, const Settings& settings, Applied& applied,
                      bool verify);
  Status EnsureListeners(const std::vector<proxy::ListenerSpec>& specs, Applied& applied);
  // The gateway of `subnet` as the instance documents of `bindings` give it ("" when none do).
  std::string GatewayOf(const std::vector<store::PortBinding>& bindings,
                        const net::DhcpSubnet& subnet);

  store::Store& store_;
  proxy::NsProxy& proxy_;
};

// The listeners a target gets, named after its namespace: a router's on [::]:router_port (both
// families: the rules redirect 169.254.169.254:80 and [fe80::a9fe:a9fe]:80 there); a network's
// on 169.254.169.254:80 and, given its DHCP port's interface and whenever the kernel has IPv6,
// one named V6ListenerName on [fe80::a9fe:a9fe%<interface>]:80.
std::vector<proxy::ListenerSpec> ListenersFor(const Target& target, const Settings& settings,
                                              std::string_view dhcp_interface = {});
// "<netns>@v6" (no namespace name has an '@').
std::string V6ListenerName(std::string_view netns);

}  // namespace metastack::netns_manager
