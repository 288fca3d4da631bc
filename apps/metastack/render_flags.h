#pragma once
// Instance documents and render settings as every rendering verb takes them from flags.

#include <CLI/CLI.hpp>
#include <string>

#include "base/error.h"
#include "core/instance.h"
#include "core/metadata.h"

namespace metastack::cli {

// --dhcp-domain and --vendor-data, shared by render, get and configdrive build.
struct RenderFlags {
  std::string dhcp_domain = "novalocal";
  std::string vendor_data_file;

  void Declare(CLI::App& app);
  Result<core::Settings> Build() const;
};

// Reads and validates an instance document; errors read "PATH: field: reason".
Result<core::Instance> LoadInstance(const std::string& path);

}  // namespace metastack::cli
