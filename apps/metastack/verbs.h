#pragma once
// The setup function of each verb, one file per family (commands.cc keeps the table). In the
// `metastack` binary the server verbs' are handover.cc's: they run metastack-server instead.

#include <string>

#include "base/error.h"
#include "commands.h"
#include "core/instance.h"

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

// An instance from a store URL (sqlite:PATH, postgresql://...), for `configdrive build
// INSTANCE_ID`: cmd_store.cc opens the store; handover.cc hands the process over to
// metastack-server, which links the database libraries.
Result<core::Instance> LoadStoredInstance(const std::string& store_url,
                                          const std::string& instance_id);

}  // namespace metastack::cli
