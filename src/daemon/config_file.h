#pragma once
// The daemons' configuration file: TOML, one table per section of config.h, every key a flag.
//
//   store = "sqlite:/var/lib/metastack/metastack.db"   # top level: the general section
//   [admin]
//   listen = "127.0.0.1:8776"                          # --admin-listen
//   [proxy]
//   listen = ["qrouter-R,qrouter-R,router,R"]          # --listen, repeatable: an array
//
// A key K in section S is the flag of group S named --S-K or --K. Values are strings, numbers,
// booleans or arrays of them (arrays for repeatable flags; [] or "" for none). Flags given on
// the command line win over the file (a repeatable flag replaces the file's whole array).
//
// Errors name the file, line and key: a missing or unreadable file, a TOML syntax error, an
// unknown section or key, an array for a flag that takes one value, a value the flag refuses.
// One file may serve every daemon of a host: a key that belongs to a component this daemon
// does not run (the agent's `api-url` read by `serve`, say) is skipped and logged, never an
// error; a key no daemon knows is.

#include <CLI/CLI.hpp>
#include <string>

namespace metastack::daemon {

// Adds --config FILE to `app` (not itself configurable).
void DeclareConfigFile(CLI::App& app, std::string& path);

// Applies `path`'s keys to the options of `app` that its command line left unset, as if given
// there. Call after app.parse(). Throws std::runtime_error.
void ApplyConfigFile(CLI::App& app, const std::string& path);

}  // namespace metastack::daemon
