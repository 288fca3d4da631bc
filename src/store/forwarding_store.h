#pragma once
// A Store that passes every call to another one, for tests: derive from it and override the one
// method whose timing or outcome a test must control (a rival writer before a replace, a load
// held until the test has published a change). `inner` must outlive it; thread-safety and
// blocking are the inner store's.

#include "store/store.h"

namespace metastack::store {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(Store& inner) : inner_(inner) {}

  Result<InstanceRecord> CreateInstance(const core::Instance& instance) override {
    return inner_.CreateInstance(instance);
  }
  Result<InstanceRecord> GetInstance(std::string_view uuid) override {
    return inner_.GetInstance(uuid);
  }
  Result<Page<InstanceRecord>> ListInstances(const ListOptions& options) override {
    return inner_.ListInstances(options);
  }
  Result<InstanceRecord> ReplaceInstance(const core::Instance& instance,
                                         std::optional<int64_t> expected_revision) override {
    return inner_.ReplaceInstance(instance, expected_revision);
  }
  Status DeleteInstance(std::string_view uuid) override { return inner_.DeleteInstance(uuid); }
  Result<InstanceRecord> SetPassword(std::string_view uuid, std::string_view password) override {
    return inner_.SetPassword(uuid, password);
  }
  Result<InstanceRecord> ResetPassword(std::string_view uuid) override {
    return inner_.ResetPassword(uuid);
  }
  Result<Network> CreateNetwork(const Network& network) override {
    return inner_.CreateNetwork(network);
  }
  Result<Network> GetNetwork(std::string_view id) override { return inner_.GetNetwork(id); }
  Result<Page<Network>> ListNetworks(const ListOptions& options) override {
    return inner_.ListNetworks(options);
  }
  Status DeleteNetwork(std::string_view id) override { return inner_.DeleteNetwork(id); }
  Result<Router> CreateRouter(const Router& router) override { return inner_.CreateRouter(router); }
  Result<Router> GetRouter(std::string_view id) override { return inner_.GetRouter(id); }
  Result<Page<Router>> ListRouters(const ListOptions& options) override {
    return inner_.ListRouters(options);
  }
  Status DeleteRouter(std::string_view id) override { return inner_.DeleteRouter(id); }
  Result<Network> SetNetworkRouter(std::string_view network_id,
                                   std::string_view router_id) override {
    return inner_.SetNetworkRouter(network_id, router_id);
  }
  Result<Router> SetRouterHost(std::string_view router_id, std::string_view host) override {
    return inner_.SetRouterHost(router_id, host);
  }
  Result<Network> SetNetworkHost(std::string_view network_id, std::string_view host) override {
    return inner_.SetNetworkHost(network_id, host);
  }
  Result<Network> SetNetworkHttpTokens(std::string_view network_id,
                                       std::optional<core::HttpTokens> policy) override {
    return inner_.SetNetworkHttpTokens(network_id, policy);
  }
  Result<PortBinding> FindPortOnNetwork(std::string_view network_id, std::string_view ip) override {
    return inner_.FindPortOnNetwork(network_id, ip);
  }
  Result<PortBinding> FindPortOnRouter(std::string_view router_id, std::string_view ip) override {
    return inner_.FindPortOnRouter(router_id, ip);
  }
  Result<Page<PortBinding>> ListPorts(std::string_view network_id,
                                      const ListOptions& options) override {
    return inner_.ListPorts(network_id, options);
  }
  Result<int64_t> CurrentRevision() override { return inner_.CurrentRevision(); }
  std::unique_ptr<Subscription> Subscribe(std::function<void(const Change&)> callback) override {
    return inner_.Subscribe(std::move(callback));
  }

 protected:
  Store& inner() { return inner_; }

 private:
  Store& inner_;
};

}  // namespace metastack::store
