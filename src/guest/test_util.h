#pragma once
// Test support for guest/: an in-memory Tree and a temporary directory. Header-only.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "guest/tree.h"

namespace metastack::guest::fakes {

// Files by path; Read of anything else is kNotFound, or `failure` for every path when set.
class MapTree final : public Tree {
 public:
  std::map<std::string, std::string> files;
  std::optional<Error> failure;

  Result<std::string> Read(std::string_view path) override {
    if (failure) return std::unexpected(*failure);
    auto it = files.find(std::string(path));
    if (it == files.end())
      return std::unexpected(MakeError(ErrorCode::kNotFound, "no " + std::string(path)));
    return it->second;
  }
  std::string Describe() const override { return "test tree"; }
};

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/metastack-guest-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  void Write(const std::string& rel, const std::string& contents) const {
    std::filesystem::path p = path + "/" + rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << contents;
  }
  std::string Read(const std::string& rel) const {
    std::ifstream in(path + "/" + rel, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  bool Exists(const std::string& rel) const {
    return std::filesystem::exists(std::filesystem::symlink_status(path + "/" + rel));
  }
};

}  // namespace metastack::guest::fakes
