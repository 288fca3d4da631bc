#include "store/common.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "core/ip.h"
#include "core/ownership.h"

namespace metastack::store {

Error StaleRevision(std::string_view uuid, int64_t current, int64_t expected) {
  return MakeError(ErrorCode::kAborted, "instance " + std::string(uuid) + " changed (revision " +
                                            std::to_string(current) + ", expected " +
                                            std::to_string(expected) + ")");
}

}  // namespace metastack::store

namespace metastack::store::internal {

std::unexpected<Error> NotFound(std::string what, std::string_view id) {
  return std::unexpected(MakeError(ErrorCode::kNotFound, "no " + what + " " + std::string(id)));
}

std::unexpected<Error> Conflict(std::string message) {
  return std::unexpected(MakeError(ErrorCode::kConflict, std::move(message)));
}

std::string PortQuery::Describe() const { return (by_mac ? "MAC " : "IP ") + value; }

Result<PortQuery> PortQueryFor(std::string_view ip) {
  auto parsed = core::ParseIp(ip);
  if (!parsed)
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "not an IP address: " + std::string(ip)));
  if (auto mac = core::LinkLocalMac(*parsed)) return PortQuery{true, std::move(*mac)};
  return PortQuery{false, parsed->Unmapped().ToString()};
}

Result<PortBinding> OnePort(std::vector<PortBinding> matched, const PortQuery& query,
                            std::string_view where, std::string_view id) {
  if (matched.empty())
    return NotFound("port with " + query.Describe() + " " + std::string(where), id);
  std::set<std::pair<std::string, std::string>> ports;
  for (const auto& b : matched) ports.emplace(b.instance_id, b.port_id);
  if (ports.size() > 1)
    return Conflict(std::to_string(ports.size()) + " ports have " + query.Describe() + " " +
                    std::string(where) + " " + std::string(id));
  return *std::min_element(matched.begin(), matched.end(), [](const auto& a, const auto& b) {
    return std::tie(a.network_id, a.ip_address) < std::tie(b.network_id, b.ip_address);
  });
}

std::vector<PortBinding> Bindings(const core::Instance& instance) {
  std::vector<PortBinding> out;
  for (const auto& port : instance.ports)
    for (const auto& subnet : port.subnets) {
      if (!subnet.ip_address) continue;
      out.push_back(PortBinding{port.id, core::CanonicalMac(port.mac), port.network_id,
                                core::ParseIp(*subnet.ip_address)->Unmapped().ToString(),
                                instance.uuid, instance.project_id});
    }
  return out;
}

Status CheckPortsAgainstNetworks(
    const core::Instance& instance,
    const std::function<std::optional<Network>(const std::string&)>& network) {
  for (size_t i = 0; i < instance.ports.size(); ++i) {
    const auto& port = instance.ports[i];
    std::string where = "ports[" + std::to_string(i) + "]";
    auto net = network(port.network_id);
    if (!net)
      return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                       "unknown network " + port.network_id,
                                       where + ".network_id"));
    if (port.router_id && net->router_id != port.router_id) {
      std::string actual =
          net->router_id ? "attached to router " + *net->router_id : "not attached to a router";
      return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                       "network " + port.network_id + " is " + actual,
                                       where + ".router_id"));
    }
  }
  // The same IP twice on one network within this document.
  auto bindings = Bindings(instance);
  for (size_t a = 0; a < bindings.size(); ++a)
    for (size_t b = a + 1; b < bindings.size(); ++b)
      if (bindings[a].network_id == bindings[b].network_id &&
          bindings[a].ip_address == bindings[b].ip_address)
        return Conflict("IP " + bindings[a].ip_address + " is used twice on network " +
                        bindings[a].network_id);
  return Ok();
}

size_t PageLimit(const ListOptions& options) {
  if (options.limit == 0) return 1;
  return options.limit > 1000 ? 1000 : options.limit;
}

namespace {
Status CheckId(std::string_view field, std::string_view id) {
  if (id.empty())
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "is required", std::string(field)));
  if (id.size() > 255)
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "longer than 255 bytes", std::string(field)));
  for (char c : id)
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f)
      return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                       "contains spaces or control characters",
                                       std::string(field)));
  return Ok();
}
}  // namespace

Status CheckHost(std::string_view host) { return host.empty() ? Ok() : CheckId("host", host); }

Status CheckNetworkFields(const Network& network) {
  METASTACK_RETURN_IF_ERROR(CheckId("id", network.id));
  if (network.router_id) METASTACK_RETURN_IF_ERROR(CheckId("router_id", *network.router_id));
  return CheckHost(network.host);
}

Status CheckRouterFields(const Router& router) {
  METASTACK_RETURN_IF_ERROR(CheckId("id", router.id));
  return CheckHost(router.host);
}

Status SetGuestPassword(core::Instance& instance, std::string_view password) {
  if (password.size() > core::DocumentLimits::kMaxPasswordBytes)
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "longer than 1020 bytes", "password"));
  METASTACK_RETURN_IF_ERROR(PasswordWritable(instance));
  instance.password = std::string(password);
  return Ok();
}

std::pair<std::string, std::string> SplitPortKey(std::string_view key) {
  size_t space = key.find(' ');
  if (space == std::string_view::npos) return {std::string(key), ""};
  return {std::string(key.substr(0, space)), std::string(key.substr(space + 1))};
}

std::string_view KindName(Change::Kind kind) {
  switch (kind) {
    case Change::Kind::kInstance:
      return "instance";
    case Change::Kind::kNetwork:
      return "network";
    case Change::Kind::kRouter:
      return "router";
  }
  return "instance";
}

std::optional<Change::Kind> KindFromName(std::string_view name) {
  if (name == "instance") return Change::Kind::kInstance;
  if (name == "network") return Change::Kind::kNetwork;
  if (name == "router") return Change::Kind::kRouter;
  return std::nullopt;
}

namespace {
class HubSubscription : public Subscription {
 public:
  HubSubscription(std::weak_ptr<void> state, std::function<void()> cancel)
      : state_(std::move(state)), cancel_(std::move(cancel)) {}
  ~HubSubscription() override {
    if (state_.lock()) cancel_();
  }

 private:
  std::weak_ptr<void> state_;
  std::function<void()> cancel_;
};
}  // namespace

std::unique_ptr<Subscription> ChangeHub::Subscribe(std::function<void(const Change&)> callback) {
  std::lock_guard lock(state_->mu);
  uint64_t id = state_->next++;
  state_->callbacks.emplace(id, std::move(callback));
  std::weak_ptr<State> weak = state_;
  return std::make_unique<HubSubscription>(state_, [weak, id] {
    if (auto s = weak.lock()) {
      std::lock_guard lock(s->mu);
      s->callbacks.erase(id);
    }
  });
}

void ChangeHub::Publish(const Change& change) {
  std::lock_guard lock(state_->mu);
  for (auto& [_, cb] : state_->callbacks) cb(change);
}

}  // namespace metastack::store::internal

namespace metastack::store {

std::string PortKey(const PortBinding& binding) {
  return binding.network_id + " " + binding.ip_address;
}

Status PasswordWritable(const core::Instance& instance) {
  if (instance.password && !instance.password->empty())
    return internal::Conflict("instance " + instance.uuid + " already has a password");
  return Ok();
}

}  // namespace metastack::store
