#include "client/cli/cli_common.hpp"

#include <string.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>

#include "client/net/session.hpp"
#include "client/transfer/retry.hpp"
#include "common/crypto/keys.hpp"
#include "common/rules/byte_rate.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client {
namespace {

// Replaces CLI11's generated usage line with the command's own synopsis,
// which says more than "[OPTIONS] args..." can.
class SynopsisFormatter : public CLI::Formatter {
 public:
  explicit SynopsisFormatter(std::string synopsis) : synopsis_(std::move(synopsis)) {}
  std::string make_usage(const CLI::App*, std::string) const override {
    return "Usage: " + synopsis_ + "\n";
  }

 private:
  std::string synopsis_;
};

}  // namespace

std::string exit_status_help(bool several_items) {
  std::string out = "Exit status:\n";
#define FT_X(name, value, text) \
  out += std::string(value < 10 ? "   " : "  ") + std::to_string(value) + "  " + text + "\n";
  FT_EXIT_CODES(FT_X)
#undef FT_X
  if (!several_items) return out;
  out +=
      "With several FILEs (no -r): the status of the first file, in argument order,\n"
      "that failed. With -r: 9 when some entries failed and others were transferred,\n"
      "skipped as unchanged or created; the status of the first failure when nothing\n"
      "succeeded; 4 when the connection was lost for good; 1 when interrupted.\n";
  return out;
}

CommandLine::CommandLine(std::string program, std::string description, std::string synopsis,
                         std::string details, bool several_items)
    : program_(std::move(program)), app_(std::move(description), program_), profiles_(program_) {
  app_.formatter(std::make_shared<SynopsisFormatter>(std::move(synopsis)));
  app_.set_version_flag("--version", program_ + " " + FT_VERSION, "Print the version and exit");
  // -h is --human-readable, as in ls, df and rsync: help is --help only.
  app_.set_help_flag("--help", "Print this help and exit");
  std::string footer = details.empty() ? "" : details + "\n";
  footer +=
      "Keys: for a server run with --keys, give the client key file made by\n"
      "`ftserve keys add` with --key-file FILE or FT_KEY_FILE=FILE (mode 0600; a key\n"
      "is never taken on the command line). The connection is then TLS 1.3 with that\n"
      "pre-shared key, and nothing is sent before the handshake succeeds. A refused\n"
      "key, a server without keys or a record altered in transit: status 10.\n\n"
      "Profiles: a HOST argument written NAME: or NAME:PATH (scp's form) stands for the\n"
      "server of profile [NAME] in ~/.config/ft/config (or $XDG_CONFIG_HOME/ft/config,\n"
      "$FT_CONFIG, --config FILE), with its key file and default options; options given\n"
      "here win. HOST, HOST:PORT and HOST/PATH keep their meaning. See docs/client.md.\n\n";
  app_.footer(footer + exit_status_help(several_items));
  profiles_.add_to(app_);
}

void CommandLine::add_verbosity(Verbosity& target) {
  verbosity_ = &target;
  CLI::Option* quiet = app_.add_flag("-q,--quiet", quiet_, "Print only errors");
  CLI::Option* verbose = app_.add_flag("-v,--verbose", verbose_, "Print a line per file");
  quiet->excludes(verbose);
}

std::optional<int> CommandLine::parse(int argc, char** argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive as "errors" with status 0.
    if (e.get_exit_code() == 0) return app_.exit(e, std::cout, std::cerr);
    // CLI11 maps parse errors to its own codes (100 and up); ft promises 2.
    report_message(program_, std::string(e.what()) + "\nRun with --help for more information.");
    return static_cast<int>(Exit::kUsage);
  }
  if (auto status = profiles_.check_given_file()) return status;
  if (verbosity_ != nullptr) {
    *verbosity_ = quiet_ ? Verbosity::kQuiet : verbose_ ? Verbosity::kVerbose : Verbosity::kNormal;
  }
  return std::nullopt;
}

void add_retries_option(CLI::App& app, int& target) {
  app.add_option("--retries", target,
                 "New connections after a lost one (0 to " + std::to_string(kMaxRetries) +
                     "; 0 fails at once)")
      ->check(CLI::Range(0, kMaxRetries))
      ->capture_default_str();
}

void add_output_options(CLI::App& app, OutputFlags& target) {
  app.add_flag("--json", target.json,
               "One JSON object per line on stdout for each file event, then a summary");
  app.add_flag("--progress", target.progress,
               "Show the progress line on stderr even when it is not a terminal");
  app.add_flag("--stats", target.stats,
               "At the end, print statistics: files by outcome, sizes, time, rate (stdout; "
               "stderr with --json)");
  add_human_readable_option(app, target.human_readable);
}

void add_human_readable_option(CLI::App& app, bool& target) {
  app.add_flag("-h,--human-readable", target,
               "Sizes in binary units (1.5K, 97.7 KiB) rather than bytes (help is --help)");
}

void add_key_option(CLI::App& app, std::string& target) {
  app.add_option("--key-file", target,
                 "Client key file (from `ftserve keys add`, mode 0600) for a server run with "
                 "--keys; default: $FT_KEY_FILE. The key itself is never an argument")
      ->type_name("FILE");
}

std::optional<int> load_key(std::string_view program, const std::string& key_file) {
  std::string path = key_file;
  if (path.empty()) {
    const char* from_env = std::getenv("FT_KEY_FILE");
    if (from_env == nullptr || *from_env == '\0') return std::nullopt;
    path = from_env;
  }
  auto fail = [&](const std::string& why) {
    report_error(program, {}, Error{ErrorCode::KEY_FILE, {}, why});
    return static_cast<int>(exit_status_for(ErrorCode::KEY_FILE));
  };
  std::string why;
  std::optional<std::string> text = read_private_file(path, why);
  if (!text) return fail(printable(why));
  std::optional<PskKey> key = parse_client_key(*text, why);
  // The file's text holds the key in hex: wipe it as soon as it is parsed.
  wipe(*text);
  if (!key) return fail(printable(path) + ": not a client key file: " + why);
  std::shared_ptr<TlsContext> context = TlsContext::client(*key, why);
  ::explicit_bzero(key->secret.data(), key->secret.size());
  if (!context) {
    report_message(program, "cannot set up TLS: " + why);
    return static_cast<int>(Exit::kFailure);
  }
  use_key(std::move(context));
  return std::nullopt;
}

void add_bwlimit_option(CLI::App& app, std::string& target) {
  app.add_option("--bwlimit", target,
                 "Pace the transfer to RATE bytes per second in each direction (10M, 1.5MiB/s, "
                 "512K; units are powers of 1024; 0: no limit)")
      ->type_name("RATE");
}

std::optional<int> apply_bwlimit(std::string_view program, const std::string& text,
                                 const std::string& where) {
  if (text.empty()) return std::nullopt;
  std::optional<std::uint64_t> rate = parse_byte_rate(text);
  if (!rate) {
    return usage_error(program, where + "--bwlimit: not a rate: '" + printable(text) +
                                    "' (bytes per second, e.g. 10M or 1.5MiB/s)");
  }
  if (*rate != 0 && *rate < kMinBandwidthLimit) {
    return usage_error(program, where + "--bwlimit: " + std::to_string(*rate) +
                                    " B/s is below the smallest limit, " +
                                    std::to_string(kMinBandwidthLimit / 1024) + " KiB/s");
  }
  limit_bandwidth(*rate);
  return std::nullopt;
}

void add_compress_options(CLI::App& app, CompressOptions& target, bool with_level) {
  app.add_flag("--compress", target.compress,
               "Compress chunks with zstd on the wire when the server agrees (chunks that do not "
               "shrink go as they are)");
  if (!with_level) return;
  app.add_option("--compress-level", target.level,
                 "zstd level for --compress, " + std::to_string(kMinCompressLevel) + " to " +
                     std::to_string(kMaxCompressLevel) + " (default " +
                     std::to_string(kDefaultCompressLevel) + "; implies --compress)")
      ->type_name("N");
}

std::optional<int> apply_compress(std::string_view program, const CompressOptions& options) {
  if (!options.compress && options.level.empty()) return std::nullopt;
  int level = kDefaultCompressLevel;
  if (!options.level.empty()) {
    const std::string& text = options.level;
    const char* first = text.data();
    const char* last = text.data() + text.size();
    auto [end, ec] = std::from_chars(first, last, level);
    if (ec != std::errc() || end != last || level < kMinCompressLevel ||
        level > kMaxCompressLevel) {
      return usage_error(program, "--compress-level: '" + printable(text) +
                                      "' is not a zstd level from " +
                                      std::to_string(kMinCompressLevel) + " to " +
                                      std::to_string(kMaxCompressLevel));
    }
  }
  use_compression(level);
  return std::nullopt;
}

int guarded_main(std::string_view program, int (*run)(int, char**), int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    report_message(program, std::string("internal error: ") + e.what());
  } catch (...) {
    report_message(program, "internal error");
  }
  return static_cast<int>(Exit::kFailure);
}

int usage_error(std::string_view program, std::string_view message) {
  report_message(program, message);
  return static_cast<int>(Exit::kUsage);
}

}  // namespace ft::client
