// Fuzz target: an instance document (the admin API's and the CLI's input) through
// core::ParseInstance.
//
// Invariants: parsing never throws; an error names what is wrong (a message); an accepted
// document's canonical form (InstanceToJson) is accepted again and is a fixed point: its
// text re-parses through ParseInstance to the same canonical JSON.

#include <cstdint>
#include <string>

#include "core/instance.h"
#include "fuzz/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace metastack;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<core::Instance> inst = std::unexpected(MakeError(ErrorCode::kInternal, "not parsed"));
  try {
    inst = core::ParseInstance(text);
  } catch (const std::exception& e) {
    fuzz::Fail(__FILE__, __LINE__, "ParseInstance threw", e.what());
  }
  if (!inst) {
    FUZZ_CHECK(inst.error().code == ErrorCode::kInvalidArgument, inst.error().ToString());
    FUZZ_CHECK(!inst.error().message.empty(), "an error without a message");
    return 0;
  }
  core::Json canonical = core::InstanceToJson(*inst);
  auto again = core::ParseInstanceJson(canonical);
  FUZZ_CHECK(again.has_value(),
             "canonical form refused: " + again.error().ToString() + "\n" + canonical.dump());
  FUZZ_CHECK(core::InstanceToJson(*again) == canonical, canonical.dump());
  std::string dumped = canonical.dump();
  auto reparsed = core::ParseInstance(dumped);
  FUZZ_CHECK(reparsed.has_value(),
             "canonical text refused: " + reparsed.error().ToString() + "\n" + dumped);
  FUZZ_CHECK(core::InstanceToJson(*reparsed) == canonical, dumped);
  return 0;
}
