// metastack net ...: the metadata plumbing of Neutron's L3 and DHCP agents, for operators and
// for scripts that build namespaces themselves (src/net/ does the work).
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "net/dhcp_metadata.h"
#include "net/netns.h"
#include "net/router_metadata.h"
#include "verbs.h"

namespace metastack::cli {
namespace {

using Json = nlohmann::ordered_json;

// "0x1", "1", "0xffff" -> number.
Result<uint32_t> ParseMark(const std::string& text, const std::string& flag) {
  size_t used = 0;
  unsigned long v = 0;
  try {
    v = std::stoul(text, &used, 0);
  } catch (...) {
  }
  if (text.empty() || used != text.size() || v > 0xffffffffUL)
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "not a 32-bit number: " + text, flag));
  return static_cast<uint32_t>(v);
}

std::string StateDirHelp() {
  return "Where dhcp-setup records what it did (and dnsmasq keeps its files)";
}

void PrintRouter(const std::string& netns, const std::vector<net::InstalledRules>& installed) {
  for (const auto& [backend, lines] : installed) {
    for (auto family : {net::IpFamily::kV4, net::IpFamily::kV6}) {
      std::string table;
      for (const auto& l : lines) {
        if (l.family != family) continue;
        if (table.empty())
          std::cout << "netns " << netns << ": router metadata rules ("
                    << net::ToolName(family, backend) << ")\n";
        if (l.table != table) std::cout << "  *" << (table = l.table) << "\n";
        std::cout << "  " << l.line << "\n";
      }
    }
  }
}

void PrintDhcp(const net::DhcpMetadataState& s) {
  std::cout << "netns " << s.netns << ": dhcp metadata on " << s.subnet.interface << " ("
            << s.subnet.dhcp_ip << " in " << s.subnet.subnet
            << (s.subnet.gateway.empty() ? "" : ", gateway " + s.subnet.gateway) << ")\n";
  std::cout << "  address " << net::kMetadataAddress << "/32: "
            << (s.address_added ? "added by metastack" : "was already there (left alone)") << "\n";
  if (s.address6_added)
    std::cout << "  address " << net::kMetadataAddressV6 << "/64: added by metastack\n";
  if (s.dnsmasq)
    std::cout << "  dnsmasq: "
              << (s.dnsmasq_pid ? "pid " + std::to_string(s.dnsmasq_pid) : "not running") << "\n";
  if (!s.conf_file.empty()) std::cout << "  conf file: " << s.conf_file << "\n";
  std::cout << "  state: " << s.dir << "\n";
}

Json RouterJson(const std::vector<net::InstalledRules>& installed) {
  Json out = Json::array();
  for (const auto& [backend, lines] : installed) {
    Json rules = Json::array();
    for (const auto& l : lines)
      rules.push_back(
          {{"family", net::FamilyName(l.family)}, {"table", l.table}, {"line", l.line}});
    out.push_back({{"backend", net::BackendName(backend)}, {"rules", rules}});
  }
  return out;
}

Json DhcpJson(const net::DhcpMetadataState& s) {
  return {{"interface", s.subnet.interface},
          {"dhcp_ip", s.subnet.dhcp_ip},
          {"subnet", s.subnet.subnet},
          {"gateway", s.subnet.gateway},
          {"address_added", s.address_added},
          {"address6_added", s.address6_added},
          {"dnsmasq", s.dnsmasq},
          {"dnsmasq_pid", s.dnsmasq_pid},
          {"conf_file", s.conf_file},
          {"state_dir", s.dir}};
}

Run RouterSetup(CLI::App* app) {
  struct F {
    net::RouterMetadataConfig config;
    std::string backend = "auto", mark = "0x1", mask = "0xffff";
  };
  auto f = std::make_shared<F>();
  app->add_option("--netns", f->config.netns, "The router namespace (must exist)")->required();
  app->add_option("--port", f->config.proxy_port, "Port the ns-proxy listens on in the namespace")
      ->capture_default_str();
  app->add_option("--interface-prefix", f->config.interface_prefix,
                  "Prefix of the guest-facing interfaces (matched as PREFIX+)")
      ->capture_default_str();
  app->add_option("--backend", f->backend,
                  "iptables implementation: nft, legacy, or auto (where our chains already are, "
                  "else what `iptables` is)")
      ->check(CLI::IsMember({"auto", "nft", "legacy"}))
      ->capture_default_str();
  app->add_option("--mark", f->mark, "Mark for metadata packets")->capture_default_str();
  app->add_option("--mark-mask", f->mask, "Mask of that mark")->capture_default_str();
  app->footer(
      "Installs Neutron's metadata rules in the router namespace, in chains named metastack-*:\n"
      "guests behind PREFIX+ interfaces that connect to 169.254.169.254:80 (or, over IPv6,\n"
      "[fe80::a9fe:a9fe]:80) are redirected to PORT, and connecting to PORT directly is\n"
      "dropped, over IPv4 and IPv6 (ip6tables, whenever the kernel has IPv6). Running it again\n"
      "updates the rules in place; foreign rules are never touched.");
  return [f] {
    f->config.backend = *net::ParseBackend(f->backend);
    auto mark = ParseMark(f->mark, "--mark");
    if (!mark) return Fail(mark.error());
    auto mask = ParseMark(f->mask, "--mark-mask");
    if (!mask) return Fail(mask.error());
    f->config.mark = *mark;
    f->config.mark_mask = *mask;
    auto used = net::InstallRouterMetadata(f->config);
    if (!used) return Fail(used.error());
    std::cout << "netns " << f->config.netns << ": metadata rules installed (iptables-"
              << net::BackendName(used->backend) << ", 169.254.169.254:80"
              << (used->ipv6 ? " and [" + std::string(net::kMetadataAddressV6) + "]:80" : "")
              << " -> port " << f->config.proxy_port << ")\n";
    return kExitOk;
  };
}

Run RouterTeardown(CLI::App* app) {
  struct F {
    std::string netns, backend = "auto";
  };
  auto f = std::make_shared<F>();
  app->add_option("--netns", f->netns, "The router namespace")->required();
  app->add_option("--backend", f->backend, "nft, legacy, or auto (every backend that has them)")
      ->check(CLI::IsMember({"auto", "nft", "legacy"}))
      ->capture_default_str();
  app->footer("Removes the metastack-* chains and the jumps to them; nothing else.");
  return [f] {
    auto removed = net::RemoveRouterMetadata(f->netns, *net::ParseBackend(f->backend));
    if (!removed) return Fail(removed.error());
    if (removed->empty()) std::cout << "netns " << f->netns << ": no metadata rules to remove\n";
    for (const auto& r : *removed)
      std::cout << "netns " << f->netns << ": removed " << r.lines.size()
                << " chains and rules (iptables-" << net::BackendName(r.backend) << ")\n";
    return kExitOk;
  };
}

Run DhcpSetup(CLI::App* app) {
  struct F {
    net::DhcpMetadataSetup setup;
    std::vector<std::string> hosts;
    std::string range;
    int64_t lease_time = 86400;
  };
  auto f = std::make_shared<F>();
  auto& s = f->setup;
  app->add_option("--netns", s.netns, "The DHCP namespace (must exist)")->required();
  app->add_option("--interface", s.subnet.interface, "The DHCP port's interface in it")->required();
  app->add_option("--dhcp-ip", s.subnet.dhcp_ip,
                  "The DHCP port's address (already on the interface); the metadata route's "
                  "next hop")
      ->required();
  app->add_option("--subnet", s.subnet.subnet, "The subnet's CIDR, e.g. 10.60.0.0/24")->required();
  app->add_option("--gateway", s.subnet.gateway, "The subnet's gateway (the default route)")
      ->required();
  auto* start = app->add_flag("--start-dnsmasq", s.start_dnsmasq,
                              "Run a dnsmasq for this interface (Neutron's flags; static leases "
                              "for --host unless --range)");
  app->add_option("--host", f->hosts, "A guest: MAC,IP[,NAME] (repeatable)")->needs(start);
  app->add_option("--range", f->range, "FIRST,LAST: also lease addresses dynamically")
      ->needs(start);
  app->add_option("--lease-time", f->lease_time, "Seconds")->needs(start)->capture_default_str();
  app->add_option("--domain", s.dnsmasq.domain, "DNS domain handed to guests ('' for none)")
      ->needs(start)
      ->capture_default_str();
  app->add_option("--conf-dir", s.conf_dir,
                  "Also write the options, as metastack-NS.conf, into this dnsmasq conf dir "
                  "(for a dnsmasq you run; restart it to read them)");
  app->add_option("--state-dir", s.state_dir, StateDirHelp())->capture_default_str();
  app->footer(
      "For a subnet without a router: adds 169.254.169.254/32 to the interface (and, whenever\n"
      "the kernel has IPv6, fe80::a9fe:a9fe/64, which guests reach on their link), and makes\n"
      "DHCP hand guests option 121 and 249 (169.254.169.254/32 via DHCP_IP, 0.0.0.0/0 via\n"
      "GATEWAY) and option 3, as Neutron's DHCP agent does. The proxy then needs a listener on\n"
      "169.254.169.254:80 and one on fe80::a9fe:a9fe%INTERFACE port 80 in the namespace.\n"
      "Idempotent; dhcp-teardown undoes it.");
  return [f] {
    for (const auto& h : f->hosts) {
      auto host = net::ParseDhcpHost(h);
      if (!host) return Fail(host.error());
      f->setup.dnsmasq.hosts.push_back(*host);
    }
    if (!f->range.empty()) {
      size_t comma = f->range.find(',');
      if (comma == std::string::npos)
        return Fail(MakeError(ErrorCode::kInvalidArgument, "expected FIRST,LAST", "range"));
      f->setup.dnsmasq.range_start = f->range.substr(0, comma);
      f->setup.dnsmasq.range_end = f->range.substr(comma + 1);
    }
    f->setup.dnsmasq.lease_time = std::chrono::seconds(f->lease_time);
    auto state = net::SetupDhcpMetadata(f->setup);
    if (!state) return Fail(state.error());
    PrintDhcp(*state);
    return kExitOk;
  };
}

Run DhcpTeardown(CLI::App* app) {
  struct F {
    std::string netns, state_dir = std::string(net::kDefaultDhcpStateDir);
  };
  auto f = std::make_shared<F>();
  app->add_option("--netns", f->netns, "The DHCP namespace")->required();
  app->add_option("--state-dir", f->state_dir, StateDirHelp())->capture_default_str();
  app->footer(
      "Stops the dnsmasq dhcp-setup started, removes the conf-dir file it wrote and the\n"
      "169.254.169.254/32 it added; works after the namespace is gone too.");
  return [f] {
    auto undone = net::TeardownDhcpMetadata(f->state_dir, f->netns);
    if (!undone) return Fail(undone.error());
    if (!*undone) {
      std::cout << "netns " << f->netns << ": no dhcp metadata recorded\n";
      return kExitOk;
    }
    const auto& s = **undone;
    std::cout << "netns " << f->netns << ": dhcp metadata removed"
              << (s.dnsmasq_pid ? " (stopped dnsmasq pid " + std::to_string(s.dnsmasq_pid) + ")"
                                : "")
              << "\n";
    return kExitOk;
  };
}

Run List(CLI::App* app) {
  struct F {
    std::string netns, state_dir = std::string(net::kDefaultDhcpStateDir);
    bool json = false;
  };
  auto f = std::make_shared<F>();
  app->add_option("--netns", f->netns, "Only this namespace");
  app->add_option("--state-dir", f->state_dir, StateDirHelp())->capture_default_str();
  app->add_flag("--json", f->json,
                "Print {NS: {\"router\": [{backend, rules: [{family, table, line}]}], \"dhcp\": "
                "{...} or null}}");
  app->footer("Shows the router rules and DHCP metadata metastack has set up, per namespace.");
  return [f] {
    std::vector<std::string> names;
    if (!f->netns.empty()) {
      names.push_back(f->netns);
    } else {
      auto all = net::ListNamespaces();
      if (!all) return Fail(all.error());
      names = *all;
    }
    auto dhcp = net::ListDhcpMetadata(f->state_dir, f->netns);
    if (!dhcp) return Fail(dhcp.error());
    // A DHCP record may outlive its namespace (teardown still works then): list it too.
    for (const auto& d : *dhcp)
      if (std::find(names.begin(), names.end(), d.netns) == names.end()) names.push_back(d.netns);
    std::sort(names.begin(), names.end());
    Json out = Json::object();
    for (const auto& name : names) {
      std::vector<net::InstalledRules> router;
      if (net::NamespaceExists(name)) {
        auto r = net::ListRouterMetadata(name);
        if (!r) return Fail(r.error());
        router = std::move(*r);
      } else if (!f->netns.empty() && dhcp->empty()) {
        return Fail(MakeError(ErrorCode::kNotFound, "netns " + name + ": no such namespace"));
      }
      auto d =
          std::find_if(dhcp->begin(), dhcp->end(), [&](const auto& s) { return s.netns == name; });
      if (f->json) {
        if (router.empty() && d == dhcp->end() && f->netns.empty()) continue;
        out[name] = {{"router", RouterJson(router)},
                     {"dhcp", d == dhcp->end() ? Json() : DhcpJson(*d)}};
        continue;
      }
      PrintRouter(name, router);
      if (d != dhcp->end()) PrintDhcp(*d);
      if (router.empty() && d == dhcp->end() && !f->netns.empty())
        std::cout << "netns " << name << ": nothing set up by metastack\n";
    }
    if (f->json) std::cout << out.dump(2) << "\n";
    return kExitOk;
  };
}

}  // namespace

Run SetupNetVerb(CLI::App& app) {
  auto run = std::make_shared<Run>();
  app.require_subcommand(1);
  struct Sub {
    const char* name;
    const char* help;
    Run (*setup)(CLI::App*);
  };
  static constexpr Sub kSubs[] = {
      {"router-setup",
       "Install the metadata REDIRECT/MARK/DROP rules (IPv4 and IPv6) in a router namespace",
       RouterSetup},
      {"router-teardown", "Remove what router-setup installed, and nothing else", RouterTeardown},
      {"dhcp-setup", "Metadata for a subnet without a router: address, DHCP option 121, dnsmasq",
       DhcpSetup},
      {"dhcp-teardown", "Undo dhcp-setup", DhcpTeardown},
      {"list", "Show what metastack has set up in namespaces", List},
  };
  for (const auto& s : kSubs) {
    CLI::App* sub = app.add_subcommand(s.name, s.help);
    Run r = s.setup(sub);
    sub->callback([run, r] { *run = r; });
  }
  return [run] { return (*run)(); };
}

}  // namespace metastack::cli
