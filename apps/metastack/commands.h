#pragma once
// The metastack command line: one table of verbs, each with its one-line help and a function
// that declares its flags on a CLI11 sub-app and returns what to run once flags are parsed.

#include <CLI/CLI.hpp>
#include <functional>
#include <span>

namespace metastack::cli {

using Run = std::function<int()>;

struct Command {
  const char* name;
  const char* help;
  Run (*setup)(CLI::App& app);
};

std::span<const Command> Commands();

// Exit codes shared by every verb.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the operation failed (invalid document, not found ...)
inline constexpr int kExitUsage = 2;    // bad flags

}  // namespace metastack::cli
