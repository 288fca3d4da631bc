#pragma once
// The Store: where instances, networks, routers, the port index and guest-set passwords live.
//
// One interface, three implementations that pass one contract suite (store_contract_test.cc):
// memory (tests, and a fake for the services' tests), SQLite (the default: one file, WAL) and
// PostgreSQL (many API and agent processes on many hosts share one database).
//
// Thread-safety: every method may be called from any thread concurrently. Every method blocks
// (disk or network I/O): never call one on an io_context thread; services run them on a worker
// pool or answer from a cache the change feed keeps fresh.
//
// Writes are transactions: a write that returns an error changed nothing. Every committed write
// takes the next value of one store-wide revision counter and is announced to subscribers
// (Subscribe) after it commits, in every process sharing the store: in-process for memory, a
// feed table polled by each process for SQLite (within 50 ms, sqlite_store.h), LISTEN/NOTIFY for
// PostgreSQL. A subscriber hears revisions in increasing order; what a feed cannot tell (missed
// notifications, pruned feed rows) it announces as "flush all" (see Change).
//
// Errors: kNotFound (no such id), kConflict (duplicate id, duplicate IP on a network, an
// ambiguous lookup, a password already set), kAborted (a stale revision: StaleRevision),
// kInvalidArgument (a document that refers to an unknown network or router, bad input),
// kUnavailable (the database cannot be reached), kInternal (anything else). Library codes never
// leave store/.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "core/instance.h"

namespace metastack::store {

struct InstanceRecord {
  core::Instance instance;
  int64_t revision = 0;  // the store revision of the instance's last change
};

struct Network {
  std::string id;
  std::string name;
  std::string project_id;
  std::optional<std::string> router_id;  // the router this network is attached to, if any
  int64_t revision = 0;                  // set by the store
  // The host whose daemon serves the network's DHCP namespace (daemon `[general] host`); empty:
  // unassigned (every managing daemon that has the namespace serves it).
  std::string host;
  // IMDSv2 sessions: `required` makes tokens required for every instance with a port here that
  // does not set its own policy (api/sessions.h); nullopt and `optional` leave the daemon's
  // default. Stored as NULL, 'optional' or 'required'.
  std::optional<core::HttpTokens> http_tokens;
};

struct Router {
  std::string id;
  std::string name;
  std::string project_id;
  int64_t revision = 0;  // set by the store
  // The host whose daemon serves the router's namespace; empty: unassigned (as Network::host).
  std::string host;
};

// One fixed IP of one port: what the metadata agent needs to name the instance behind a guest.
struct PortBinding {
  std::string port_id;
  std::string mac;  // lowercase
  std::string network_id;
  std::string ip_address;  // canonical text
  std::string instance_id;
  std::string project_id;
};

struct ListOptions {
  size_t limit = 100;      // at most 1000
  std::string after;       // return ids strictly greater than this (the previous page's next)
  std::string project_id;  // filter; empty = all
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next;  // pass as ListOptions::after for the next page; empty on the last page
};

// One committed write. An empty id (with kind kInstance) means "flush all": the feed may have
// missed changes (the PostgreSQL listener reconnected); drop every cached item and reload.
struct Change {
  enum class Kind { kInstance, kNetwork, kRouter };
  int64_t revision = 0;
  Kind kind = Kind::kInstance;
  std::string id;
  bool deleted = false;
};

// Unsubscribes when destroyed. The callback runs on a store-owned or the writer's thread, after
// the commit; it must be quick and must not call back into the Store.
class Subscription {
 public:
  virtual ~Subscription() = default;
};

class Store {
 public:
  virtual ~Store() = default;

  // --- instances ---------------------------------------------------------------------------
  // kConflict when the uuid exists or one of its fixed IPs is taken on that network;
  // kInvalidArgument ("ports[0].network_id: unknown network N") when a port names a network
  // that does not exist, or a router_id that is not the network's router.
  virtual Result<InstanceRecord> CreateInstance(const core::Instance& instance) = 0;
  virtual Result<InstanceRecord> GetInstance(std::string_view uuid) = 0;
  virtual Result<Page<InstanceRecord>> ListInstances(const ListOptions& options) = 0;
  // Replaces the whole document. With `expected_revision`, kAborted (StaleRevision) unless it is
  // the current revision (optimistic concurrency: read, edit, replace, retry on kAborted).
  virtual Result<InstanceRecord> ReplaceInstance(const core::Instance& instance,
                                                 std::optional<int64_t> expected_revision) = 0;
  virtual Status DeleteInstance(std::string_view uuid) = 0;

  // --- guest-set passwords (POST /openstack/<v>/password) -----------------------------------
  // Write-once: kConflict when a password is already set. At most 1020 bytes
  // (kInvalidArgument beyond).
  virtual Result<InstanceRecord> SetPassword(std::string_view uuid, std::string_view password) = 0;
  // The operator's reset: clears it so the guest may post a new one.
  virtual Result<InstanceRecord> ResetPassword(std::string_view uuid) = 0;

  // --- networks and routers -----------------------------------------------------------------
  virtual Result<Network> CreateNetwork(const Network& network) = 0;  // kConflict on dup id
  virtual Result<Network> GetNetwork(std::string_view id) = 0;
  virtual Result<Page<Network>> ListNetworks(const ListOptions& options) = 0;
  // kConflict while any instance has a port on it.
  virtual Status DeleteNetwork(std::string_view id) = 0;

  virtual Result<Router> CreateRouter(const Router& router) = 0;  // kConflict on dup id
  virtual Result<Router> GetRouter(std::string_view id) = 0;
  virtual Result<Page<Router>> ListRouters(const ListOptions& options) = 0;
  // kConflict while a network is attached to it.
  virtual Status DeleteRouter(std::string_view id) = 0;
  // Attaches a network to a router (a network has at most one router); an empty router_id
  // detaches it. kNotFound for an unknown network or router.
  virtual Result<Network> SetNetworkRouter(std::string_view network_id,
                                           std::string_view router_id) = 0;
  // Assigns the router or network to a host; an empty host unassigns it. kNotFound for an
  // unknown id; kInvalidArgument (field "host") for a host over 255 bytes or with spaces or
  // control characters. Announced as a change of the router or network.
  virtual Result<Router> SetRouterHost(std::string_view router_id, std::string_view host) = 0;
  virtual Result<Network> SetNetworkHost(std::string_view network_id, std::string_view host) = 0;
  // Sets (or with nullopt unsets) the network's session policy. kNotFound for an unknown id.
  // Announced as a change of the network.
  virtual Result<Network> SetNetworkHttpTokens(std::string_view network_id,
                                               std::optional<core::HttpTokens> policy) = 0;

  // --- the port index (the metadata agent's lookups) -------------------------------------------
  // `ip` in any valid text form (IPv4-mapped IPv6 is looked up as IPv4; kInvalidArgument for
  // anything else). A link-local IPv6 address (fe80::/10) is no fixed IP: as Neutron's metadata
  // agent, the port is the one whose MAC the address's interface id names
  // (core::LinkLocalMac: fe80::f816:3eff:fe00:407 -> fa:16:3e:00:04:07), among the ports with
  // fixed IPs, MACs compared case-insensitively (the index keeps them lowercase). The several
  // fixed IPs of one port are one port; the binding returned is its first in (network, ip)
  // order. kNotFound when no port matches; kConflict when more than one does (by MAC only:
  // an IP is unique on a network).
  virtual Result<PortBinding> FindPortOnNetwork(std::string_view network_id,
                                                std::string_view ip) = 0;
  // The same among the networks attached to the router. kNotFound for an unknown router or no
  // match; kConflict when more than one port matches (the agent answers 404 then, as Neutron).
  virtual Result<PortBinding> FindPortOnRouter(std::string_view router_id, std::string_view ip) = 0;
  // Every fixed IP of every port, optionally of one network (non-empty `network_id`) and of one
  // project (options.project_id), ordered by (network, ip), one page at a time. A port's key
  // is "NETWORK IP" (PortKey): Page::next is the last key of a page, and options.after returns
  // the bindings whose (network, ip) is greater than the key's. Ids hold no spaces, so
  // the keys sort bytewise as the pairs do.
  virtual Result<Page<PortBinding>> ListPorts(std::string_view network_id,
                                              const ListOptions& options) = 0;

  // --- change feed --------------------------------------------------------------------------
  // The newest committed revision.
  virtual Result<int64_t> CurrentRevision() = 0;
  virtual std::unique_ptr<Subscription> Subscribe(std::function<void(const Change&)> callback) = 0;
};

// A port binding's paging key: "NETWORK IP".
std::string PortKey(const PortBinding& binding);

// The write-once rule of guest passwords: kConflict when `instance` already has one (an empty
// password counts as none). Stores apply it inside the write; a service may ask first to
// spare the store a write that must fail.
Status PasswordWritable(const core::Instance& instance);

// The store every command and daemon uses when none is named (--store, METASTACK_STORE, the
// configuration file's `store`).
inline constexpr std::string_view kDefaultStoreUrl = "sqlite:/var/lib/metastack/metastack.db";

// Opens a store from its URL: "memory:", "sqlite:PATH" (the file created if missing, schema
// migrated) or "postgresql://..." (libpq connection URI; schema migrated). A database whose
// schema is newer than this binary knows is an error naming both versions. The default store's
// directory (/var/lib/metastack) is created (mode 0700) when missing; any other SQLite path
// whose directory is missing is kNotFound naming that directory, and nothing is created.
// A PostgreSQL store's errors name it by its URL, and no error carries the URL's password
// (store_url.h): "<URL, password as ***>: postgresql: cannot connect: <libpq's reason>".
// libpq's own parameters pass through the URL as given (sslmode, sslrootcert, sslcert, sslkey,
// application_name, ...) to every connection of the store, its change feed's included.
Result<std::unique_ptr<Store>> OpenStore(const std::string& url);

// The error for a write made against a stale revision: kAborted, with a message that names the
// instance, its current revision and the one expected. Every implementation's ReplaceInstance
// returns it, and so does anything above that checks a revision it was given; callers test the
// code, never the text.
Error StaleRevision(std::string_view uuid, int64_t current, int64_t expected);

}  // namespace metastack::store
