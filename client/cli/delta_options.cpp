#include "client/cli/delta_options.hpp"

#include <string>

namespace ft::client {

void add_delta_options(CLI::App& app, DeltaFlags& target, bool upload) {
  const std::string help =
      upload ? "Send only what changed against the server's older copy of any file (default: "
               "files of 8 MiB or more)"
             : "Receive only what changed against the local older copy of any file (default: "
               "files of 8 MiB or more whose size or mtime differ)";
  auto* always = app.add_flag("--delta", target.always, help);
  app.add_flag("--no-delta", target.never,
               upload ? "Always send whole files, never a delta"
                      : "Always receive whole files, never a delta")
      ->excludes(always);
}

}  // namespace ft::client
