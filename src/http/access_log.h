#pragma once
// One access-log line per answered request: logfmt key=value pairs, in this order,
//   listener=qrouter-1 client=10.0.0.5 instance=8e1f7c4a-... method=GET
//   path=/openstack/latest/meta_data.json status=200 ms=0.412
// (one line; wrapped here). A value that is empty or holds a space, '=', '"', '\' or a byte
// outside printable ASCII is double-quoted, '"' and '\' escaped with a backslash, and other
// such bytes written \n, \r, \t or \xNN: whatever a guest puts in its path, the line stays one
// line and no field can be forged. The caller logs it (LogInfo("access", ...)).
// Pure; thread-safe.

#include <string>
#include <string_view>

namespace metastack::http {

struct AccessLogEntry {
  std::string_view listener{};     // the listener's name, or the network namespace it serves
  std::string_view client{};       // the guest's address
  std::string_view instance_id{};  // "" while the request is tied to no instance
  std::string_view method{};
  std::string_view path{};  // as received
  unsigned status = 0;
  double duration_ms = 0;  // written with three decimals
};

std::string FormatAccessLog(const AccessLogEntry& entry);

}  // namespace metastack::http
