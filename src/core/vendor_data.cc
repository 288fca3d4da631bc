#include "core/vendor_data.h"

#include "base/base64.h"

namespace metastack::core {

std::string DynamicVendorDataRequest(const Instance& instance) {
  Json body;
  body["project-id"] = instance.project_id;
  body["instance-id"] = instance.uuid;
  body["image-id"] = instance.image_id ? Json(*instance.image_id) : Json(nullptr);
  body["user-data"] = instance.user_data ? Json(Base64Encode(*instance.user_data)) : Json(nullptr);
  body["hostname"] = instance.hostname;
  Json meta = Json::object();
  for (const auto& [k, v] : instance.meta) meta[k] = v;
  body["metadata"] = std::move(meta);
  body["boot-roles"] = "";
  return DumpPython(body);
}

Result<Json> ParseDynamicVendorDataAnswer(std::string_view body) {
  if (body.empty()) return Json::object();
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::unexpected(MakeError(ErrorCode::kInvalidArgument, "not JSON"));
  return j;
}

}  // namespace metastack::core
