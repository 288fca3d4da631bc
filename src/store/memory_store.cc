#include "store/memory_store.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>

#include "store/common.h"

namespace metastack::store {
namespace {

using internal::Conflict;
using internal::NotFound;

class MemoryStore final : public Store {
 public:
  Result<InstanceRecord> CreateInstance(const core::Instance& instance) override {
    Change change;
    InstanceRecord rec;
    {
      std::lock_guard lock(mu_);
      if (instances_.count(instance.uuid)) return Conflict("instance " + instance.uuid + " exists");
      METASTACK_RETURN_IF_ERROR(CheckWrite(instance));
      rec = InstanceRecord{instance, ++revision_};
      instances_[instance.uuid] = rec;
      change = {rec.revision, Change::Kind::kInstance, instance.uuid, false};
    }
    hub_.Publish(change);
    return rec;
  }

  Result<InstanceRecord> GetInstance(std::string_view uuid) override {
    std::lock_guard lock(mu_);
    auto it = instances_.find(std::string(uuid));
    if (it == instances_.end()) return NotFound("instance", uuid);
    return it->second;
  }

  Result<Page<InstanceRecord>> ListInstances(const ListOptions& options) override {
    std::lock_guard lock(mu_);
    return ListFrom(instances_, options, [](const InstanceRecord& r) -> const std::string& {
      return r.instance.project_id;
    });
  }

  Result<InstanceRecord> ReplaceInstance(const core::Instance& instance,
                                         std::optional<int64_t> expected_revision) override {
    Change change;
    InstanceRecord rec;
    {
      std::lock_guard lock(mu_);
      auto it = instances_.find(instance.uuid);
      if (it == instances_.end()) return NotFound("instance", instance.uuid);
      if (expected_revision && *expected_revision != it->second.revision)
        return std::unexpected(
            StaleRevision(instance.uuid, it->second.revision, *expected_revision));
      METASTACK_RETURN_IF_ERROR(CheckWrite(instance));
      rec = InstanceRecord{instance, ++revision_};
      it->second = rec;
      change = {rec.revision, Change::Kind::kInstance, instance.uuid, false};
    }
    hub_.Publish(change);
    return rec;
  }

  Status DeleteInstance(std::string_view uuid) override {
    Change change;
    {
      std::lock_guard lock(mu_);
      auto it = instances_.find(std::string(uuid));
      if (it == instances_.end()) return NotFound("instance", uuid);
      instances_.erase(it);
      change = {++revision_, Change::Kind::kInstance, std::string(uuid), true};
    }
    hub_.Publish(change);
    return Ok();
  }

  Result<InstanceRecord> SetPassword(std::string_view uuid, std::string_view password) override {
    return EditInstance(
        uuid, [&](core::Instance& inst) { return internal::SetGuestPassword(inst, password); });
  }

  Result<InstanceRecord> ResetPassword(std::string_view uuid) override {
    return EditInstance(uuid, [](core::Instance& inst) -> Status {
      inst.password.reset();
      return Ok();
    });
  }

  Result<Network> CreateNetwork(const Network& network) override {
    METASTACK_RETURN_IF_ERROR(internal::CheckNetworkFields(network));
    Network n = network;
    {
      std::lock_guard lock(mu_);
      if (networks_.count(n.id)) return Conflict("network " + n.id + " exists");
      if (n.router_id && !routers_.count(*n.router_id))
        return std::unexpected(
            MakeError(ErrorCode::kInvalidArgument, "unknown router " + *n.router_id, "router_id"));
      n.revision = ++revision_;
      networks_[n.id] = n;
    }
    hub_.Publish({n.revision, Change::Kind::kNetwork, n.id, false});
    return n;
  }

  Result<Network> GetNetwork(std::string_view id) override {
    std::lock_guard lock(mu_);
    auto it = networks_.find(std::string(id));
    if (it == networks_.end()) return NotFound("network", id);
    return it->second;
  }

  Result<Page<Network>> ListNetworks(const ListOptions& options) override {
    std::lock_guard lock(mu_);
    return ListFrom(networks_, options,
                    [](const Network& n) -> const std::string& { return n.project_id; });
  }

  Status DeleteNetwork(std::string_view id) override {
    Change change;
    {
      std::lock_guard lock(mu_);
      if (!networks_.count(std::string(id))) return NotFound("network", id);
      for (const auto& [uuid, rec] : instances_)
        for (const auto& port : rec.instance.ports)
          if (port.network_id == id)
            return Conflict("network " + std::string(id) + " has port " + port.id +
                            " of instance " + uuid);
      networks_.erase(std::string(id));
      change = {++revision_, Change::Kind::kNetwork, std::string(id), true};
    }
    hub_.Publish(change);
    return Ok();
  }

  Result<Router> CreateRouter(const Router& router) override {
    METASTACK_RETURN_IF_ERROR(internal::CheckRouterFields(router));
    Router r = router;
    {
      std::lock_guard lock(mu_);
      if (routers_.count(r.id)) return Conflict("router " + r.id + " exists");
      r.revision = ++revision_;
      routers_[r.id] = r;
    }
    hub_.Publish({r.revision, Change::Kind::kRouter, r.id, false});
    return r;
  }

  Result<Router> GetRouter(std::string_view id) override {
    std::lock_guard lock(mu_);
    auto it = routers_.find(std::string(id));
    if (it == routers_.end()) return NotFound("router", id);
    return it->second;
  }

  Result<Page<Router>> ListRouters(const ListOptions& options) override {
    std::lock_guard lock(mu_);
    return ListFrom(routers_, options,
                    [](const Router& r) -> const std::string& { return r.project_id; });
  }

  Status DeleteRouter(std::string_view id) override {
    Change change;
    {
      std::lock_guard lock(mu_);
      if (!routers_.count(std::string(id))) return NotFound("router", id);
      for (const auto& [nid, net] : networks_)
        if (net.router_id == id)
          return Conflict("router " + std::string(id) + " has network " + nid + " attached");
      routers_.erase(std::string(id));
      change = {++revision_, Change::Kind::kRouter, std::string(id), true};
    }
    hub_.Publish(change);
    return Ok();
  }

  Result<Network> SetNetworkRouter(std::string_view network_id,
                                   std::string_view router_id) override {
    Network n;
    {
      std::lock_guard lock(mu_);
      auto it = networks_.find(std::string(network_id));
      if (it == networks_.end()) return NotFound("network", network_id);
      if (!router_id.empty() && !routers_.count(std::string(router_id)))
        return NotFound("router", router_id);
      if (router_id.empty()) {
        for (const auto& [uuid, rec] : instances_)
          for (const auto& port : rec.instance.ports)
            if (port.network_id == network_id && port.router_id)
              return Conflict("port " + port.id + " of instance " + uuid + " names router " +
                              *port.router_id);
        it->second.router_id.reset();
      } else {
        it->second.router_id = std::string(router_id);
      }
      it->second.revision = ++revision_;
      n = it->second;
    }
    hub_.Publish({n.revision, Change::Kind::kNetwork, n.id, false});
    return n;
  }

  Result<Router> SetRouterHost(std::string_view router_id, std::string_view host) override {
    return SetHost(routers_, Change::Kind::kRouter, "router", router_id, host);
  }

  Result<Network> SetNetworkHost(std::string_view network_id, std::string_view host) override {
    return SetHost(networks_, Change::Kind::kNetwork, "network", network_id, host);
  }

  Result<Network> SetNetworkHttpTokens(std::string_view network_id,
                                       std::optional<core::HttpTokens> policy) override {
    Network n;
    {
      std::lock_guard lock(mu_);
      auto it = networks_.find(std::string(network_id));
      if (it == networks_.end()) return NotFound("network", network_id);
      it->second.http_tokens = policy;
      it->second.revision = ++revision_;
      n = it->second;
    }
    hub_.Publish({n.revision, Change::Kind::kNetwork, n.id, false});
    return n;
  }

  Result<PortBinding> FindPortOnNetwork(std::string_view network_id, std::string_view ip) override {
    METASTACK_ASSIGN_OR_RETURN(auto query, internal::PortQueryFor(ip));
    std::lock_guard lock(mu_);
    auto found = Matching(query, [&](const PortBinding& b) { return b.network_id == network_id; });
    return internal::OnePort(std::move(found), query, "on network", network_id);
  }

  Result<PortBinding> FindPortOnRouter(std::string_view router_id, std::string_view ip) override {
    METASTACK_ASSIGN_OR_RETURN(auto query, internal::PortQueryFor(ip));
    std::lock_guard lock(mu_);
    if (!routers_.count(std::string(router_id))) return NotFound("router", router_id);
    auto found = Matching(query, [&](const PortBinding& b) {
      auto net = networks_.find(b.network_id);
      return net != networks_.end() && net->second.router_id == router_id;
    });
    return internal::OnePort(std::move(found), query, "behind router", router_id);
  }

  Result<Page<PortBinding>> ListPorts(std::string_view network_id,
                                      const ListOptions& options) override {
    auto [after_network, after_ip] = internal::SplitPortKey(options.after);
    auto after = std::tie(after_network, after_ip);
    std::vector<PortBinding> matches;
    {
      std::lock_guard lock(mu_);
      for (const auto& [_, rec] : instances_)
        for (auto& b : internal::Bindings(rec.instance))
          if ((network_id.empty() || b.network_id == network_id) &&
              (options.project_id.empty() || b.project_id == options.project_id) &&
              std::tie(b.network_id, b.ip_address) > after)
            matches.push_back(std::move(b));
    }
    std::sort(matches.begin(), matches.end(), [](const PortBinding& a, const PortBinding& b) {
      return std::tie(a.network_id, a.ip_address) < std::tie(b.network_id, b.ip_address);
    });
    Page<PortBinding> page;
    size_t limit = internal::PageLimit(options);
    if (matches.size() > limit) {
      matches.resize(limit);
      page.next = PortKey(matches.back());
    }
    page.items = std::move(matches);
    return page;
  }

  Result<int64_t> CurrentRevision() override {
    std::lock_guard lock(mu_);
    return revision_;
  }

  std::unique_ptr<Subscription> Subscribe(std::function<void(const Change&)> callback) override {
    return hub_.Subscribe(std::move(callback));
  }

 private:
  // Under mu_: every binding `query` names (its IP, or its MAC) that `in_scope` admits.
  std::vector<PortBinding> Matching(const internal::PortQuery& query,
                                    const std::function<bool(const PortBinding&)>& in_scope) {
    std::vector<PortBinding> found;
    for (const auto& [_, rec] : instances_)
      for (auto& b : internal::Bindings(rec.instance))
        if ((query.by_mac ? b.mac : b.ip_address) == query.value && in_scope(b))
          found.push_back(std::move(b));
    return found;
  }

  // Under mu_: the document's ports against networks and other instances' IPs.
  Status CheckWrite(const core::Instance& instance) {
    METASTACK_RETURN_IF_ERROR(internal::CheckPortsAgainstNetworks(
        instance, [&](const std::string& id) -> std::optional<Network> {
          auto it = networks_.find(id);
          if (it == networks_.end()) return std::nullopt;
          return it->second;
        }));
    for (const auto& mine : internal::Bindings(instance))
      for (const auto& [uuid, rec] : instances_) {
        if (uuid == instance.uuid) continue;
        for (const auto& other : internal::Bindings(rec.instance))
          if (other.network_id == mine.network_id && other.ip_address == mine.ip_address)
            return Conflict("IP " + mine.ip_address + " on network " + mine.network_id +
                            " belongs to instance " + uuid);
      }
    return Ok();
  }

  Result<InstanceRecord> EditInstance(std::string_view uuid,
                                      const std::function<Status(core::Instance&)>& edit) {
    InstanceRecord rec;
    {
      std::lock_guard lock(mu_);
      auto it = instances_.find(std::string(uuid));
      if (it == instances_.end()) return NotFound("instance", uuid);
      core::Instance inst = it->second.instance;
      METASTACK_RETURN_IF_ERROR(edit(inst));
      rec = InstanceRecord{std::move(inst), ++revision_};
      it->second = rec;
    }
    hub_.Publish({rec.revision, Change::Kind::kInstance, std::string(uuid), false});
    return rec;
  }

  template <typename T, typename ProjectOf>
  static Page<T> ListFrom(const std::map<std::string, T>& items, const ListOptions& options,
                          ProjectOf project_of) {
    Page<T> page;
    size_t limit = internal::PageLimit(options);
    for (auto it = items.upper_bound(options.after); it != items.end(); ++it) {
      if (!options.project_id.empty() && project_of(it->second) != options.project_id) continue;
      if (page.items.size() == limit) {
        page.next = KeyOf(page.items.back());
        break;
      }
      page.items.push_back(it->second);
    }
    return page;
  }
  static std::string KeyOf(const InstanceRecord& r) { return r.instance.uuid; }
  static std::string KeyOf(const Network& n) { return n.id; }
  static std::string KeyOf(const Router& r) { return r.id; }

  std::mutex mu_;
  int64_t revision_ = 0;
  std::map<std::string, InstanceRecord> instances_;
  // SetRouterHost and SetNetworkHost: the same write on either map.
  template <typename T>
  Result<T> SetHost(std::map<std::string, T>& items, Change::Kind kind, std::string_view what,
                    std::string_view id, std::string_view host) {
    METASTACK_RETURN_IF_ERROR(internal::CheckHost(host));
    T item;
    {
      std::lock_guard lock(mu_);
      auto it = items.find(std::string(id));
      if (it == items.end()) return NotFound(std::string(what), id);
      it->second.host = std::string(host);
      it->second.revision = ++revision_;
      item = it->second;
    }
    hub_.Publish({item.revision, kind, item.id, false});
    return item;
  }

  std::map<std::string, Network> networks_;
  std::map<std::string, Router> routers_;
  internal::ChangeHub hub_;
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore() { return std::make_unique<MemoryStore>(); }

}  // namespace metastack::store
