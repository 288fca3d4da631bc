#include "base/version.h"

namespace metastack {

// METASTACK_VERSION is defined for this module by src/base/CMakeLists.txt.
std::string_view Version() { return METASTACK_VERSION; }

}  // namespace metastack
