// In the `metastack` binary only: the verbs that need server or database libraries hand the
// process over to metastack-server, installed beside it. metastack then starts in a few
// milliseconds (it loads libcrypto and libisofs, not libpq, libsystemd and what they pull in),
// and the server verbs cost one more execve.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <vector>

#include "verbs.h"

namespace metastack::cli {
namespace {

constexpr const char* kServerBinary = "metastack-server";

// Runs metastack-server from this binary's directory (/proc/self/exe, so that it works from a
// build tree as from /usr/bin) with this process's own command line: the same pid, argv,
// environment, open descriptors and capabilities, as systemd units and scripts expect.
[[noreturn]] void HandOver() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string server =
      ec ? std::string(kServerBinary) : (self.parent_path() / kServerBinary).string();
  std::vector<char*> argv;
  for (const std::string& arg : CommandLine()) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::cout.flush();
  if (!ec) execv(server.c_str(), argv.data());
  const int error = ec ? ec.value() : errno;
  std::cerr << "metastack: cannot run " << server << ": " << std::strerror(error) << "\n";
  std::exit(kExitFailure);
}

}  // namespace

Run SetupApi(CLI::App&) { HandOver(); }
Run SetupInstanceVerb(CLI::App&) { HandOver(); }
Run SetupNetworkVerb(CLI::App&) { HandOver(); }
Run SetupRouterVerb(CLI::App&) { HandOver(); }
Run SetupPortVerb(CLI::App&) { HandOver(); }
Run SetupAgentVerb(CLI::App&) { HandOver(); }
Run SetupProxyVerb(CLI::App&) { HandOver(); }
Run SetupProxyCtlVerb(CLI::App&) { HandOver(); }
Run SetupServeVerb(CLI::App&) { HandOver(); }
Run SetupNetVerb(CLI::App&) { HandOver(); }

Result<core::Instance> LoadStoredInstance(const std::string&, const std::string&) { HandOver(); }

}  // namespace metastack::cli
