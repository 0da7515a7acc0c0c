#pragma once
// The filter options of ftsend -r and ftget -r (--exclude, --include,
// --exclude-from, --files-from, --ftignore), in one block so that the rest
// of the command line does not need to know about them.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/cli/cli_common.hpp"
#include "common/rules/filter_rules.hpp"

namespace ft::client {

/// What the filter options gave, before their files are read.
struct FilterOptions {
  CLI::Option* exclude = nullptr;
  CLI::Option* include = nullptr;
  CLI::Option* exclude_from = nullptr;
  std::vector<std::string> exclude_values, include_values, exclude_from_values;
  std::string files_from;
  bool ftignore = false;
};

/// Adds the filter options to `app`, filling `target`; --ftignore only
/// with `per_directory` (the side that walks a local tree reads them).
void add_filter_options(CLI::App& app, FilterOptions& target, bool per_directory);

/// True if any filter option was given.
bool filters_given(const FilterOptions& options);

/// The rules, in the order the options were given (first match wins),
/// with --exclude-from and --files-from read; on a bad pattern or an
/// unreadable file, prints a usage error and returns nullopt
/// (`status` the exit status). Called after a successful parse.
std::optional<FilterSet> build_filter_set(std::string_view program, const CLI::App& app,
                                          const FilterOptions& options, int& status);

}  // namespace ft::client
