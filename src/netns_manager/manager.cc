#include "netns_manager/manager.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "base/failure_log.h"
#include "base/log.h"
#include "net/netns.h"
#include "netns_manager/setup.h"

namespace metastack::netns_manager {
namespace {

constexpr char kLogName[] = "managed";
constexpr char kNamespacesGauge[] = "metastack_managed_namespaces";
constexpr char kFailuresCounter[] = "metastack_managed_failures_total";
constexpr char kResyncsCounter[] = "metastack_managed_resyncs_total";
using Clock = std::chrono::steady_clock;

// `ip netns add` creates /run/netns/NAME, then binds the namespace onto it: a name seen before
// its bind is looked at again every kPendingRetry, for up to kPendingFor (then at the resync).
constexpr auto kPendingRetry = std::chrono::milliseconds(50);
constexpr auto kPendingFor = std::chrono::seconds(5);
// A store that cannot be listed is tried again after this (or the resync interval if shorter).
constexpr auto kStoreRetry = std::chrono::seconds(5);
// More queued changes than this become one full resync.
constexpr size_t kMaxQueuedChanges = 10'000;

enum class Served { kServed, kAbsent, kFailed, kConflict };
constexpr Served kAllStates[] = {Served::kServed, Served::kAbsent, Served::kFailed,
                                 Served::kConflict};

std::string_view ServedName(Served s) {
  switch (s) {
    case Served::kServed:
      return "served";
    case Served::kAbsent:
      return "absent";
    case Served::kFailed:
      return "failed";
    case Served::kConflict:
      return "conflict";
  }
  return "failed";
}

using Key = std::pair<Kind, std::string>;

struct Entry {
  explicit Entry(Target t) : target(std::move(t)) {}
  Target target;
  bool desired = true;  // false: no longer wanted, its teardown failed and is retried
  Served state = Served::kAbsent;
  std::string error;  // the failure last logged; empty while none
  Applied applied;
};

std::string Describe(const Target& t) {
  return std::string(KindName(t.kind)) + " " + t.id +
         (t.netns.empty() ? "" : " (netns " + t.netns + ")");
}

// Every item of a paged list.
template <typename T, typename List>
Result<std::vector<T>> ListAll(List list) {
  std::vector<T> out;
  store::ListOptions options;
  options.limit = 1000;
  for (;;) {
    METASTACK_ASSIGN_OR_RETURN(store::Page<T> page, list(options));
    for (auto& item : page.items) out.push_back(std::move(item));
    if (page.next.empty()) return out;
    options.after = page.next;
  }
}

}  // namespace

struct NamespaceManager::Impl {
  Impl(store::Store& s, proxy::NsProxy& p, http::Metrics& m, Settings initial)
      : store(s), proxy(p), metrics(m), setup(s, p), settings(std::move(initial)) {}

  store::Store& store;
  proxy::NsProxy& proxy;
  http::Metrics& metrics;
  TargetSetup setup;

  // Shared with the other threads, under mu.
  mutable std::mutex mu;
  std::vector<store::Change> changes;
  bool flush = false;
  std::optional<Settings> next_settings;
  bool stop = false;
  nlohmann::json snapshot = nlohmann::json::object();
  int wake_fd = -1;
  std::unique_ptr<store::Subscription> subscription;
  std::thread thread;

  // The manager thread's own.
  Settings settings;
  std::map<Key, Entry> entries;
  int inotify_fd = -1, netns_wd = -1, parent_wd = -1;
  std::map<std::string, Clock::time_point> pending;  // namespace -> when to stop looking
  Clock::time_point next_resync{};
  FailureLog store_log{kLogName, "store"};

  void Wake() {
    uint64_t one = 1;
    (void)!::write(wake_fd, &one, sizeof one);
  }

  void Run();
  bool Watch();
  std::set<std::string> ReadInotify(bool& rescan);
  void FullResync();
  void OnChange(const store::Change& change);
  void OnNamespace(const std::string& name);
  void Ensure(const Key& key, const Target& target, bool verify);
  void Retire(const Key& key, const Settings& with);
  void Fail(Entry& e, const Error& error);
  void Succeed(Entry& e);
  void Publish();
};

NamespaceManager::NamespaceManager(store::Store& store, proxy::NsProxy& proxy,
                                   http::Metrics& metrics, Settings settings)
    : impl_(std::make_unique<Impl>(store, proxy, metrics, std::move(settings))) {
  metrics.Describe(kNamespacesGauge, "gauge",
                   "Routers and networks this host serves in their namespaces, by kind and state "
                   "(served; absent: no namespace yet; failed; conflict: a listener of the same "
                   "name from the configuration or proxy-ctl)");
  metrics.Describe(kFailuresCounter, "counter",
                   "Failed attempts to serve or unserve a namespace, by kind (each retried at the "
                   "next resync)");
  metrics.Describe(kResyncsCounter, "counter", "Full resyncs of the namespaces with the store");
  impl_->Publish();
}

NamespaceManager::~NamespaceManager() {
  Stop();
  if (impl_->wake_fd >= 0) ::close(impl_->wake_fd);
}

void NamespaceManager::Start() {
  Impl& m = *impl_;
  if (m.thread.joinable()) return;
  m.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m.wake_fd < 0) throw std::runtime_error(std::string("eventfd: ") + ::strerror(errno));
  m.subscription = m.store.Subscribe([&m](const store::Change& c) {
    {
      std::lock_guard lock(m.mu);
      if (c.id.empty() || m.changes.size() >= kMaxQueuedChanges) {
        m.flush = true;
        m.changes.clear();
      } else {
        m.changes.push_back(c);
      }
    }
    m.Wake();
  });
  m.thread = std::thread([&m] { m.Run(); });
}

void NamespaceManager::Stop() {
  Impl& m = *impl_;
  m.subscription.reset();
  if (!m.thread.joinable()) return;
  {
    std::lock_guard lock(m.mu);
    m.stop = true;
  }
  m.Wake();
  m.thread.join();
}

void NamespaceManager::SetSettings(Settings settings) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->next_settings = std::move(settings);
  }
  if (impl_->wake_fd >= 0) impl_->Wake();
}

nlohmann::json NamespaceManager::State() const {
  std::lock_guard lock(impl_->mu);
  return impl_->snapshot;
}

void NamespaceManager::Impl::Run() {
  inotify_fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0)
    LogWarning(kLogName, std::string("inotify: ") + ::strerror(errno) +
                             "; namespaces are noticed at each resync only");
  Watch();
  FullResync();
  Publish();
  for (;;) {
    auto now = Clock::now();
    auto wake_at = next_resync;
    if (!pending.empty()) wake_at = std::min(wake_at, now + kPendingRetry);
    int timeout = static_cast<int>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(wake_at - now).count() + 1));
    pollfd fds[2] = {{wake_fd, POLLIN, 0}, {inotify_fd, POLLIN, 0}};
    ::poll(fds, inotify_fd >= 0 ? 2 : 1, timeout);
    uint64_t drained;
    while (::read(wake_fd, &drained, sizeof drained) > 0) {
    }

    bool rescan = false;
    std::set<std::string> names = ReadInotify(rescan);
    std::vector<store::Change> todo;
    std::optional<Settings> next;
    bool full = false;
    {
      std::lock_guard lock(mu);
      if (stop) break;
      todo.swap(changes);
      full = flush;
      flush = false;
      next.swap(next_settings);
    }
    if (next && !(*next == settings)) {
      // Records under the old DHCP state directory are undone from there.
      if (next->dhcp_state_dir != settings.dhcp_state_dir) {
        std::vector<Key> networks;
        for (const auto& [key, e] : entries)
          if (key.first == Kind::kNetwork) networks.push_back(key);
        for (const auto& key : networks) Retire(key, settings);
      }
      settings = std::move(*next);
      full = true;
      LogInfo(kLogName, "settings changed: resyncing");
    }
    if (full || Clock::now() >= next_resync) {
      FullResync();
    } else {
      for (const auto& c : todo) OnChange(c);
      if (rescan)
        for (const auto& [_, e] : entries) names.insert(e.target.netns);
      now = Clock::now();
      for (auto it = pending.begin(); it != pending.end();) {
        names.insert(it->first);
        it = it->second < now ? pending.erase(it) : std::next(it);
      }
      for (const auto& name : names) OnNamespace(name);
    }
    Publish();
  }
  if (inotify_fd >= 0) ::close(inotify_fd);
  inotify_fd = netns_wd = parent_wd = -1;
}

// Watches /run/netns, or /run until /run/netns appears; true when a watch on /run/netns was
// just established (whatever happened in it before is unknown: look at every namespace).
bool NamespaceManager::Impl::Watch() {
  if (inotify_fd < 0 || netns_wd >= 0) return false;
  constexpr uint32_t kNetnsEvents =
      IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_ONLYDIR;
  const std::string dir(net::kNetnsDir);
  for (int attempt = 0; attempt < 2; ++attempt) {
    netns_wd = ::inotify_add_watch(inotify_fd, dir.c_str(), kNetnsEvents);
    if (netns_wd >= 0) {
      if (parent_wd >= 0) ::inotify_rm_watch(inotify_fd, parent_wd);
      parent_wd = -1;
      return true;
    }
    // Not there yet: watch its parent for it, then try once more (it may have just appeared).
    if (parent_wd < 0) {
      const std::string parent = dir.substr(0, dir.rfind('/'));
      parent_wd = ::inotify_add_watch(inotify_fd, parent.c_str(), IN_CREATE | IN_MOVED_TO);
    }
  }
  return false;
}

std::set<std::string> NamespaceManager::Impl::ReadInotify(bool& rescan) {
  std::set<std::string> names;
  if (inotify_fd < 0) return names;
  alignas(inotify_event) char buf[8192];
  const std::string leaf(net::kNetnsDir.substr(net::kNetnsDir.rfind('/') + 1));
  for (;;) {
    ssize_t n = ::read(inotify_fd, buf, sizeof buf);
    if (n <= 0) break;
    for (char* p = buf; p < buf + n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      const std::string name = ev->len ? std::string(ev->name) : "";
      if (ev->mask & IN_Q_OVERFLOW) rescan = true;
      if (ev->wd == netns_wd && netns_wd >= 0) {
        if (ev->mask & (IN_DELETE_SELF | IN_IGNORED)) {
          netns_wd = -1;
          rescan = true;
        } else if (!name.empty()) {
          names.insert(name);
        }
      } else if (ev->wd == parent_wd && name == leaf) {
        rescan = true;
      }
    }
  }
  if (netns_wd < 0 && Watch()) rescan = true;
  return names;
}

void NamespaceManager::Impl::FullResync() {
  metrics.Add(kResyncsCounter, "");
  const auto now = Clock::now();
  auto routers =
      ListAll<store::Router>([&](const store::ListOptions& o) { return store.ListRouters(o); });
  auto networks =
      ListAll<store::Network>([&](const store::ListOptions& o) { return store.ListNetworks(o); });
  if (!routers || !networks) {
    store_log.Failure((routers ? networks.error() : routers.error()).ToString());
    next_resync = now + std::min<Clock::duration>(settings.resync_interval, kStoreRetry);
    return;
  }
  store_log.Success();
  std::map<Key, Target> want;
  for (const auto& r : *routers)
    if (auto t = RouterTarget(r, settings)) want[{Kind::kRouter, r.id}] = *t;
  for (const auto& n : *networks)
    if (auto t = NetworkTarget(n, settings)) want[{Kind::kNetwork, n.id}] = *t;
  std::vector<Key> gone;
  for (const auto& [key, e] : entries)
    if (!want.count(key)) gone.push_back(key);
  for (const auto& key : gone) Retire(key, settings);
  for (const auto& [key, target] : want) Ensure(key, target, /*verify=*/true);
  next_resync = Clock::now() + settings.resync_interval;
}

void NamespaceManager::Impl::OnChange(const store::Change& change) {
  using store::Change;
  if (change.kind == Change::Kind::kInstance) {
    if (settings.dhcp_server != DhcpServer::kDnsmasq) return;
    // The networks whose hosts had the instance, and those its document names now.
    std::set<std::string> networks;
    for (const auto& [key, e] : entries)
      if (key.first == Kind::kNetwork && e.applied.instances.count(change.id))
        networks.insert(key.second);
    if (!change.deleted) {
      if (auto record = store.GetInstance(change.id))
        for (const auto& port : record->instance.ports) networks.insert(port.network_id);
    }
    for (const auto& id : networks) {
      auto it = entries.find({Kind::kNetwork, id});
      if (it != entries.end() && it->second.desired) Ensure(it->first, it->second.target, false);
    }
    return;
  }
  const Kind kind = change.kind == Change::Kind::kRouter ? Kind::kRouter : Kind::kNetwork;
  const Key key{kind, change.id};
  std::optional<Target> target;
  if (!change.deleted) {
    Result<std::optional<Target>> found = [&]() -> Result<std::optional<Target>> {
      if (kind == Kind::kRouter) {
        auto r = store.GetRouter(change.id);
        if (!r) return std::unexpected(r.error());
        return RouterTarget(*r, settings);
      }
      auto n = store.GetNetwork(change.id);
      if (!n) return std::unexpected(n.error());
      return NetworkTarget(*n, settings);
    }();
    if (!found && found.error().code != ErrorCode::kNotFound) {
      store_log.Failure(found.error().ToString());  // the resync will see it
      return;
    }
    store_log.Success();
    if (found) target = *found;
  }
  if (target)
    Ensure(key, *target, false);
  else if (entries.count(key))
    Retire(key, settings);
}

void NamespaceManager::Impl::OnNamespace(const std::string& name) {
  std::vector<Key> keys;
  for (const auto& [key, e] : entries)
    if (e.target.netns == name) keys.push_back(key);
  for (const auto& key : keys) {
    Entry& e = entries.at(key);
    if (e.desired)
      Ensure(key, e.target, false);
    else
      Retire(key, settings);
  }
}

void NamespaceManager::Impl::Ensure(const Key& key, const Target& target, bool verify) {
  auto [it, added] = entries.try_emplace(key, target);
  Entry& e = it->second;
  if (!added && !(e.target == target)) {
    // Its namespace is named differently now: undo the old one first.
    if (auto undone = setup.Unserve(e.target, settings, e.applied); !undone) {
      Fail(e, undone.error());
      return;
    }
    e = Entry(target);
  }
  e.desired = true;
  if (target.netns.empty()) {
    Fail(e, MakeError(ErrorCode::kInvalidArgument, target.problem));
    return;
  }
  switch (StateOfNamespace(target.netns)) {
    case NamespaceState::kPending:
      if (!pending.count(target.netns)) pending[target.netns] = Clock::now() + kPendingFor;
      [[fallthrough]];
    case NamespaceState::kAbsent:
      if (!e.applied.Empty()) {
        // The namespace went: its listener (which holds the namespace alive) and the DHCP
        // record go with it.
        if (auto undone = setup.Unserve(target, settings, e.applied); !undone) {
          Fail(e, undone.error());
          return;
        }
        LogInfo(kLogName, Describe(target) + ": namespace gone; stopped serving it");
      }
      e.state = Served::kAbsent;
      e.error.clear();
      return;
    case NamespaceState::kReady:
      pending.erase(target.netns);
      break;
  }
  if (auto served = setup.Serve(target, settings, e.applied, verify); !served)
    Fail(e, served.error());
  else
    Succeed(e);
}

void NamespaceManager::Impl::Retire(const Key& key, const Settings& with) {
  auto it = entries.find(key);
  if (it == entries.end()) return;
  Entry& e = it->second;
  e.desired = false;
  const bool was_served = !e.applied.Empty();
  if (auto undone = setup.Unserve(e.target, with, e.applied); !undone) {
    Fail(e, undone.error());
    return;
  }
  if (was_served) LogInfo(kLogName, Describe(e.target) + ": no longer this host's; undone");
  entries.erase(it);
}

void NamespaceManager::Impl::Fail(Entry& e, const Error& error) {
  metrics.Add(kFailuresCounter, http::Labels({{"kind", KindName(e.target.kind)}}));
  e.state = error.code == ErrorCode::kConflict ? Served::kConflict : Served::kFailed;
  std::string text = error.ToString();
  if (text == e.error) return;  // logged already; retried at each resync
  LogError(kLogName, Describe(e.target) + ": " + text);
  e.error = std::move(text);
}

void NamespaceManager::Impl::Succeed(Entry& e) {
  if (e.state != Served::kServed)
    LogInfo(kLogName, "serving " + Describe(e.target) + (e.error.empty() ? "" : " again"));
  e.state = Served::kServed;
  e.error.clear();
}

void NamespaceManager::Impl::Publish() {
  std::map<std::pair<Kind, Served>, int> counts;
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [key, e] : entries) {
    if (!e.desired) continue;
    ++counts[{key.first, e.state}];
    nlohmann::json j = {{"kind", KindName(key.first)},
                        {"id", key.second},
                        {"netns", e.target.netns},
                        {"state", ServedName(e.state)}};
    if (!e.error.empty()) j["error"] = e.error;
    list.push_back(std::move(j));
  }
  for (Kind kind : {Kind::kRouter, Kind::kNetwork})
    for (Served state : kAllStates)
      metrics.SetGauge(kNamespacesGauge,
                       http::Labels({{"kind", KindName(kind)}, {"state", ServedName(state)}}),
                       counts[{kind, state}]);
  std::lock_guard lock(mu);
  snapshot = {{"host", settings.host}, {"namespaces", std::move(list)}};
}

}  // namespace metastack::netns_manager
