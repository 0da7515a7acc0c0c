#include "client/cli/delete_options.hpp"

#include <string>

namespace ft::client {

void add_delete_options(CLI::App& app, DeleteFlags& target, std::string_view where) {
  app.add_flag("--delete", target.delete_extra,
               "With -r: delete " + std::string(where) +
                   " what the source tree lacks, after every transfer succeeded");
  app.add_flag("--delete-excluded", target.delete_excluded,
               "With --delete: delete excluded names too (they are kept otherwise)");
  target.max_delete =
      app.add_option("--max-delete", target.max_delete_value,
                     "With --delete: delete at most N names; the rest are left (exit status 11)")
          ->type_name("N");
}

std::optional<DeleteOptions> build_delete_options(std::string_view program, bool recursive,
                                                  const DeleteFlags& flags, int& status) {
  const bool max_given = flags.max_delete != nullptr && flags.max_delete->count() > 0;
  if ((flags.delete_extra || flags.delete_excluded || max_given) && !recursive) {
    status = usage_error(program, "--delete, --delete-excluded and --max-delete need -r");
    return std::nullopt;
  }
  if ((flags.delete_excluded || max_given) && !flags.delete_extra) {
    status = usage_error(program, "--delete-excluded and --max-delete need --delete");
    return std::nullopt;
  }
  DeleteOptions options;
  options.enabled = flags.delete_extra;
  options.excluded_too = flags.delete_excluded;
  if (max_given) options.max = flags.max_delete_value;
  return options;
}

}  // namespace ft::client
