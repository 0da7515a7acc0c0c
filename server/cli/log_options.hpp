#pragma once
// ftserve's logging and metrics options (--log-level, --log-format,
// --access-log, --metrics): declared on the command line here, checked and
// applied after parsing, so that main() only adds one block for them.
#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "common/rules/address.hpp"

namespace ft::server {

struct LogOptions {
  std::string level = "info";
  std::string format = "text";
  std::string access_log = "on";
  std::string metrics;  // ADDR:PORT, "" for none
  /// Set by apply(): where --metrics listens.
  std::optional<RemoteSpec> metrics_address;
};

/// Declares the options on `app`, filling `options` when it parses.
void add_log_options(CLI::App& app, LogOptions& options);

/// Checks the values and configures the process's log (log::configure),
/// noticing journald on stderr. Returns 0, or the usage exit status after
/// printing what is wrong.
int apply_log_options(LogOptions& options);

}  // namespace ft::server
