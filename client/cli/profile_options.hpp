#pragma once
// Profiles on a client's command line (docs/client.md "Profiles"): the
// options --config FILE and --no-config, and the rewriting of a NAME: or
// NAME:PATH argument into HOST:PORT/PATH with the profile's defaults put
// where the command line left them unset. The file is client_config.hpp's;
// it is read only when an argument names a profile or --config is given,
// so a broken file never breaks a command line that does not use it.
#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/cli/client_config.hpp"
#include "common/rules/filter_rules.hpp"

namespace ft::client {

class ProfileOptions {
 public:
  explicit ProfileOptions(std::string program) : program_(std::move(program)) {}
  /// Adds --config FILE and --no-config to `app`.
  void add_to(CLI::App& app);
  /// After parsing: reads a file given with --config now, so that its
  /// errors show even when no argument names a profile. Returns the exit
  /// status to end with (2), or nullopt.
  std::optional<int> check_given_file();
  /// If `arg` names a profile, rewrites it to HOST:PORT[/PATH]; the first
  /// profile used also sets the options of `app` it has and the command
  /// line did not give, and `key_file` if it is empty. Returns the exit
  /// status to end with (2 for an unknown profile, a bad file, a second
  /// profile in one command), or nullopt.
  std::optional<int> resolve(CLI::App& app, std::string& arg, std::string& key_file);
  /// "FILE:LINE: " when `option` ("--chunk-size") took its value from the
  /// profile, "" otherwise: the lead of a later error about its value.
  std::string where(std::string_view option) const;
  /// With -r: appends the `exclude` lines of the profile in use to
  /// `filters`, after the command line's rules. Returns 2 (with FILE:LINE)
  /// for a bad pattern, or nullopt.
  std::optional<int> add_excludes(FilterSet& filters, bool recursive) const;

 private:
  std::optional<int> load();
  std::optional<int> apply(CLI::App& app, const Profile& profile, std::string& key_file);
  int fail(const std::string& message) const;

  std::string program_;
  std::string given_file_;  // --config
  bool no_config_ = false;
  std::string file_;  // the file in use: --config, $FT_CONFIG or the default
  bool loaded_ = false;
  bool exists_ = false;
  ClientConfig config_;
  std::optional<std::string> applied_;                              // the profile in use
  std::vector<std::pair<std::string, std::size_t>> applied_lines_;  // "--option", line
  std::vector<Setting> excludes_;  // the profile in use's `exclude` lines
};

}  // namespace ft::client
