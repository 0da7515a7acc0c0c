#pragma once
// What the three client commands share on the command line: how a CLI11
// application is set up (synopsis, exit-code table in --help, --version),
// and how parse failures become exit status 2. How failures are printed is
// client/report/console.hpp: the engine prints too, and must not see CLI11.
#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/cli/profile_options.hpp"
#include "client/report/console.hpp"
#include "common/rules/errors.hpp"

namespace ft::client {

/// A CLI11 application for `program` whose --help shows `synopsis` as the
/// usage line, `details` and the exit-status table, and which has
/// --version printing "<program> <FT_VERSION>", and --config/--no-config
/// for profiles (profile_options.hpp).
class CommandLine {
 public:
  CommandLine(std::string program, std::string description, std::string synopsis,
              std::string details, bool several_items);
  CLI::App& app() { return app_; }
  /// Adds -q/--quiet and -v/--verbose (mutually exclusive).
  void add_verbosity(Verbosity& target);
  /// Parses; returns the exit status to end with (0 after --help or
  /// --version, 2 after a parse error), or nullopt to carry on.
  std::optional<int> parse(int argc, char** argv);
  /// After parse(): if `arg` names a profile (NAME: or NAME:PATH), rewrites
  /// it to HOST:PORT[/PATH] and applies the profile's defaults and key file
  /// (ProfileOptions::resolve). Returns the exit status to end with, or
  /// nullopt.
  std::optional<int> use_profile(std::string& arg, std::string& key_file) {
    return profiles_.resolve(app_, arg, key_file);
  }
  /// "FILE:LINE: " when `option` was set by the profile in use, else "".
  std::string where(std::string_view option) const { return profiles_.where(option); }
  /// After the last use_profile(): the profile's excludes join `filters`
  /// (ProfileOptions::add_excludes).
  std::optional<int> add_profile_excludes(FilterSet& filters, bool recursive) const {
    return profiles_.add_excludes(filters, recursive);
  }

 private:
  std::string program_;
  CLI::App app_;
  ProfileOptions profiles_;
  bool quiet_ = false;
  bool verbose_ = false;
  Verbosity* verbosity_ = nullptr;
};

/// Adds --retries (0 to kMaxRetries) writing `target`.
void add_retries_option(CLI::App& app, int& target);
/// Adds --json, --progress, --stats and -h/--human-readable.
void add_output_options(CLI::App& app, OutputFlags& target);
/// Adds -h/--human-readable (help is --help only, as in ls and rsync).
void add_human_readable_option(CLI::App& app, bool& target);

/// Adds --key-file FILE (the client key file of docs/client.md "Keys").
void add_key_option(CLI::App& app, std::string& target);
/// Reads the key file named by --key-file, or else by the environment
/// variable FT_KEY_FILE, and makes every connection of this process use it
/// (use_key()). Without either, connections stay in the clear. On a key
/// file that is missing, malformed or accessible by group or others it
/// prints the reason (KEY_FILE) and returns the status to exit with (2);
/// nullopt to carry on.
std::optional<int> load_key(std::string_view program, const std::string& key_file);

/// Adds --bwlimit RATE (common/rules/byte_rate.hpp: 10M, 1.5MiB/s) writing
/// `target`.
void add_bwlimit_option(CLI::App& app, std::string& target);
/// Parses --bwlimit's `text` (empty: no limit) and paces every connection
/// of this process to it (limit_bandwidth()). On a malformed rate or one
/// below kMinBandwidthLimit prints why, after `where` ("FILE:LINE: " when a
/// profile set it), and returns the usage status (2); nullopt to carry on.
std::optional<int> apply_bwlimit(std::string_view program, const std::string& text,
                                 const std::string& where);

/// --compress and --compress-level as the command line gave them.
struct CompressOptions {
  bool compress = false;
  std::string level;  // "" when not given
};
/// Adds --compress and, with `with_level` (ftsend: the client compresses
/// what it sends), --compress-level N.
void add_compress_options(CLI::App& app, CompressOptions& target, bool with_level);
/// Makes every connection of this process offer COMPRESS (use_compression())
/// when --compress or --compress-level was given. On a level that is not a
/// whole number from kMinCompressLevel to kMaxCompressLevel prints why and
/// returns the usage status (2); nullopt to carry on.
std::optional<int> apply_compress(std::string_view program, const CompressOptions& options);

/// Runs a command's `run` and turns an escaping exception into status 1
/// with "<program>: internal error: ..." on stderr.
int guarded_main(std::string_view program, int (*run)(int, char**), int argc, char** argv);
/// Prints "<program>: <message>" and returns the usage status (2).
int usage_error(std::string_view program, std::string_view message);

/// The exit-status table as plain text for --help, built from FT_EXIT_CODES.
/// `several_items` adds the rule for commands handling several files.
std::string exit_status_help(bool several_items);

}  // namespace ft::client
