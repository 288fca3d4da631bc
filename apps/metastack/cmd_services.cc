// metastack api | agent | proxy | serve: the metadata daemons, each choosing which components of
// daemon/ to run (all their wiring is daemon/process.cc); and proxy-ctl, the proxy's control
// client.
#include <iostream>

#include "daemon/config.h"
#include "daemon/config_file.h"
#include "daemon/process.h"
#include "http/client.h"
#include "verbs.h"

namespace metastack::cli {
namespace {

// Declares the flags of the components `run` names; once parsed, applies the --config file and
// runs the daemon. SIGHUP reads the same command line and the file again.
Run SetupDaemon(CLI::App& app, daemon::Components run, const char* footer) {
  auto config = std::make_shared<daemon::DaemonConfig>();
  config->run = run;
  daemon::Declare(app, *config);
  app.footer(footer);
  return [config, &app, run] {
    daemon::ApplyConfigFile(app, config->config_file);
    auto reread = [run, verb = app.get_name()] {
      CLI::App top;
      CLI::App* sub = top.add_subcommand(verb);
      daemon::DaemonConfig again;
      again.run = run;
      daemon::Declare(*sub, again);
      std::vector<const char*> argv;
      for (const auto& a : CommandLine()) argv.push_back(a.c_str());
      top.parse(static_cast<int>(argv.size()), argv.data());
      daemon::ApplyConfigFile(*sub, again.config_file);
      return again;
    };
    return daemon::RunDaemon(*config, reread);
  };
}

Run SetupProxyCtl(CLI::App& app) {
  struct F {
    std::string control = "/run/metastack/proxy.sock";
    std::string name, netns, kind = "router", id, address;
    int port = -1;
  };
  auto f = std::make_shared<F>();
  auto run = std::make_shared<Run>();
  app.require_subcommand(1);
  app.add_option("--control", f->control, "The proxy's control socket")->capture_default_str();
  auto call = [f](std::string method, std::string target, std::string body) {
    auto res = http::Fetch("unix:" + f->control,
                           {method, target, {{"Content-Type", "application/json"}}, body});
    if (!res) return Fail(res.error());
    if (res->status >= 400) {
      return Fail(ErrorBodyMessage(nlohmann::json::parse(res->body, nullptr, false), res->body));
    }
    if (!res->body.empty()) std::cout << nlohmann::json::parse(res->body).dump(2) << "\n";
    return kExitOk;
  };
  CLI::App* add = app.add_subcommand("add", "Open a listener in a namespace");
  add->add_option("--name", f->name, "Unique name, e.g. qrouter-<id>")->required();
  add->add_option("--netns", f->netns, "Namespace to bind in ('' for the proxy's own)");
  add->add_option("--kind", f->kind, "router or network")
      ->check(CLI::IsMember({"router", "network"}));
  add->add_option("--id", f->id, "Router or network id stamped on requests")->required();
  add->add_option("--address", f->address,
                  "Address to bind (default by kind: :: for a router, 169.254.169.254 for a "
                  "network; fe80::a9fe:a9fe%tapX on a DHCP port over IPv6)");
  add->add_option("--port", f->port, "Port to bind (default by kind)");
  add->callback([=] {
    *run = [=] {
      nlohmann::json j = {{"name", f->name}, {"netns", f->netns}, {"kind", f->kind}, {"id", f->id}};
      if (!f->address.empty()) j["address"] = f->address;
      if (f->port >= 0) j["port"] = f->port;
      return call("POST", "/listeners", j.dump());
    };
  });
  CLI::App* remove = app.add_subcommand("remove", "Close a listener");
  remove->add_option("NAME", f->name, "Listener name")->required();
  remove->callback([=] { *run = [=] { return call("DELETE", "/listeners/" + f->name, ""); }; });
  CLI::App* list = app.add_subcommand("list", "List open listeners");
  list->callback([=] { *run = [=] { return call("GET", "/listeners", ""); }; });
  return [run] { return (*run)(); };
}

}  // namespace

Run SetupApi(CLI::App& app) {
  return SetupDaemon(
      app, {.api = true},
      "Serves OpenStack and EC2 metadata as nova-api-metadata does, from memory: documents are\n"
      "rendered once per instance and dropped the moment the store reports a change.\n"
      "Flags are grouped by section of the --config file. SIGTERM drains and stops; SIGHUP\n"
      "re-reads the configuration (log level and vendor data apply at once).");
}

Run SetupAgentVerb(CLI::App& app) {
  return SetupDaemon(
      app, {.agent = true},
      "Names the instance behind each request the ns-proxy forwards (X-Forwarded-For + the\n"
      "router or network id -> port -> instance) and forwards it to the metadata API, signed.\n"
      "Flags are grouped by section of the --config file.");
}

Run SetupProxyVerb(CLI::App& app) {
  return SetupDaemon(
      app, {.proxy = true},
      "Holds listeners inside many router and DHCP namespaces from one process; each request\n"
      "loses every identity header the guest sent and gains X-Forwarded-For and the namespace's\n"
      "X-Neutron-Router-ID or X-Neutron-Network-ID on its way to the agent. Flags are grouped\n"
      "by section of the --config file; SIGHUP re-reads it and opens and closes listeners.");
}

Run SetupServeVerb(CLI::App& app) {
  return SetupDaemon(
      app, {.api = true, .agent = true, .proxy = true},
      "The whole metadata path in one process, one per host: ns-proxy listeners in router and\n"
      "DHCP namespaces -> metadata agent -> metadata API as function calls on one thread, plus\n"
      "the admin API. Typically: metastack serve --config /etc/metastack/metastack.toml\n"
      "Flags are grouped by section of that file; flags given win over it. SIGTERM drains and\n"
      "stops; SIGHUP re-reads the file (log level, limits, vendor data, listeners apply).");
}

Run SetupProxyCtlVerb(CLI::App& app) { return SetupProxyCtl(app); }

}  // namespace metastack::cli
