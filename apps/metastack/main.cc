// metastack: parse flags -> build objects -> run.
#include <iostream>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "metastack gives virtual machines their identity at boot, the two ways OpenStack does:\n"
      "config drives and the metadata service at 169.254.169.254.",
      "metastack"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "metastack 0.1.0");
  metastack::cli::SetCommandLine(argc, argv);
  metastack::cli::Run run;
  for (const auto& command : metastack::cli::Commands()) {
    CLI::App* sub = app.add_subcommand(command.name, command.help);
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
