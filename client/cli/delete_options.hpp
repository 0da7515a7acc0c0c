#pragma once
// --delete, --delete-excluded and --max-delete of ftsend -r and ftget -r
// (docs/client.md, "Mirrors"), in one block like the filter options.
#include <cstdint>
#include <optional>
#include <string_view>

#include "client/cli/cli_common.hpp"
#include "client/transfer/delete_plan.hpp"

namespace ft::client {

/// What the options gave, before they are checked.
struct DeleteFlags {
  bool delete_extra = false;
  bool delete_excluded = false;
  CLI::Option* max_delete = nullptr;
  std::uint64_t max_delete_value = 0;
};

/// Adds the options to `app`; `where` says where deletions happen ("on the
/// server", "locally") for the help text.
void add_delete_options(CLI::App& app, DeleteFlags& target, std::string_view where);

/// The options as the engine takes them; on a bad combination (any of
/// them without -r, --delete-excluded or --max-delete without --delete)
/// prints a usage error and returns nullopt with `status` set.
std::optional<DeleteOptions> build_delete_options(std::string_view program, bool recursive,
                                                  const DeleteFlags& flags, int& status);

}  // namespace ft::client
