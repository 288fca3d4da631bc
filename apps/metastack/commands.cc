#include "commands.h"

#include <iostream>
#include <memory>

#include "api/answer.h"
#include "base/base64.h"
#include "base/file.h"
#include "configdrive/tree_writer.h"
#include "core/instance.h"
#include "core/metadata.h"
#include "http/error_response.h"
#include "render_flags.h"
#include "verbs.h"

namespace metastack::cli {
namespace {

void OsRandom(std::span<uint8_t> out) { SystemRandom(out); }

Run SetupValidate(CLI::App& app) {
  auto file = std::make_shared<std::string>();
  app.add_option("INSTANCE", *file, "Instance document (JSON; - for standard input)")->required();
  return [file] {
    auto inst = LoadInstance(*file);
    if (!inst) return Fail(inst.error());
    std::cout << *file << ": valid instance " << inst->uuid << "\n";
    return kExitOk;
  };
}

Run SetupRender(CLI::App& app) {
  struct Flags {
    std::string file, out;
    RenderFlags render;
  };
  auto f = std::make_shared<Flags>();
  app.add_option("INSTANCE", f->file, "Instance document (JSON; - for standard input)")->required();
  app.add_option("-o,--out", f->out,
                 "Directory to create with the drive's tree (must not exist, or be empty)")
      ->required();
  f->render.Declare(app);
  app.footer(
      "Writes every file Nova puts on a config drive (openstack/<version>/..., "
      "openstack/content/,\n"
      "ec2/<version>/...). The tree appears whole or not at all.");
  return [f] {
    auto inst = LoadInstance(f->file);
    if (!inst) return Fail(inst.error());
    auto settings = f->render.Build();
    if (!settings) return Fail(settings.error());
    auto files = core::ConfigDriveFiles(*inst, *settings, OsRandom);
    if (auto st = configdrive::WriteTree(files, f->out); !st) return Fail(st.error());
    std::cerr << "metastack: wrote " << files.size() << " files to " << f->out << "\n";
    return kExitOk;
  };
}

Run SetupGet(CLI::App& app) {
  struct Flags {
    std::string file;
    std::vector<std::string> paths;
    std::string method = "GET";
    std::string address;
    bool json = false;
    RenderFlags render;
  };
  auto f = std::make_shared<Flags>();
  app.add_option("INSTANCE", f->file, "Instance document (JSON; - for standard input)")->required();
  app.add_option("PATH", f->paths,
                 "Metadata path(s) as a request target, e.g. /openstack/latest/meta_data.json "
                 "(percent-escapes are decoded and a ?query read as by the service: "
                 "recursive=true and alt=json|text; wait_for_change does not wait)")
      ->required();
  app.add_option("--method", f->method,
                 "Any method, answered as the service answers it (POST on a password path as an "
                 "empty POST, without storing it)")
      ->capture_default_str();
  app.add_option("--address", f->address,
                 "The caller's address (EC2 local-ipv4 when the instance has no IPv4 address)");
  app.add_flag("--json", f->json,
               "Print a JSON array of {path, status, content_type, body_b64}, one per PATH");
  f->render.Declare(app);
  app.footer(
      "Prints what the metadata service answers for PATH. Without --json, exactly one PATH;\n"
      "the body goes to standard output and a non-200 answer exits 1.");
  return [f] {
    auto inst = LoadInstance(f->file);
    if (!inst) return Fail(inst.error());
    auto settings = f->render.Build();
    if (!settings) return Fail(settings.error());
    if (!f->json && f->paths.size() != 1) return Fail("give exactly one PATH, or use --json");
    core::RenderContext ctx;
    ctx.delivery = core::Delivery::kService;
    if (!f->address.empty()) ctx.address = f->address;
    ctx.random = OsRandom;
    nlohmann::json out = nlohmann::json::array();
    int rc = kExitOk;
    for (const auto& path : f->paths) {
      bool head = f->method == "HEAD";
      http::Response answer = api::Answer(*inst, path, f->method, *settings, ctx);
      const unsigned status = answer.status;
      const std::string& content_type = answer.content_type;
      std::string& body = answer.body;
      if (head) body.clear();  // the server sends none
      if (f->json) {
        out.push_back({{"path", path},
                       {"status", status},
                       {"content_type", content_type},
                       {"body_b64", Base64Encode(body)}});
      } else {
        std::cout << body;
        if (status != 200) {
          std::cerr << "metastack: " << path << ": " << status << " " << http::ReasonPhrase(status)
                    << "\n";
          rc = kExitFailure;
        }
      }
    }
    if (f->json) std::cout << out.dump() << "\n";
    return rc;
  };
}

constexpr Command kCommands[] = {
    {"validate", "Check an instance document and name the first field that is wrong",
     SetupValidate},
    {"render", "Write an instance's config-drive tree into a directory", SetupRender},
    {"configdrive", "Build config drive images: ISO9660, VFAT or NoCloud", SetupConfigDriveVerb},
    {"get", "Print what the metadata service answers for a path", SetupGet},
    {"api", "Run the metadata API service (what nova-api-metadata does)", SetupApi},
    {"agent", "Run the metadata agent (what neutron-metadata-agent does)", SetupAgentVerb},
    {"proxy", "Run the ns-proxy: listeners in many router and DHCP namespaces", SetupProxyVerb},
    {"proxy-ctl", "Add, remove and list a running proxy's listeners", SetupProxyCtlVerb},
    {"serve", "Run API, agent and proxy in one process", SetupServeVerb},
    {"instance", "Create, list, show, change and delete instances", SetupInstanceVerb},
    {"network", "Create, list, show and delete networks; attach them to routers", SetupNetworkVerb},
    {"router", "Create, list, show and delete routers", SetupRouterVerb},
    {"port", "List ports and resolve guest addresses as the metadata agent does", SetupPortVerb},
    {"net", "Metadata plumbing in router and DHCP namespaces (iptables, dnsmasq)", SetupNetVerb},
};

}  // namespace

int Fail(std::string_view message, int code) {
  std::cerr << "metastack: " << message << "\n";
  return code;
}

int Fail(const Error& error, int code) { return Fail(error.ToString(), code); }

std::string ErrorBodyMessage(const nlohmann::json& body, std::string fallback) {
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) return fallback;
  const nlohmann::json& e = body["error"];
  std::string message = e.value("message", "");
  if (e.contains("field") && e["field"].is_string())
    message = e["field"].get<std::string>() + ": " + message;
  return message;
}

namespace {
std::vector<std::string>& SavedCommandLine() {
  static std::vector<std::string> args;
  return args;
}
}  // namespace

void SetCommandLine(int argc, char** argv) { SavedCommandLine().assign(argv, argv + argc); }
const std::vector<std::string>& CommandLine() { return SavedCommandLine(); }

std::span<const Command> Commands() { return kCommands; }

const Command* ChosenCommand(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.starts_with('-')) continue;  // the top level's flags take no value
    for (const Command& command : kCommands) {
      if (arg == command.name) return &command;
    }
    break;
  }
  return nullptr;
}

}  // namespace metastack::cli
