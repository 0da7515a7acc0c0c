#pragma once
// Which names a tree transfer takes: rsync's include/exclude rules, pure
// (no I/O), shared by ftsend -r and ftget -r and meant for --delete too
// (rsync never deletes an excluded name).
//
// A rule is an action (include or exclude) and a pattern in the language
// of wildmatch.hpp. A path is relative to the transfer root (the directory
// named on the command line), without leading or trailing '/'. Rules:
//  - a pattern with a leading '/' is anchored: it matches the whole path;
//  - any other pattern matches the whole path or any tail of it that starts
//    at a component ("*.o" any name at any depth, "src/*.c" a `src`
//    directory at any depth);
//  - a trailing '/' makes the rule match directories only;
//  - a trailing "/***" matches the directory and everything below it;
//  - the first rule that matches decides; no match means included;
//  - an excluded directory is not descended into, so whatever it holds is
//    left out whatever later rules say (the walker's part).
// Per-directory rule files (.ftignore) are layers: the rules of a layer
// apply to its directory and below, with patterns relative to it, and are
// consulted before the command-line rules, deepest layer first (rsync's
// `--filter=': .ftignore'` given before the other rules).
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace ft {

/// The name of the per-directory rule file.
inline constexpr const char* kIgnoreFileName = ".ftignore";
/// The largest rule file (--exclude-from, --files-from, .ftignore) read.
inline constexpr std::size_t kMaxFilterFileBytes = 4 * 1024 * 1024;
/// The longest pattern accepted.
inline constexpr std::size_t kMaxPatternBytes = 4096;

enum class FilterAction : std::uint8_t { kInclude, kExclude };

/// One parsed rule.
struct FilterRule {
  FilterAction action = FilterAction::kExclude;
  std::string pattern;          // without the leading '/', trailing '/' or "/***"
  bool anchored = false;        // leading '/': the whole path only
  bool directory_only = false;  // trailing '/'
  bool and_below = false;       // trailing "/***": the directory and its content
};

/// Parses one pattern into a rule; nullopt with `why` for an empty or
/// overlong pattern.
std::optional<FilterRule> parse_filter_rule(FilterAction action, std::string_view pattern,
                                            std::string& why);

/// Parses a rule file (--exclude-from, .ftignore): one rule per line;
/// blank lines and lines starting with '#' or ';' are ignored; "- PATTERN"
/// excludes, "+ PATTERN" includes, any other line is a pattern to exclude.
/// Nullopt with `why` ("line N: ...") on a bad line.
std::optional<std::vector<FilterRule>> parse_filter_file(std::string_view text, std::string& why);

/// True if `rule` matches `path` (a directory when `is_directory`).
bool rule_matches(const FilterRule& rule, std::string_view path, bool is_directory);

/// The action of the first rule matching `path`, or nullopt.
std::optional<FilterAction> first_match(std::span<const FilterRule> rules, std::string_view path,
                                        bool is_directory);

/// The rules of one .ftignore, for its directory and below; `parent` is
/// the layer of the nearest directory above that had one.
struct FilterLayer {
  std::shared_ptr<const FilterLayer> parent;
  std::string directory;  // relative to the transfer root ("" for the root)
  std::vector<FilterRule> rules;
};

/// --files-from: only the listed paths (relative to the transfer root), the
/// directories leading to them, and what listed directories hold.
class FileSelection {
 public:
  /// Adds the paths of a list (one per line, blank lines ignored; a
  /// leading "./" or '/' and trailing '/' dropped); false with `why` for a
  /// path with a ".." component.
  bool add_list(std::string_view text, std::string& why);
  /// True if `path` is listed, leads to a listed path, or is below a listed one.
  bool selects(std::string_view path, bool is_directory) const;
  bool empty() const { return listed_.empty(); }

 private:
  std::unordered_set<std::string> listed_;
  std::unordered_set<std::string> leading_;  // proper ancestors of listed paths
};

/// Everything that decides which names a tree transfer takes.
struct FilterSet {
  std::vector<FilterRule> rules;            // --include/--exclude/--exclude-from, in order
  std::optional<FileSelection> files_from;  // --files-from
  bool per_directory = false;               // read .ftignore files (--ftignore)

  /// True if nothing is filtered.
  bool empty() const { return rules.empty() && !files_from && !per_directory; }
  /// True if `path` is left out, given the .ftignore layers in force in its
  /// directory (`layers` the deepest, may be null).
  bool excluded(std::string_view path, bool is_directory,
                const FilterLayer* layers = nullptr) const;
};

}  // namespace ft
