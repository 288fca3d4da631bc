#pragma once
// Nova's DynamicJSON vendor data, the pure half (nova/api/metadata/vendordata_dynamic.py): the
// body Nova POSTs to each target, and how a target's answer is read. Fetching, deadlines and
// caching are api/vendor_data.h's; placing the answers in vendor_data2.json is Render's, given
// them through RenderContext::dynamic_vendor_data. Pure functions; thread-safe.

#include <string>
#include <string_view>

#include "base/error.h"
#include "core/instance.h"
#include "core/py_json.h"

namespace metastack::core {

// The request body, byte for byte as Nova's jsonutils.dumps writes it:
//   {"project-id": P, "instance-id": UUID, "image-id": IMAGE or null, "user-data": base64 or
//    null, "hostname": HOSTNAME, "metadata": {meta}, "boot-roles": ""}
// "user-data" is base64, as Nova stores it; "hostname" is the instance's, without the DHCP
// domain; "boot-roles" is the Keystone roles of the boot request in Nova, which we do not have.
std::string DynamicVendorDataRequest(const Instance& instance);

// A target's 2xx answer body as Nova reads it (`jsonutils.loads(res.text)` unless empty): an
// empty body is {}; otherwise any JSON value, or kInvalidArgument "not JSON".
Result<Json> ParseDynamicVendorDataAnswer(std::string_view body);

}  // namespace metastack::core
