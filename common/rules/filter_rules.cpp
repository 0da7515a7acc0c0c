#include "common/rules/filter_rules.hpp"

#include "common/rules/wildmatch.hpp"

namespace ft {
namespace {

// Tries the pattern against the whole path and, unless anchored, against
// each tail that starts after a '/'. A pattern without '/' or "**" can only
// match the last component, so this is rsync's rule for every pattern.
bool matches_path(const FilterRule& rule, std::string_view path) {
  if (wildmatch(rule.pattern, path)) return true;
  if (rule.anchored) return false;
  for (std::size_t slash = path.find('/'); slash != std::string_view::npos;
       slash = path.find('/', slash + 1)) {
    if (wildmatch(rule.pattern, path.substr(slash + 1))) return true;
  }
  return false;
}

// Calls visit(line, number) for each line of `text` (numbered from 1),
// without its "\n" or "\r\n"; stops at the first visit that returns false.
template <class Visit>
bool for_each_line(std::string_view text, Visit visit) {
  for (std::size_t number = 1; !text.empty(); ++number) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!visit(line, number)) return false;
  }
  return true;
}

}  // namespace

std::optional<FilterRule> parse_filter_rule(FilterAction action, std::string_view pattern,
                                            std::string& why) {
  if (pattern.size() > kMaxPatternBytes) {
    why = "pattern longer than " + std::to_string(kMaxPatternBytes) + " bytes";
    return std::nullopt;
  }
  FilterRule rule;
  rule.action = action;
  if (!pattern.empty() && pattern.front() == '/') {
    rule.anchored = true;
    pattern.remove_prefix(1);
  }
  if (pattern.size() > 4 && pattern.ends_with("/***")) {
    rule.and_below = true;
    pattern.remove_suffix(4);
  } else if (!pattern.empty() && pattern.back() == '/') {
    rule.directory_only = true;
    while (!pattern.empty() && pattern.back() == '/') pattern.remove_suffix(1);
  }
  if (pattern.empty()) {
    why = "empty pattern";
    return std::nullopt;
  }
  rule.pattern = std::string(pattern);
  return rule;
}

std::optional<std::vector<FilterRule>> parse_filter_file(std::string_view text, std::string& why) {
  if (text.size() > kMaxFilterFileBytes) {
    why = "larger than " + std::to_string(kMaxFilterFileBytes) + " bytes";
    return std::nullopt;
  }
  std::vector<FilterRule> rules;
  const bool parsed = for_each_line(text, [&](std::string_view line, std::size_t number) {
    if (line.empty() || line.front() == '#' || line.front() == ';') return true;
    FilterAction action = FilterAction::kExclude;
    if (line.starts_with("- ") || line.starts_with("+ ")) {
      action = line.front() == '+' ? FilterAction::kInclude : FilterAction::kExclude;
      line.remove_prefix(2);
    }
    std::string problem;
    auto rule = parse_filter_rule(action, line, problem);
    if (!rule) {
      why = "line " + std::to_string(number) + ": " + problem;
      return false;
    }
    rules.push_back(std::move(*rule));
    return true;
  });
  if (!parsed) return std::nullopt;
  return rules;
}

bool rule_matches(const FilterRule& rule, std::string_view path, bool is_directory) {
  if (rule.and_below) {
    // "dir/***": the directory itself, and anything whose path has it as
    // an ancestor (a "dir/**" rule alongside).
    if (is_directory && matches_path(rule, path)) return true;
    FilterRule below = rule;
    below.pattern += "/**";
    return matches_path(below, path);
  }
  if (rule.directory_only && !is_directory) return false;
  return matches_path(rule, path);
}

std::optional<FilterAction> first_match(std::span<const FilterRule> rules, std::string_view path,
                                        bool is_directory) {
  for (const FilterRule& rule : rules) {
    if (rule_matches(rule, path, is_directory)) return rule.action;
  }
  return std::nullopt;
}

bool FileSelection::add_list(std::string_view text, std::string& why) {
  if (text.size() > kMaxFilterFileBytes) {
    why = "larger than " + std::to_string(kMaxFilterFileBytes) + " bytes";
    return false;
  }
  return for_each_line(text, [&](std::string_view line, std::size_t number) {
    while (line.starts_with("./")) line.remove_prefix(2);
    while (line.starts_with('/')) line.remove_prefix(1);
    while (line.ends_with('/')) line.remove_suffix(1);
    if (line.empty() || line == ".") return true;
    std::string path(line);
    if (path == ".." || path.starts_with("../") || path.ends_with("/..") ||
        path.find("/../") != std::string::npos) {
      why = "line " + std::to_string(number) + ": a path with '..' leaves the tree";
      return false;
    }
    for (std::size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      leading_.insert(path.substr(0, slash));
    }
    listed_.insert(std::move(path));
    return true;
  });
}

bool FileSelection::selects(std::string_view path, bool is_directory) const {
  const std::string key(path);
  if (listed_.contains(key)) return true;
  if (is_directory && leading_.contains(key)) return true;
  for (std::size_t slash = key.find('/'); slash != std::string::npos;
       slash = key.find('/', slash + 1)) {
    if (listed_.contains(key.substr(0, slash))) return true;
  }
  return false;
}

bool FilterSet::excluded(std::string_view path, bool is_directory,
                         const FilterLayer* layers) const {
  if (files_from && !files_from->selects(path, is_directory)) return true;
  for (const FilterLayer* layer = layers; layer != nullptr; layer = layer->parent.get()) {
    // A layer's patterns are relative to its directory; `path` is below it.
    std::string_view below = path;
    if (!layer->directory.empty()) {
      if (!below.starts_with(layer->directory) || below.size() <= layer->directory.size() ||
          below[layer->directory.size()] != '/') {
        continue;
      }
      below.remove_prefix(layer->directory.size() + 1);
    }
    if (auto action = first_match(layer->rules, below, is_directory)) {
      return *action == FilterAction::kExclude;
    }
  }
  auto action = first_match(rules, path, is_directory);
  return action && *action == FilterAction::kExclude;
}

}  // namespace ft
