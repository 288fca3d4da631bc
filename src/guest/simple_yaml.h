#pragma once
// The part of YAML a NoCloud meta-data file uses: a top-level mapping whose values are scalars
// (plain, 'single-' or "double-quoted" with YAML's escapes) or block lists ("- item") of
// scalars, with '#' comments and blank lines; or the same as a JSON object (YAML's superset).
// This is what `metastack configdrive build --format nocloud`, cloud-localds and hand-written
// seeds contain. Anything else (nested mappings, anchors, multi-line scalars, flow lists) is
// kInvalidArgument "line N: ..." rather than a guess. Pure; thread-safe.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace metastack::guest {

// key -> its scalar (one element) or its list's items.
using FlatYaml = std::map<std::string, std::vector<std::string>>;

Result<FlatYaml> ParseFlatYaml(std::string_view text);

}  // namespace metastack::guest
