#pragma once
// ftserve --config FILE: every long option of ftserve as a setting of the
// file (docs/server.md "Configuration file"), in the syntax of
// common/rules/settings_file.hpp. CLI11 applies the settings, so a value in
// the file goes through the same conversions and checks as on the command
// line, and an option given on the command line wins over the file.
//
// What CLI11 does not do, this does: an unknown key, a key set twice, a
// section, a flag whose value is not a boolean and an empty value are
// errors naming FILE:LINE, and a later error about an option set by the
// file (a value out of range, a bad duration) is located the same way.
#include <CLI/CLI.hpp>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace ft::server {

/// The config reader CLI11 calls for ftserve's --config.
class ServerConfigReader : public CLI::Config {
 public:
  explicit ServerConfigReader(const CLI::App& app) : app_(app) {}

  /// Writing a file back is not offered (ftserve has no --write-config).
  std::string to_config(const CLI::App*, bool, bool, std::string) const override { return {}; }
  /// Parses the file; throws CLI::ConfigError("FILE:LINE: reason").
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

  /// "FILE:LINE: " when `option` ("--listen") took its value from the file,
  /// "" when it came from the command line or its default.
  std::string where(std::string_view option) const;
  /// `message` of a CLI11 error, prefixed with where() of the first option
  /// it names that the file set.
  std::string locate(const std::string& message) const;

 private:
  const CLI::App& app_;
  mutable std::string file_;
  // "--option" -> line, for the settings the command line did not override.
  mutable std::map<std::string, std::size_t, std::less<>> lines_;
};

/// Adds --config FILE to `app` and installs the reader; the returned reader
/// answers where() once app.parse() ran.
std::shared_ptr<ServerConfigReader> add_config_option(CLI::App& app);

}  // namespace ft::server
