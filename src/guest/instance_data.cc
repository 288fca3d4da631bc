#include "guest/instance_data.h"

#include "base/strings.h"
#include "guest/simple_yaml.h"

namespace metastack::guest {
namespace {

using OrderedJson = nlohmann::ordered_json;

std::unexpected<Error> Bad(const std::string& file, const std::string& what) {
  return std::unexpected(MakeError(ErrorCode::kInvalidArgument, what, file));
}

// A file that must be there: a missing one is kInvalidArgument naming it (the source answered,
// so its absence is bad metadata rather than a missing source).
Result<std::string> Required(Tree& tree, const std::string& path) {
  auto got = tree.Read(path);
  if (!got && got.error().code == ErrorCode::kNotFound) return Bad(path, "missing");
  return got;
}

Result<std::optional<std::string>> Optional(Tree& tree, const std::string& path) {
  auto got = tree.Read(path);
  if (got) return std::optional<std::string>(std::move(*got));
  if (got.error().code == ErrorCode::kNotFound) return std::optional<std::string>();
  return std::unexpected(got.error());
}

Result<OrderedJson> ParseObject(const std::string& path, const std::string& text) {
  auto doc = OrderedJson::parse(text, nullptr, false);
  if (doc.is_discarded()) return Bad(path, "malformed JSON");
  if (!doc.is_object()) return Bad(path, "not a JSON object");
  return doc;
}

// A JSON document kept as text (vendor data): checked to parse, so that a consumer never gets
// a file that no JSON reader accepts.
Result<std::optional<std::string>> OptionalJson(Tree& tree, const std::string& path) {
  METASTACK_ASSIGN_OR_RETURN(auto text, Optional(tree, path));
  if (text && OrderedJson::parse(*text, nullptr, false).is_discarded())
    return Bad(path, "malformed JSON");
  return text;
}

// Keys as cloud-init's normalize_pubkey_data reads them: a string is split into lines, a list
// is taken item by item, a mapping's values are keys (or lists of keys); empty ones dropped.
void AddKeys(const OrderedJson& value, std::vector<std::string>& out) {
  auto add_line = [&](std::string line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) out.push_back(std::move(line));
  };
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    for (std::string_view line : SplitLines(s)) add_line(std::string(line));
  } else if (value.is_array() || value.is_object()) {
    for (const auto& item : value) AddKeys(item, out);
  }
}

Result<InstanceData> LoadOpenStack(Tree& tree) {
  const std::string kMeta = "openstack/latest/meta_data.json";
  InstanceData data;
  data.layout = Layout::kOpenStack;
  METASTACK_ASSIGN_OR_RETURN(std::string meta_text, Required(tree, kMeta));
  METASTACK_ASSIGN_OR_RETURN(OrderedJson meta, ParseObject(kMeta, meta_text));
  auto uuid = meta.find("uuid");
  if (uuid == meta.end() || !uuid->is_string() || uuid->get_ref<const std::string&>().empty())
    return Bad(kMeta, "uuid: missing or not a string");
  data.instance_id = uuid->get<std::string>();
  if (auto h = meta.find("hostname"); h != meta.end() && !h->is_null()) {
    if (!h->is_string()) return Bad(kMeta, "hostname: not a string");
    data.hostname = h->get<std::string>();
  }
  if (auto a = meta.find("admin_pass"); a != meta.end() && a->is_string())
    data.admin_pass = a->get<std::string>();
  if (auto k = meta.find("public_keys"); k != meta.end() && !k->is_null()) {
    if (!k->is_object()) return Bad(kMeta, "public_keys: not an object");
    AddKeys(*k, data.ssh_keys);
  }
  if (auto f = meta.find("files"); f != meta.end() && !f->is_null()) {
    if (!f->is_array()) return Bad(kMeta, "files: not a list");
    for (size_t i = 0; i < f->size(); ++i) {
      const auto& item = (*f)[i];
      std::string where = "files[" + std::to_string(i) + "]";
      if (!item.is_object() || !item.contains("path") || !item["path"].is_string() ||
          !item.contains("content_path") || !item["content_path"].is_string())
        return Bad(kMeta, where + ": needs string members path and content_path");
      std::string path = item["path"].get<std::string>();
      if (path.empty()) return Bad(kMeta, where + ".path: empty");
      if (path.front() != '/') path.insert(0, "/");  // as cloud-init writes a relative one
      std::string content = item["content_path"].get<std::string>();
      size_t start = content.find_first_not_of('/');
      if (start == std::string::npos) return Bad(kMeta, where + ".content_path: empty");
      METASTACK_ASSIGN_OR_RETURN(std::string bytes,
                                 Required(tree, "openstack/" + content.substr(start)));
      data.files.push_back({std::move(path), std::move(bytes)});
    }
  }
  METASTACK_ASSIGN_OR_RETURN(data.user_data, Optional(tree, "openstack/latest/user_data"));
  const std::string kNet = "openstack/latest/network_data.json";
  METASTACK_ASSIGN_OR_RETURN(auto net_text, Optional(tree, kNet));
  if (net_text) {
    auto net = nlohmann::json::parse(*net_text, nullptr, false);
    if (net.is_discarded()) return Bad(kNet, "malformed JSON");
    if (!net.is_object()) return Bad(kNet, "not a JSON object");
    data.network_data = std::move(net);
  }
  METASTACK_ASSIGN_OR_RETURN(data.vendor_data,
                             OptionalJson(tree, "openstack/latest/vendor_data.json"));
  METASTACK_ASSIGN_OR_RETURN(data.vendor_data2,
                             OptionalJson(tree, "openstack/latest/vendor_data2.json"));
  return data;
}

std::string TrimLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

Result<InstanceData> LoadEc2(Tree& tree) {
  InstanceData data;
  data.layout = Layout::kEc2;
  const std::string kMd = "latest/meta-data/";
  METASTACK_ASSIGN_OR_RETURN(std::string id, Required(tree, kMd + "instance-id"));
  data.instance_id = TrimLine(std::move(id));
  if (data.instance_id.empty()) return Bad(kMd + "instance-id", "empty");
  METASTACK_ASSIGN_OR_RETURN(auto host, Optional(tree, kMd + "local-hostname"));
  if (host) data.hostname = TrimLine(std::move(*host));
  METASTACK_ASSIGN_OR_RETURN(auto listing, Optional(tree, kMd + "public-keys"));
  if (listing) {
    // "0=name" per line; each key is at public-keys/<index>/openssh-key.
    for (std::string_view text : SplitLines(*listing)) {
      std::string line(text);
      std::string index = line.substr(0, line.find('='));
      if (index.empty()) continue;
      if (index.find_first_not_of("0123456789") != std::string::npos)
        return Bad(kMd + "public-keys", "not an index=name listing: " + line);
      METASTACK_ASSIGN_OR_RETURN(std::string key,
                                 Required(tree, kMd + "public-keys/" + index + "/openssh-key"));
      AddKeys(OrderedJson(key), data.ssh_keys);
    }
  }
  METASTACK_ASSIGN_OR_RETURN(data.user_data, Optional(tree, "latest/user-data"));
  return data;
}

Result<InstanceData> LoadNoCloud(Tree& tree) {
  InstanceData data;
  data.layout = Layout::kNoCloud;
  METASTACK_ASSIGN_OR_RETURN(std::string text, Required(tree, "meta-data"));
  auto yaml = ParseFlatYaml(text);
  if (!yaml) return Bad("meta-data", yaml.error().message);
  auto one = [&](const char* key) -> std::string {
    auto it = yaml->find(key);
    return it == yaml->end() || it->second.size() != 1 ? std::string() : it->second.front();
  };
  data.instance_id = one("instance-id");
  if (data.instance_id.empty()) return Bad("meta-data", "instance-id: missing");
  data.hostname = one("local-hostname");
  if (data.hostname.empty()) data.hostname = one("hostname");
  if (auto keys = yaml->find("public-keys"); keys != yaml->end())
    for (const auto& k : keys->second) AddKeys(OrderedJson(k), data.ssh_keys);
  METASTACK_ASSIGN_OR_RETURN(data.user_data, Optional(tree, "user-data"));
  METASTACK_ASSIGN_OR_RETURN(data.vendor_data, Optional(tree, "vendor-data"));
  METASTACK_ASSIGN_OR_RETURN(data.nocloud_network_config, Optional(tree, "network-config"));
  return data;
}

}  // namespace

std::string_view LayoutName(Layout layout) {
  switch (layout) {
    case Layout::kOpenStack:
      return "openstack";
    case Layout::kEc2:
      return "ec2";
    case Layout::kNoCloud:
      return "nocloud";
  }
  return "openstack";
}

Result<InstanceData> LoadInstance(Tree& tree, Layout layout) {
  Result<InstanceData> data = layout == Layout::kOpenStack ? LoadOpenStack(tree)
                              : layout == Layout::kEc2     ? LoadEc2(tree)
                                                           : LoadNoCloud(tree);
  if (data) data->source = tree.Describe();
  return data;
}

}  // namespace metastack::guest
