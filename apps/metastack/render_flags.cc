#include "render_flags.h"

#include "base/file.h"

namespace metastack::cli {

void RenderFlags::Declare(CLI::App& app) {
  app.add_option("--dhcp-domain", dhcp_domain,
                 "Domain appended to the hostname (\"web-01.novalocal\"); '' for bare names")
      ->capture_default_str();
  app.add_option("--vendor-data", vendor_data_file,
                 "JSON file of vendor data for instances whose document has none");
}

Result<core::Settings> RenderFlags::Build() const {
  core::Settings s;
  s.dhcp_domain = dhcp_domain;
  s.today = TodayUtc();
  if (!vendor_data_file.empty()) {
    METASTACK_ASSIGN_OR_RETURN(std::string text, ReadFile(vendor_data_file));
    auto j = core::Json::parse(text, nullptr, false);
    if (j.is_discarded())
      return std::unexpected(
          MakeError(ErrorCode::kInvalidArgument, "not valid JSON", vendor_data_file));
    s.vendor_data = std::move(j);
  }
  return s;
}

Result<core::Instance> LoadInstance(const std::string& path) {
  METASTACK_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  auto inst = core::ParseInstance(text);
  if (!inst) {
    Error e = inst.error();
    e.message = path + ": " + e.ToString();
    e.field.clear();
    return std::unexpected(std::move(e));
  }
  return inst;
}

}  // namespace metastack::cli
