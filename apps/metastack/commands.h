#pragma once
// The metastack command line: one table of verbs, each with its one-line help and a function
// that declares its flags on a CLI11 sub-app and returns what to run once flags are parsed.
// Two binaries share the table: `metastack-server` links every verb; `metastack` links the
// verbs that need neither server nor database libraries (validate, render, configdrive, get)
// and, for the others, setup functions that hand the process over to metastack-server
// (handover.cc), so that those verbs start without loading what they do not use.

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace metastack::cli {

using Run = std::function<int()>;

struct Command {
  const char* name;
  const char* help;
  Run (*setup)(CLI::App& app);
};

std::span<const Command> Commands();

// The verb argv names (its first word that is not a flag), or nullptr when it names none.
const Command* ChosenCommand(int argc, char** argv);

// The process's whole command line, as main() received it (a daemon parses it again on SIGHUP).
void SetCommandLine(int argc, char** argv);
const std::vector<std::string>& CommandLine();

// Exit codes shared by every verb.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the operation failed (invalid document, not found ...)
inline constexpr int kExitUsage = 2;    // bad flags

// How a verb fails: prints "metastack: <message>" on standard error and returns `code`.
int Fail(std::string_view message, int code = kExitFailure);
int Fail(const Error& error, int code = kExitFailure);

// "field: message" from an operators' API error body ({"error": {"message", "field"}}), or
// `fallback` when the body carries no error object.
std::string ErrorBodyMessage(const nlohmann::json& body, std::string fallback);

}  // namespace metastack::cli
