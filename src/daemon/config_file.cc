#include "daemon/config_file.h"

#include <toml++/toml.h>

#include <charconv>
#include <map>
#include <set>
#include <stdexcept>

#include "base/log.h"
#include "daemon/config.h"

namespace metastack::daemon {
namespace {

std::string Primary(const CLI::Option& opt) {
  return opt.get_lnames().empty() ? "" : opt.get_lnames().front();
}

// The key an option has in its section: its long name less the "SECTION-" prefix.
std::string KeyOf(const CLI::Option& opt) {
  std::string name = Primary(opt), prefix = opt.get_group() + "-";
  return name.starts_with(prefix) ? name.substr(prefix.size()) : name;
}

// (section, key) -> option of `app`.
std::map<std::pair<std::string, std::string>, CLI::Option*> Keys(CLI::App& app) {
  std::map<std::pair<std::string, std::string>, CLI::Option*> out;
  for (CLI::Option* opt : app.get_options()) {
    if (!opt->get_configurable() || Primary(*opt).empty()) continue;
    out[{opt->get_group(), KeyOf(*opt)}] = opt;
  }
  return out;
}

// Every (section, key) some daemon takes.
const std::set<std::pair<std::string, std::string>>& AllKeys() {
  static const auto keys = [] {
    std::set<std::pair<std::string, std::string>> out;
    for (Components run : {Components{true, false, false}, Components{false, true, false},
                           Components{false, false, true}, Components{true, true, true}}) {
      CLI::App app;
      DaemonConfig config;
      config.run = run;
      Declare(app, config);
      for (const auto& [key, _] : Keys(app)) out.insert(key);
    }
    return out;
  }();
  return keys;
}

std::string Where(const std::string& path, const toml::node& node) {
  return path + ":" + std::to_string(node.source().begin.line);
}

// A scalar as the flag's text.
std::string Scalar(const toml::node& node, const std::string& where, const std::string& key) {
  if (auto s = node.as_string()) return s->get();
  if (auto i = node.as_integer()) return std::to_string(i->get());
  if (auto b = node.as_boolean()) return b->get() ? "true" : "false";
  if (auto f = node.as_floating_point()) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, f->get());
    return std::string(buf, end);
  }
  throw std::runtime_error(where + ": " + key +
                           ": expected a string, number or boolean (or an array of them)");
}

void Apply(CLI::Option& opt, std::vector<std::string> inputs, const std::string& where,
           const std::string& key) {
  if (opt.count() > 0) return;  // given on the command line
  if (inputs.size() > 1 && opt.get_items_expected_max() < static_cast<int>(inputs.size()))
    throw std::runtime_error(where + ": " + key + ": takes one value, not an array");
  // An empty array means none: an empty string, which repeatable listener flags skip.
  if (inputs.empty()) inputs.push_back("");
  try {
    opt.add_result(inputs);
    opt.run_callback();
  } catch (const CLI::Error& e) {
    throw std::runtime_error(where + ": " + key + ": " + e.what());
  }
}

}  // namespace

void DeclareConfigFile(CLI::App& app, std::string& path) {
  app.add_option("--config", path,
                 "TOML file of options (see etc/metastack.toml): a table per section of this "
                 "help, a key per flag; flags given here win over it. Re-read on SIGHUP")
      ->group(kGeneral)
      ->configurable(false);
}

void ApplyConfigFile(CLI::App& app, const std::string& path) {
  if (path.empty()) return;
  toml::table file;
  try {
    file = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::string what(e.description());
    if (e.source().begin.line == 0) throw std::runtime_error(path + ": " + what);
    throw std::runtime_error(path + ":" + std::to_string(e.source().begin.line) + ": " + what);
  }
  auto keys = Keys(app);
  const std::set<std::string> sections(std::begin(kSections), std::end(kSections));
  std::string skipped;
  auto apply = [&](const std::string& section, const std::string& key, const toml::node& node) {
    std::string where = Where(path, node);
    std::string name = section == kGeneral ? key : section + "." + key;
    if (node.is_table())
      throw std::runtime_error(where + ": " + name +
                               (section == kGeneral && sections.count(key)
                                    ? ": a section must come after the top-level keys"
                                    : ": unknown section"));
    auto it = keys.find({section, key});
    if (it == keys.end()) {
      if (!AllKeys().count({section, key}))
        throw std::runtime_error(where + ": unknown key " + name);
      skipped += (skipped.empty() ? "" : ", ") + name;
      return;
    }
    std::vector<std::string> inputs;
    if (auto array = node.as_array()) {
      for (const auto& element : *array) inputs.push_back(Scalar(element, where, name));
    } else {
      inputs.push_back(Scalar(node, where, name));
    }
    Apply(*it->second, std::move(inputs), where, name);
  };
  for (const auto& [k, node] : file) {
    std::string key(k.str());
    if (node.is_table()) {
      if (!sections.count(key) || key == kGeneral)
        throw std::runtime_error(Where(path, node) + ": unknown section [" + key + "]");
      for (const auto& [k2, child] : *node.as_table()) apply(key, std::string(k2.str()), child);
    } else {
      apply(kGeneral, key, node);
    }
  }
  if (!skipped.empty())
    Log(LogLevel::kDebug, "config",
        path + ": keys of components this daemon does not run, skipped: " + skipped);
}

}  // namespace metastack::daemon
