#pragma once
// The namespace manager: keeps every router and network the store assigns to this host (or to
// no host) served in its namespace, as Neutron's L3 and DHCP agents set up metadata, without a
// manual step per namespace. What it serves and where is desired.h; what it sets up in a
// namespace and owns there is setup.h.
//
// It reacts to:
//   - the store's change feed: a router or network created, changed (host, router) or deleted
//     is served or unserved; an instance change refreshes the DHCP hosts of the networks its
//     ports are (or were) on; "flush all" is a full resync;
//   - namespaces appearing and disappearing under /run/netns (inotify; the directory may not
//     exist at start: `ip netns add` creates it): a namespace that does not exist is simply not
//     served yet, and one that goes takes its listener with it;
//   - a full resync every Settings::resync_interval, which catches anything missed (and puts
//     back rules or a dnsmasq someone removed).
// A failure in one namespace is logged once (and again only when it changes, and when it is
// served again), counted in metastack_managed_failures_total{kind}, and retried at the next
// resync; it never stops the others. metastack_managed_namespaces{kind,state} counts the
// targets by state: served, absent (no namespace yet), failed, conflict (a listener of the same
// name from the configuration or proxy-ctl).
//
// Removing (a router or network deleted, assigned to another host, or its namespace gone)
// closes the listener and undoes the rules and the DHCP address and dnsmasq (what the
// namespace still has). Stopping the manager leaves everything in the namespaces as it is, so a
// restart reinstalls over it without a gap for DHCP; the listeners close with the proxy.
//
// Threads: all blocking work (store calls, iptables, ip, dnsmasq, binds in namespaces) runs on
// the manager's own thread, never on the caller's. Start, Stop, SetSettings and State may be
// called from any thread (State and SetSettings do not block); the store, the proxy and the
// metrics must outlive it.

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "http/metrics.h"
#include "netns_manager/desired.h"
#include "proxy/proxy.h"
#include "store/store.h"

namespace metastack::netns_manager {

class NamespaceManager {
 public:
  NamespaceManager(store::Store& store, proxy::NsProxy& proxy, http::Metrics& metrics,
                   Settings settings);
  ~NamespaceManager();
  NamespaceManager(const NamespaceManager&) = delete;
  NamespaceManager& operator=(const NamespaceManager&) = delete;

  // Subscribes to the feed and starts the thread, which begins with a full resync.
  void Start();
  // Unsubscribes and joins the thread (after the step it is in); idempotent.
  void Stop();
  // Applied by the thread at its next step, with a full resync.
  void SetSettings(Settings settings);
  // {"host": ..., "namespaces": [{"kind", "id", "netns", "state", "error"?}, ...]} as of the
  // thread's last step.
  nlohmann::json State() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace metastack::netns_manager
