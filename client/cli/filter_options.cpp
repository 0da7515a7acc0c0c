#include "client/cli/filter_options.hpp"

#include <fstream>
#include <iostream>
#include <map>

#include "common/rules/path_rules.hpp"

namespace ft::client {
namespace {

// Reads a rule or list file whole ("-" is stdin, as in rsync), refusing
// one larger than kMaxFilterFileBytes.
std::optional<std::string> read_list_file(const std::string& name, std::string& why) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (name != "-") {
    file.open(name, std::ios::binary);
    if (!file) {
      why = "cannot read '" + printable(name) + "'";
      return std::nullopt;
    }
    in = &file;
  }
  std::string text;
  char buffer[65536];
  while (in->read(buffer, sizeof buffer) || in->gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in->gcount()));
    if (text.size() > kMaxFilterFileBytes) {
      why = "'" + printable(name) + "' is larger than " + std::to_string(kMaxFilterFileBytes) +
            " bytes";
      return std::nullopt;
    }
  }
  if (in->bad()) {
    why = "cannot read '" + printable(name) + "'";
    return std::nullopt;
  }
  return text;
}

}  // namespace

void add_filter_options(CLI::App& app, FilterOptions& target, bool per_directory) {
  const char* group = "Filters (with -r; first matching rule wins)";
  target.exclude = app.add_option("--exclude", target.exclude_values,
                                  "Leave out names matching PATTERN (rsync's rules)")
                       ->type_name("PATTERN")
                       ->allow_extra_args(false)
                       ->group(group);
  target.include = app.add_option("--include", target.include_values, "Take names matching PATTERN")
                       ->type_name("PATTERN")
                       ->allow_extra_args(false)
                       ->group(group);
  target.exclude_from =
      app.add_option("--exclude-from", target.exclude_from_values,
                     "Read rules from FILE: a pattern per line to leave out, '+ PATTERN' to take")
          ->type_name("FILE")
          ->allow_extra_args(false)
          ->group(group);
  app.add_option("--files-from", target.files_from,
                 "Transfer only the paths listed in FILE (relative to the tree)")
      ->type_name("FILE")
      ->group(group);
  if (!per_directory) return;
  app.add_flag("--ftignore", target.ftignore,
               "Read rules from each directory's .ftignore (for it and below)")
      ->group(group);
}

bool filters_given(const FilterOptions& options) {
  return !options.exclude_values.empty() || !options.include_values.empty() ||
         !options.exclude_from_values.empty() || !options.files_from.empty() || options.ftignore;
}

std::optional<FilterSet> build_filter_set(std::string_view program, const CLI::App& app,
                                          const FilterOptions& options, int& status) {
  FilterSet set;
  set.per_directory = options.ftignore;
  // CLI11 keeps each option's values apart; parse_order() has one entry per
  // occurrence, which gives back the order the user wrote them in.
  std::map<const CLI::Option*, std::size_t> used;
  std::string why;
  for (const CLI::Option* option : app.parse_order()) {
    const std::vector<std::string>* values = nullptr;
    if (option == options.exclude) values = &options.exclude_values;
    if (option == options.include) values = &options.include_values;
    if (option == options.exclude_from) values = &options.exclude_from_values;
    if (values == nullptr) continue;
    const std::size_t index = used[option]++;
    if (index >= values->size()) continue;
    const std::string& value = (*values)[index];
    if (option == options.exclude_from) {
      auto text = read_list_file(value, why);
      auto rules = text ? parse_filter_file(*text, why) : std::nullopt;
      if (!rules) {
        if (text) why = "--exclude-from '" + printable(value) + "': " + why;
        status = usage_error(program, why);
        return std::nullopt;
      }
      set.rules.insert(set.rules.end(), rules->begin(), rules->end());
      continue;
    }
    const FilterAction action =
        option == options.include ? FilterAction::kInclude : FilterAction::kExclude;
    auto rule = parse_filter_rule(action, value, why);
    if (!rule) {
      status = usage_error(program, "bad pattern '" + printable(value) + "': " + why);
      return std::nullopt;
    }
    set.rules.push_back(std::move(*rule));
  }
  if (!options.files_from.empty()) {
    auto text = read_list_file(options.files_from, why);
    set.files_from.emplace();
    if (!text || !set.files_from->add_list(*text, why)) {
      if (text) why = "--files-from '" + printable(options.files_from) + "': " + why;
      status = usage_error(program, why);
      return std::nullopt;
    }
  }
  return set;
}

}  // namespace ft::client
