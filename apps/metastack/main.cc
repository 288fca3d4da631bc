// metastack: parse flags -> build objects -> run. The same main for both binaries
// (CMakeLists.txt): `metastack`, which runs the verbs that need neither server nor database
// libraries and hands the others to `metastack-server`, and `metastack-server`, which runs them
// all.
#include <sys/prctl.h>

#include <iostream>

#include "base/version.h"
#include "commands.h"

int main(int argc, char** argv) {
  // The process's name as ps, top and `pgrep -x` show it: `metastack` for both binaries (the
  // kernel would show a handed-over daemon as "metastack-serve", its file name cut at 15).
  ::prctl(PR_SET_NAME, "metastack", 0, 0, 0);
  CLI::App app{
      "metastack gives virtual machines their identity at boot, the two ways OpenStack does:\n"
      "config drives and the metadata service at 169.254.169.254.",
      "metastack"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "metastack " + std::string(metastack::Version()));
  metastack::cli::SetCommandLine(argc, argv);
  // Every verb is listed (--help names them all), but only the chosen one declares its flags:
  // building every verb's options cost more than most verbs' work.
  const metastack::cli::Command* chosen = metastack::cli::ChosenCommand(argc, argv);
  metastack::cli::Run run;
  for (const auto& command : metastack::cli::Commands()) {
    CLI::App* sub = app.add_subcommand(command.name, command.help);
    if (&command != chosen) continue;
    metastack::cli::Run r = command.setup(*sub);
    sub->callback([&run, r] { run = r; });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : metastack::cli::kExitUsage;
  }
  try {
    return run ? run() : metastack::cli::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "metastack: " << e.what() << "\n";
    return metastack::cli::kExitFailure;
  }
}
