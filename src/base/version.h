#pragma once
// The version this build was configured with: CMake's project(VERSION), e.g. "0.1.0", the one
// place it is written. Pure; thread-safe.

#include <string_view>

namespace metastack {

std::string_view Version();

}  // namespace metastack
