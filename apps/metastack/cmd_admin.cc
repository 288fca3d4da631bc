// metastack instance|network|router|port ...: the operators' verbs. Each works against the admin
// API (--url, --token-file) or directly on a store (--store), through admin::Dispatch in both
// cases, so the two behave the same.
#include <algorithm>
#include <iostream>

#include "admin/dispatcher.h"
#include "base/file.h"
#include "base/utf8.h"
#include "http/client.h"
#include "http/error_response.h"
#include "http/tls.h"
#include "http/url.h"
#include "instance_flags.h"
#include "store/store.h"
#include "verbs.h"

namespace metastack::cli {
namespace {

using Json = nlohmann::ordered_json;

// An answer without a JSON body: not the admin API's own (its errors are JSON) but the HTTP
// layer's (413 for an over-limit body) or something else listening at the URL.
Error NotJsonAnswer(const std::string& url, unsigned status, size_t sent_bytes) {
  std::string text = url + ": answered " + std::to_string(status);
  if (status < 400)
    return MakeError(ErrorCode::kUnavailable, text + " with a body that is not JSON");
  text += " " + std::string(http::ReasonPhrase(status));
  if (status == 413)
    text += ": the request body (" + std::to_string(sent_bytes) +
            " bytes) is over the admin listener's limit (--admin-body-limit)";
  return MakeError(ErrorCode::kUnavailable, text);
}

// Where the verbs go: the admin API at --url, or a store opened here (--store).
struct AdminBackend {
  std::string store;
  std::string url;
  std::string token_file;
  http::TlsClientOptions tls;  // for an https --url

  void Declare(CLI::App& app) {
    app.add_option("--store", store,
                   "Work directly on this store (sqlite:PATH, postgresql://...); default "
                   "$METASTACK_STORE or " +
                       std::string(store::kDefaultStoreUrl))
        ->envname("METASTACK_STORE");
    app.add_option("--url", url,
                   "Admin API to talk to instead (http://HOST:PORT, or https://HOST:PORT: TLS "
                   "1.2+, its certificate checked against HOST)")
        ->envname("METASTACK_URL");
    app.add_option("--token-file", token_file, "File with the admin API's bearer token")
        ->envname("METASTACK_TOKEN_FILE");
    app.add_option("--ca-file", tls.ca_file,
                   "PEM CA certificates an https --url's certificate must chain to (default: "
                   "the system's CA store)")
        ->envname("METASTACK_CA_FILE");
    app.add_option("--cert-file", tls.cert_file,
                   "PEM client certificate for an https --url that asks for one (with "
                   "--key-file)")
        ->envname("METASTACK_CERT_FILE");
    app.add_option("--key-file", tls.key_file, "PEM private key of --cert-file")
        ->envname("METASTACK_KEY_FILE");
  }

  // TLS files given for a URL that is not https: a mistake worth saying, not ignoring.
  Status CheckTls() const {
    if (url.starts_with("https://")) return Ok();
    for (auto [given, flag] : {std::pair{!tls.ca_file.empty(), "--ca-file"},
                               {!tls.cert_file.empty(), "--cert-file"},
                               {!tls.key_file.empty(), "--key-file"}})
      if (given)
        return std::unexpected(MakeError(
            ErrorCode::kInvalidArgument,
            std::string(flag) + ": --url is not https://" + (url.empty() ? "" : ": " + url)));
    return Ok();
  }

  Result<admin::AdminReply> Send(admin::AdminRequest req) const {
    METASTACK_RETURN_IF_ERROR(CheckTls());
    if (url.empty()) {
      auto s = store::OpenStore(store.empty() ? std::string(store::kDefaultStoreUrl) : store);
      if (!s) return std::unexpected(s.error());
      return admin::Dispatch(**s, req);
    }
    std::string token;
    if (!token_file.empty()) {
      auto t = ReadFile(token_file);
      if (!t) return std::unexpected(t.error());
      token = *t;
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    }
    http::ClientRequest cr;
    cr.method = req.method;
    cr.target = req.path + (req.query.empty() ? "" : "?" + req.query);
    cr.body = req.body;
    cr.headers.emplace_back("Content-Type", "application/json");
    if (!token.empty()) cr.headers.emplace_back("Authorization", "Bearer " + token);
    auto res = http::Fetch(url, cr, std::chrono::seconds(10), &tls);
    if (!res) return std::unexpected(res.error());
    admin::AdminReply reply{res->status, nullptr};
    if (!res->body.empty()) {
      reply.body = Json::parse(res->body, nullptr, false);
      if (reply.body.is_discarded())
        return std::unexpected(NotJsonAnswer(url, res->status, cr.body.size()));
    }
    return reply;
  }
};

// Sends, prints the error or hands the body to `print`; returns the exit code.
int Execute(const AdminBackend& t, admin::AdminRequest req,
            const std::function<void(const Json&)>& print) {
  auto reply = t.Send(std::move(req));
  if (!reply) return Fail(reply.error());
  if (reply->status >= 400) {
    return Fail(
        ErrorBodyMessage(nlohmann::json(reply->body), "status " + std::to_string(reply->status)));
  }
  print(reply->body);
  return kExitOk;
}

void PrintJson(const Json& j) {
  if (!j.is_null()) std::cout << j.dump(2) << "\n";
}

// Prints a list page as aligned columns (or JSON), following "next" to the end.
int List(const AdminBackend& t, const std::string& path, std::string query, const char* key,
         const std::vector<std::pair<std::string, std::function<std::string(const Json&)>>>& cols,
         bool json) {
  Json all = Json::array();
  std::string after;
  for (;;) {
    std::string q = query + (after.empty() ? ""
                                           : (query.empty() ? "" : "&") + std::string("after=") +
                                                 http::PercentEncode(after));
    Json page;
    int rc = Execute(t, {"GET", path, q, ""}, [&](const Json& j) { page = j; });
    if (rc != kExitOk) return rc;
    for (const auto& item : page[key]) all.push_back(item);
    if (!page.contains("next") || page["next"].is_null()) break;
    after = page["next"].get<std::string>();
  }
  if (json) {
    std::cout << all.dump(2) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header;
  for (const auto& [name, _] : cols) header.push_back(name);
  rows.push_back(header);
  for (const auto& item : all) {
    std::vector<std::string> row;
    for (const auto& [_, get] : cols) row.push_back(get(item));
    rows.push_back(row);
  }
  // Columns in characters, not bytes: a hostname such as "café-01" is 7 wide, 8 bytes long.
  std::vector<size_t> width(cols.size(), 0);
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], Utf8Length(row[i]));
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i)
      line +=
          row[i] + (i + 1 < row.size() ? std::string(width[i] - Utf8Length(row[i]) + 2, ' ') : "");
    std::cout << line << "\n";
  }
  return kExitOk;
}

std::string Str(const Json& j) {
  return j.is_string() ? j.get<std::string>() : j.is_null() ? "-" : j.dump();
}

std::string HostHelp(const char* what) {
  return std::string("The host whose daemon (serve or proxy --manage) serves its ") + what +
         " ([general] host of that daemon; default: any that has the namespace)";
}

// `set-host ID HOST` / `set-host ID --unassign` on /v1/<collection>/ID/host; F has the
// backend `t` and `id`, `host`, `unassign`.
template <typename F>
void AddSetHost(CLI::App* app, std::string collection, std::shared_ptr<F> f,
                std::shared_ptr<Run> run) {
  app->add_option("ID", f->id, "Id")->required();
  app->add_option("HOST", f->host, "Host name");
  app->add_flag("--unassign", f->unassign, "Serve it from any host that has the namespace");
  app->callback([f, run, collection] {
    *run = [f, collection] {
      if (f->unassign == !f->host.empty()) {
        std::cerr << "metastack: give a HOST or --unassign\n";
        return kExitUsage;
      }
      Json body = {{"host", f->unassign ? Json(nullptr) : Json(f->host)}};
      return Execute(f->t,
                     {"PUT", "/v1/" + collection + "/" + http::PercentEncode(f->id) + "/host", "",
                      body.dump()},
                     PrintJson);
    };
  });
}

// `set-http-tokens ID optional|required` / `set-http-tokens ID --unset`: the session policy of
// an instance (a merge patch of its metadata_options) or of a network (PUT .../http_tokens);
// the server checks the value (errors name the field).
template <typename F>
void AddSetHttpTokens(CLI::App* app, bool instance, std::shared_ptr<F> f,
                      std::shared_ptr<Run> run) {
  app->add_option("ID", f->id, instance ? "Instance uuid" : "Network id")->required();
  app->add_option("POLICY", f->http_tokens, "optional or required (docs/extensions.md, Sessions)");
  app->add_flag("--unset", f->unset_http_tokens,
                instance ? "Follow its networks' and the daemon's policy"
                         : "Leave the policy to instances and the daemon");
  app->callback([f, run, instance] {
    *run = [f, instance] {
      if (f->unset_http_tokens == !f->http_tokens.empty()) {
        std::cerr << "metastack: give a POLICY (optional or required) or --unset\n";
        return kExitUsage;
      }
      Json policy = f->unset_http_tokens ? Json(nullptr) : Json(f->http_tokens);
      std::string path =
          (instance ? "/v1/instances/" : "/v1/networks/") + http::PercentEncode(f->id);
      if (instance)
        return Execute(
            f->t, {"PATCH", path, "", Json{{"metadata_options", {{"http_tokens", policy}}}}.dump()},
            PrintJson);
      return Execute(f->t, {"PUT", path + "/http_tokens", "", Json{{"http_tokens", policy}}.dump()},
                     PrintJson);
    };
  });
}

struct InstanceVerbFlags {
  AdminBackend t;
  std::string file, id, project;
  std::vector<std::string> pairs, unset;
  int64_t revision = -1;
  bool json = false;
  std::string http_tokens;
  bool unset_http_tokens = false;
  cli::InstanceFlags instance;  // create: the instance as flags, over -f
};

// Sends the document in -f as the body of `method` on `path`.
int SendDocument(const InstanceVerbFlags& f, const char* method, std::string path,
                 std::string query) {
  auto doc = ReadFile(f.file);
  if (!doc) return Fail(doc.error());
  return Execute(f.t, {method, std::move(path), std::move(query), *doc}, PrintJson);
}

// create: the document in -f, the instance flags applied over it.
int CreateInstance(const InstanceVerbFlags& f) {
  if (!f.instance.Any()) {
    if (f.file.empty())
      return Fail(
          "give an instance document (-f FILE) or the instance as flags (--hostname, "
          "--project, --ssh-key, --nic...)",
          kExitUsage);
    return SendDocument(f, "POST", "/v1/instances", "");
  }
  Json base = Json::object();
  if (!f.file.empty()) {
    auto text = ReadFile(f.file);
    if (!text) return Fail(text.error());
    base = Json::parse(*text, nullptr, false);
    if (base.is_discarded()) return Fail(f.file + ": not valid JSON");
  }
  auto doc = f.instance.Apply(std::move(base), f.file.empty() ? "flags" : f.file, nullptr);
  if (!doc) return Fail(doc.error(), kExitUsage);
  return Execute(f.t, {"POST", "/v1/instances", "", doc->dump()}, PrintJson);
}

// set-meta: a merge patch of the metadata items, k=v setting one and --unset k removing one.
int SetMeta(const InstanceVerbFlags& f) {
  Json meta = Json::object();
  for (const auto& p : f.pairs) {
    size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "metastack: expected key=value: " << p << "\n";
      return kExitUsage;
    }
    meta[p.substr(0, eq)] = p.substr(eq + 1);
  }
  for (const auto& k : f.unset) meta[k] = nullptr;
  return Execute(
      f.t, {"PATCH", "/v1/instances/" + http::PercentEncode(f.id), "", Json{{"meta", meta}}.dump()},
      PrintJson);
}

Run SetupInstance(CLI::App& app) {
  using F = InstanceVerbFlags;
  auto f = std::make_shared<F>();
  auto run = std::make_shared<Run>();
  app.require_subcommand(1);
  auto sub = [&](const char* name, const char* help) {
    CLI::App* s = app.add_subcommand(name, help);
    f->t.Declare(*s);
    return s;
  };
  CLI::App* create =
      sub("create",
          "Create an instance from a document (docs/instance-format.md), from flags, or both");
  create->add_option("-f,--document", f->file, "Instance document (- for standard input)");
  f->instance.Declare(*create, /*vendor_data=*/true, /*config_drive_flag=*/true);
  create->callback([=] { *run = [=] { return CreateInstance(*f); }; });
  CLI::App* list = sub("list", "List instances");
  list->add_option("--project", f->project, "Only this project's");
  list->add_flag("--json", f->json, "Print JSON");
  list->callback([=] {
    *run = [=] {
      return List(f->t, "/v1/instances",
                  f->project.empty() ? "" : "project_id=" + http::PercentEncode(f->project),
                  "instances",
                  {{"UUID", [](const Json& j) { return Str(j["instance"]["uuid"]); }},
                   {"HOSTNAME", [](const Json& j) { return Str(j["instance"]["hostname"]); }},
                   {"PROJECT", [](const Json& j) { return Str(j["instance"]["project_id"]); }},
                   {"REVISION", [](const Json& j) { return Str(j["revision"]); }}},
                  f->json);
    };
  });
  CLI::App* show = sub("show", "Show an instance's document and revision");
  show->add_option("ID", f->id, "Instance uuid")->required();
  show->callback([=] {
    *run = [=] {
      return Execute(f->t, {"GET", "/v1/instances/" + http::PercentEncode(f->id), "", ""},
                     PrintJson);
    };
  });
  CLI::App* replace = sub("replace", "Replace an instance's whole document");
  replace->add_option("ID", f->id, "Instance uuid")->required();
  replace->add_option("-f,--document", f->file, "Instance document (- for standard input)")
      ->required();
  replace->add_option("--revision", f->revision, "Only if the instance is still at this revision");
  replace->callback([=] {
    *run = [=] {
      return SendDocument(*f, "PUT", "/v1/instances/" + http::PercentEncode(f->id),
                          f->revision >= 0 ? "revision=" + std::to_string(f->revision) : "");
    };
  });
  CLI::App* set_meta = sub("set-meta", "Set (k=v) or remove (--unset k) metadata items");
  set_meta->add_option("ID", f->id, "Instance uuid")->required();
  set_meta->add_option("PAIRS", f->pairs, "key=value items");
  set_meta->add_option("--unset", f->unset, "Keys to remove");
  set_meta->callback([=] { *run = [=] { return SetMeta(*f); }; });
  AddSetHttpTokens(
      sub("set-http-tokens", "Set the instance's IMDSv2 session policy, or --unset it"), true, f,
      run);
  CLI::App* del = sub("delete", "Delete an instance");
  del->add_option("ID", f->id, "Instance uuid")->required();
  del->callback([=] {
    *run = [=] {
      return Execute(f->t, {"DELETE", "/v1/instances/" + http::PercentEncode(f->id), "", ""},
                     PrintJson);
    };
  });
  CLI::App* reset =
      sub("reset-password", "Forget the password the guest set, so it may set a new one");
  reset->add_option("ID", f->id, "Instance uuid")->required();
  reset->callback([=] {
    *run = [=] {
      return Execute(
          f->t, {"DELETE", "/v1/instances/" + http::PercentEncode(f->id) + "/password", "", ""},
          [](const Json&) {});
    };
  });
  return [run] { return (*run)(); };
}

Run SetupNetwork(CLI::App& app) {
  struct F {
    AdminBackend t;
    std::string id, name, project, router, host, http_tokens;
    bool detach = false, unassign = false, json = false, unset_http_tokens = false;
  };
  auto f = std::make_shared<F>();
  auto run = std::make_shared<Run>();
  app.require_subcommand(1);
  auto sub = [&](const char* name, const char* help) {
    CLI::App* s = app.add_subcommand(name, help);
    f->t.Declare(*s);
    return s;
  };
  CLI::App* create = sub("create", "Create a network");
  create->add_option("ID", f->id, "Network id (as Neutron's)")->required();
  create->add_option("--name", f->name, "Label");
  create->add_option("--project", f->project, "Owning project");
  create->add_option("--router", f->router, "Router the network is attached to");
  create->add_option("--host", f->host, HostHelp("DHCP namespace"));
  create->add_option("--http-tokens", f->http_tokens,
                     "IMDSv2 session policy of its instances: optional or required");
  create->callback([=] {
    *run = [=] {
      Json body = {{"id", f->id}, {"name", f->name}, {"project_id", f->project}};
      if (!f->router.empty()) body["router_id"] = f->router;
      if (!f->host.empty()) body["host"] = f->host;
      if (!f->http_tokens.empty()) body["http_tokens"] = f->http_tokens;
      return Execute(f->t, {"POST", "/v1/networks", "", body.dump()}, PrintJson);
    };
  });
  CLI::App* list = sub("list", "List networks");
  list->add_flag("--json", f->json, "Print JSON");
  list->callback([=] {
    *run = [=] {
      return List(f->t, "/v1/networks", "", "networks",
                  {{"ID", [](const Json& j) { return Str(j["id"]); }},
                   {"NAME", [](const Json& j) { return Str(j["name"]); }},
                   {"PROJECT", [](const Json& j) { return Str(j["project_id"]); }},
                   {"ROUTER", [](const Json& j) { return Str(j["router_id"]); }},
                   {"HOST", [](const Json& j) { return Str(j["host"]); }},
                   {"HTTP_TOKENS", [](const Json& j) { return Str(j["http_tokens"]); }}},
                  f->json);
    };
  });
  CLI::App* show = sub("show", "Show a network");
  show->add_option("ID", f->id, "Network id")->required();
  show->callback([=] {
    *run = [=] {
      return Execute(f->t, {"GET", "/v1/networks/" + http::PercentEncode(f->id), "", ""},
                     PrintJson);
    };
  });
  CLI::App* del = sub("delete", "Delete a network (refused while ports use it)");
  del->add_option("ID", f->id, "Network id")->required();
  del->callback([=] {
    *run = [=] {
      return Execute(f->t, {"DELETE", "/v1/networks/" + http::PercentEncode(f->id), "", ""},
                     PrintJson);
    };
  });
  CLI::App* attach = sub("set-router", "Attach the network to a router, or --detach it");
  attach->add_option("ID", f->id, "Network id")->required();
  attach->add_option("ROUTER", f->router, "Router id");
  attach->add_flag("--detach", f->detach, "Detach from its router");
  attach->callback([=] {
    *run = [=] {
      if (f->detach == !f->router.empty()) {
        std::cerr << "metastack: give a ROUTER or --detach\n";
        return kExitUsage;
      }
      Json body = {{"router_id", f->detach ? Json(nullptr) : Json(f->router)}};
      return Execute(
          f->t, {"PUT", "/v1/networks/" + http::PercentEncode(f->id) + "/router", "", body.dump()},
          PrintJson);
    };
  });
  AddSetHost(sub("set-host", "Assign the network's DHCP namespace to a host, or --unassign it"),
             "networks", f, run);
  AddSetHttpTokens(sub("set-http-tokens",
                       "Set the IMDSv2 session policy of the network's instances, or --unset it"),
                   false, f, run);
  return [run] { return (*run)(); };
}

Run SetupRouter(CLI::App& app) {
  struct F {
    AdminBackend t;
    std::string id, name, project, host;
    bool unassign = false, json = false;
  };
  auto f = std::make_shared<F>();
  auto run = std::make_shared<Run>();
  app.require_subcommand(1);
  auto sub = [&](const char* name, const char* help) {
    CLI::App* s = app.add_subcommand(name, help);
    f->t.Declare(*s);
    return s;
  };
  CLI::App* create = sub("create", "Create a router");
  create->add_option("ID", f->id, "Router id (as Neutron's)")->required();
  create->add_option("--name", f->name, "Label");
  create->add_option("--project", f->project, "Owning project");
  create->add_option("--host", f->host, HostHelp("router namespace"));
  create->callback([=] {
    *run = [=] {
      Json body = {{"id", f->id}, {"name", f->name}, {"project_id", f->project}};
      if (!f->host.empty()) body["host"] = f->host;
      return Execute(f->t, {"POST", "/v1/routers", "", body.dump()}, PrintJson);
    };
  });
  CLI::App* list = sub("list", "List routers");
  list->add_flag("--json", f->json, "Print JSON");
  list->callback([=] {
    *run = [=] {
      return List(f->t, "/v1/routers", "", "routers",
                  {{"ID", [](const Json& j) { return Str(j["id"]); }},
                   {"NAME", [](const Json& j) { return Str(j["name"]); }},
                   {"PROJECT", [](const Json& j) { return Str(j["project_id"]); }},
                   {"HOST", [](const Json& j) { return Str(j["host"]); }}},
                  f->json);
    };
  });
  CLI::App* show = sub("show", "Show a router");
  show->add_option("ID", f->id, "Router id")->required();
  show->callback([=] {
    *run = [=] {
      return Execute(f->t, {"GET", "/v1/routers/" + http::PercentEncode(f->id), "", ""}, PrintJson);
    };
  });
  CLI::App* del = sub("delete", "Delete a router (refused while networks are attached)");
  del->add_option("ID", f->id, "Router id")->required();
  del->callback([=] {
    *run = [=] {
      return Execute(f->t, {"DELETE", "/v1/routers/" + http::PercentEncode(f->id), "", ""},
                     PrintJson);
    };
  });
  AddSetHost(sub("set-host", "Assign the router's namespace to a host, or --unassign it"),
             "routers", f, run);
  return [run] { return (*run)(); };
}

Run SetupPort(CLI::App& app) {
  struct F {
    AdminBackend t;
    std::string network, router, ip;
    bool json = false;
  };
  auto f = std::make_shared<F>();
  auto run = std::make_shared<Run>();
  app.require_subcommand(1);
  auto sub = [&](const char* name, const char* help) {
    CLI::App* s = app.add_subcommand(name, help);
    f->t.Declare(*s);
    return s;
  };
  CLI::App* list =
      sub("list", "List every fixed IP of every port (ports come from instance documents)");
  list->add_option("--network", f->network, "Only this network's");
  list->add_flag("--json", f->json, "Print JSON");
  list->callback([=] {
    *run = [=] {
      return List(f->t, "/v1/ports",
                  f->network.empty() ? "" : "network_id=" + http::PercentEncode(f->network),
                  "ports",
                  {{"NETWORK", [](const Json& j) { return Str(j["network_id"]); }},
                   {"IP", [](const Json& j) { return Str(j["ip_address"]); }},
                   {"MAC", [](const Json& j) { return Str(j["mac"]); }},
                   {"PORT", [](const Json& j) { return Str(j["port_id"]); }},
                   {"INSTANCE", [](const Json& j) { return Str(j["instance_id"]); }}},
                  f->json);
    };
  });
  CLI::App* lookup = sub("lookup", "Resolve a guest address as the metadata agent does");
  lookup->add_option("--ip", f->ip, "The guest's address")->required();
  lookup->add_option("--network", f->network, "The network the request came from");
  lookup->add_option("--router", f->router, "The router the request came through");
  lookup->callback([=] {
    *run = [=] {
      std::string q = "ip=" + http::PercentEncode(f->ip) +
                      (f->network.empty() ? "" : "&network_id=" + http::PercentEncode(f->network)) +
                      (f->router.empty() ? "" : "&router_id=" + http::PercentEncode(f->router));
      return Execute(f->t, {"GET", "/v1/ports/lookup", q, ""}, PrintJson);
    };
  });
  return [run] { return (*run)(); };
}

}  // namespace

Run SetupInstanceVerb(CLI::App& app) { return SetupInstance(app); }
Run SetupNetworkVerb(CLI::App& app) { return SetupNetwork(app); }
Run SetupRouterVerb(CLI::App& app) { return SetupRouter(app); }
Run SetupPortVerb(CLI::App& app) { return SetupPort(app); }

}  // namespace metastack::cli
