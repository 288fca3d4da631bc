// guest_network_render: a test-only driver of RenderNetworkd and RenderIfupdown, for
// tests/integration/test_guest_network_vs_cloudinit.py, which compares the files it writes
// with cloud-init's.
//
//   guest_network_render NETWORK_DATA_JSON ROOT [MAC=NAME ...]
//
// Writes every file both renderers produce under ROOT (ROOT/etc/systemd/network/...,
// ROOT/etc/network/interfaces); the MAC=NAME pairs stand for /sys/class/net. Exit 0 when both
// rendered; 1 with each renderer's error on stderr otherwise (what did render is written); 2
// on bad usage or an unreadable input.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "base/file.h"
#include "guest/network_config.h"

namespace {

bool Write(const std::string& root, const metastack::guest::ConfigFile& file) {
  std::filesystem::path path = root + file.path;
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  std::ofstream out(path, std::ios::binary);
  out << file.contents;
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s NETWORK_DATA_JSON ROOT [MAC=NAME ...]\n", argv[0]);
    return 2;
  }
  auto text = metastack::ReadFile(argv[1]);
  if (!text) {
    std::fprintf(stderr, "%s\n", text.error().ToString().c_str());
    return 2;
  }
  nlohmann::json doc = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    std::fprintf(stderr, "%s: not JSON\n", argv[1]);
    return 2;
  }
  std::map<std::string, std::string> nics;
  for (int i = 3; i < argc; ++i) {
    std::string pair = argv[i];
    size_t eq = pair.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "not MAC=NAME: %s\n", argv[i]);
      return 2;
    }
    nics[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  std::string root = argv[2];
  int status = 0;
  if (auto files = metastack::guest::RenderNetworkd(doc, nics); files) {
    for (const auto& file : *files)
      if (!Write(root, file)) status = 2;
  } else {
    std::fprintf(stderr, "networkd: %s\n", files.error().ToString().c_str());
    status = 1;
  }
  if (auto file = metastack::guest::RenderIfupdown(doc, nics); file) {
    if (!Write(root, *file)) status = 2;
  } else {
    std::fprintf(stderr, "ifupdown: %s\n", file.error().ToString().c_str());
    status = status ? status : 1;
  }
  return status;
}
