#include "core/whole_tree.h"

#include <algorithm>
#include <vector>

#include "base/base64.h"
#include "base/strings.h"
#include "base/utf8.h"
#include "core/render_parts.h"

namespace metastack::core {
namespace {

using Form = TreeQuery::Form;

Document JsonAnswer(std::string body) {
  return Document{std::string(kContentTypeJson), std::move(body)};
}
Document TextAnswer(std::string body) {
  return Document{std::string(kContentTypeText), std::move(body)};
}

// A string as JSON: itself when it is UTF-8, else {"base64": "..."}.
Json StringValue(const std::string& s) {
  if (IsValidUtf8(s)) return Json(s);
  return Json{{"base64", Base64Encode(s)}};
}

std::vector<std::string> SortedKeys(const Json& object) {
  std::vector<std::string> keys;
  for (const auto& [k, _] : object.items())
    if (k != "_name") keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  return keys;
}

// An EC2 tree node as JSON: directories as objects keyed by path component, sorted.
Json Ec2Json(const Json& node) {
  switch (node.type()) {
    case Json::value_t::object: {
      Json out = Json::object();
      for (const auto& k : SortedKeys(node)) out[k] = Ec2Json(node[k]);
      return out;
    }
    case Json::value_t::array: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(Ec2Json(item));
      return out;
    }
    case Json::value_t::string:
      return StringValue(node.get_ref<const std::string&>());
    default:
      return node;
  }
}

void AppendLine(std::string& out, std::string_view path, std::string_view value) {
  out += path;
  out += ' ';
  out += value;
  out += '\n';
}

std::string Child(const std::string& prefix, std::string_view name) {
  return prefix.empty() ? std::string(name) : prefix + "/" + std::string(name);
}

// "PATH VALUE" lines for every leaf below `node`. EC2 trees sort their keys and write leaves as
// Nova prints them; JSON files keep their order and write non-strings as JSON.
enum class Flavour { kEc2, kJsonFile };

void Flatten(const Json& node, const std::string& prefix, Flavour flavour, std::string& out) {
  if (node.is_object()) {
    if (flavour == Flavour::kEc2) {
      for (const auto& k : SortedKeys(node)) Flatten(node[k], Child(prefix, k), flavour, out);
    } else {
      for (const auto& [k, v] : node.items()) Flatten(v, Child(prefix, k), flavour, out);
    }
    return;
  }
  if (node.is_array()) {
    for (size_t i = 0; i < node.size(); ++i)
      Flatten(node[i], Child(prefix, std::to_string(i)), flavour, out);
    return;
  }
  if (node.is_string())
    AppendLine(out, prefix, node.get_ref<const std::string&>());
  else
    AppendLine(out, prefix,
               flavour == Flavour::kEc2 ? internal::PrintNode(node) : DumpPython(node));
}

Result<Document> Ec2Tree(const Instance& instance, const Route& route, const Settings& settings,
                         const RenderContext& ctx, const TreeQuery& q) {
  Json tree = internal::Ec2Tree(instance, route.version, settings, ctx);
  auto found = internal::Ec2Node(tree, route.tokens);
  if (!found) return std::unexpected(found.error());
  const Json& node = **found;
  bool directory = node.is_object();
  if (q.form == Form::kText || (q.form == Form::kDefault && !q.recursive)) {
    if (!q.recursive || !directory) return TextAnswer(internal::PrintNode(node));
    std::string out;
    Flatten(node, "", Flavour::kEc2, out);
    return TextAnswer(std::move(out));
  }
  if (directory && !q.recursive) {
    const std::string text = internal::PrintNode(node);
    Json listing = Json::array();
    for (auto line : SplitLines(text)) listing.push_back(std::string(line));
    return JsonAnswer(DumpPython(listing));
  }
  return JsonAnswer(DumpPython(Ec2Json(node)));
}

// A JSON file as served, read back to be walked.
Result<Json> ParseServed(const std::string& body) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded()) return std::unexpected(MakeError(ErrorCode::kInternal, "unreadable JSON"));
  return j;
}

bool IsJsonFile(OpenStackFile file) {
  return file == OpenStackFile::kMetaData || file == OpenStackFile::kVendorData ||
         file == OpenStackFile::kVendorData2 || file == OpenStackFile::kNetworkData;
}

// One file of an OpenStack version (not the listing) in a whole-tree form.
Result<Document> OpenStackFileTree(const Instance& instance, const Route& route,
                                   const Settings& settings, const RenderContext& ctx,
                                   const TreeQuery& q) {
  auto doc = Render(instance, route, settings, ctx);
  if (!doc) return doc;
  bool json_file = route.kind == RouteKind::kOpenStack && IsJsonFile(route.file);
  if (q.form == Form::kText || (q.form == Form::kDefault && !q.recursive)) {
    if (!q.recursive || !json_file) return TextAnswer(std::move(doc->body));
    auto parsed = ParseServed(doc->body);
    if (!parsed) return std::unexpected(parsed.error());
    std::string out;
    Flatten(*parsed, "", Flavour::kJsonFile, out);
    return TextAnswer(std::move(out));
  }
  if (json_file) return JsonAnswer(std::move(doc->body));
  return JsonAnswer(DumpPython(StringValue(doc->body)));
}

// An OpenStack version directory in a whole-tree form.
Result<Document> OpenStackVersionTree(const Instance& instance, const Route& route,
                                      const Settings& settings, const RenderContext& ctx,
                                      const TreeQuery& q) {
  const std::string listing_text = internal::OpenStackListing(instance, route.version);
  const std::vector<std::string_view> names = SplitLines(listing_text);
  bool text = q.form == Form::kText || (q.form == Form::kDefault && !q.recursive);
  if (!q.recursive) {
    if (text) return Render(instance, route, settings, ctx);
    Json listing = Json::array();
    for (auto name : names) listing.push_back(std::string(name));
    return JsonAnswer(DumpPython(listing));
  }
  const std::string base = "/openstack/" + std::string(kOpenStackVersions[route.version]) + "/";
  std::string out = text ? "" : "{";
  bool first = true;
  for (const auto& name : names) {
    Route file = ResolvePath(base + std::string(name));
    auto doc = Render(instance, file, settings, ctx);
    if (!doc) return doc;
    bool json_file = IsJsonFile(file.file);
    if (text) {
      if (!json_file) {
        AppendLine(out, name, doc->body);
        continue;
      }
      auto parsed = ParseServed(doc->body);
      if (!parsed) return std::unexpected(parsed.error());
      Flatten(*parsed, std::string(name), Flavour::kJsonFile, out);
      continue;
    }
    if (!first) out += ", ";
    first = false;
    AppendPythonString(out, name);
    out += ": ";
    // JSON files go in as they are served, so their keys keep the order Nova gives them.
    out += json_file ? doc->body : DumpPython(StringValue(doc->body));
  }
  if (text) return TextAnswer(std::move(out));
  out += '}';
  return JsonAnswer(std::move(out));
}

}  // namespace

Result<Document> RenderTree(const Instance& instance, const Route& route, const Settings& settings,
                            const RenderContext& ctx, const TreeQuery& query) {
  if (query.Plain()) return Render(instance, route, settings, ctx);
  switch (route.kind) {
    case RouteKind::kEc2:
      return Ec2Tree(instance, route, settings, ctx, query);
    case RouteKind::kOpenStack:
      if (route.file == OpenStackFile::kListing)
        return OpenStackVersionTree(instance, route, settings, ctx, query);
      return OpenStackFileTree(instance, route, settings, ctx, query);
    case RouteKind::kContent:
      return OpenStackFileTree(instance, route, settings, ctx, query);
    case RouteKind::kEc2Versions:
    case RouteKind::kOpenStackVersions:
    case RouteKind::kNotFound:
      break;
  }
  return Render(instance, route, settings, ctx);
}

}  // namespace metastack::core
