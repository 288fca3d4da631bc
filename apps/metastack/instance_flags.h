#pragma once
// An instance from flags, as `nova boot` takes them (docs/instance-format.md, "From flags"):
// `metastack instance create` and `metastack configdrive build` declare the same flags and
// build the document here, alone or on top of an instance document (-f) or a stored instance,
// the flags winning. What the flags leave out gets Nova's defaults: a random uuid (the caller
// prints it), the hostname from --name as nova.utils.sanitize_hostname makes it (else
// "server-<uuid>", as Nova names an unnamed server).
//
// Errors name the flag ("--ssh-key id.pub: no such file"); the whole document is then
// validated by core::ParseInstanceJson, and a field a flag set is reported under that flag.

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "core/instance.h"

namespace metastack::cli {

struct InstanceFlags {
  std::optional<std::string> uuid, name, hostname, project, availability_zone;
  std::optional<std::string> user_data_file, vendor_data_file, network_data_file;
  std::vector<std::string> ssh_keys;   // FILE
  std::vector<std::string> key_names;  // NAME=FILE
  std::vector<std::string> files;      // DEST=SRC
  std::vector<std::string> meta;       // KEY=VALUE
  std::vector<std::string> nics;       // key=value,... (see Declare)
  bool config_drive = false;

  // `vendor_data`: whether --vendor-data is declared here (instance create) or is the render
  // setting of the same name (configdrive build, render_flags.h). `config_drive`: whether
  // --config-drive is declared (instance create: the instance wants a drive kept).
  void Declare(CLI::App& app, bool vendor_data, bool config_drive_flag);

  // Whether any instance flag was given.
  bool Any() const;

  // `base` (an instance document; an empty object for none) with the flags applied and the
  // defaults filled in. `base_name` names the base in errors (a file name, or the instance id).
  // `generated_uuid` is set when the uuid was made here.
  Result<core::Json> Apply(core::Json base, const std::string& base_name,
                           std::optional<std::string>* generated_uuid) const;
};

// nova.utils.sanitize_hostname for ASCII names: lower case, ' ', '_' and '.' become '-', other
// characters that are not letters, digits or '-' are dropped, '-' trimmed from both ends, at
// most 63 characters. Empty when nothing is left.
std::string SanitizeHostname(std::string_view name);

// A random (version 4) UUID in its canonical lower-case form.
std::string RandomUuid();

}  // namespace metastack::cli
