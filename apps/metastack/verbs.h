#pragma once
// The setup function of each verb, one file per family (commands.cc keeps the table).

#include "commands.h"

namespace metastack::cli {

Run SetupApi(CLI::App& app);
Run SetupInstanceVerb(CLI::App& app);
Run SetupNetworkVerb(CLI::App& app);
Run SetupRouterVerb(CLI::App& app);
Run SetupPortVerb(CLI::App& app);
Run SetupAgentVerb(CLI::App& app);
Run SetupProxyVerb(CLI::App& app);
Run SetupProxyCtlVerb(CLI::App& app);
Run SetupServeVerb(CLI::App& app);
Run SetupNetVerb(CLI::App& app);
Run SetupConfigDriveVerb(CLI::App& app);

}  // namespace metastack::cli
