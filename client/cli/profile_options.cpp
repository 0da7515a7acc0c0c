#include "client/cli/profile_options.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "client/net/connection.hpp"
#include "client/report/console.hpp"
#include "common/rules/errors.hpp"
#include "common/rules/filter_rules.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client {
namespace {

constexpr off_t kMaxConfigBytes = 1024 * 1024;

}  // namespace

void ProfileOptions::add_to(CLI::App& app) {
  auto* config = app.add_option("--config", given_file_,
                                "Profile file (default: $FT_CONFIG, else "
                                "$XDG_CONFIG_HOME/ft/config or ~/.config/ft/config)")
                     ->type_name("FILE");
  app.add_flag("--no-config", no_config_, "Read no profile file: NAME: is then an error")
      ->excludes(config);
}

int ProfileOptions::fail(const std::string& message) const {
  report_message(program_, message);
  return static_cast<int>(Exit::kUsage);
}

std::optional<int> ProfileOptions::check_given_file() {
  if (given_file_.empty()) return std::nullopt;
  if (auto status = load()) return status;
  if (!exists_) return fail("--config " + printable(file_) + ": no such file");
  return std::nullopt;
}

std::optional<int> ProfileOptions::load() {
  if (loaded_) return std::nullopt;
  loaded_ = true;
  file_ = given_file_;
  if (file_.empty()) {
    const char* from_env = std::getenv("FT_CONFIG");
    file_ = from_env != nullptr && *from_env != '\0' ? from_env : default_config_path();
  }
  struct stat st {};
  if (::stat(file_.c_str(), &st) != 0 && errno == ENOENT) return std::nullopt;
  if (S_ISDIR(st.st_mode)) return fail(printable(file_) + ": is a directory, not a profile file");
  // A profile file is a few lines; anything far larger is not one.
  if (st.st_size > kMaxConfigBytes)
    return fail(printable(file_) + ": too large for a profile file");
  std::ifstream input(file_, std::ios::binary);
  if (!input) return fail(printable(file_) + ": cannot read: " + std::strerror(errno));
  std::string text{std::istreambuf_iterator<char>(input), std::istreambuf_iterator<char>()};
  if (input.bad()) return fail(printable(file_) + ": cannot read");
  const char* home = std::getenv("HOME");
  std::string why;
  auto config = parse_client_config(text, file_, home != nullptr ? home : "", why);
  if (!config) return fail(printable(why));
  config_ = std::move(*config);
  exists_ = true;
  return std::nullopt;
}

std::optional<int> ProfileOptions::resolve(CLI::App& app, std::string& arg, std::string& key_file) {
  auto reference = profile_reference(arg);
  if (!reference) return std::nullopt;
  const std::string hint = " (NAME: and NAME:PATH name a profile; for the host " +
                           printable(reference->name) + " write " + printable(reference->name) +
                           " or " + printable(reference->name) + ":PORT)";
  if (no_config_) {
    return fail("'" + printable(arg) + "' names a profile, but --no-config is given" + hint);
  }
  if (auto status = load()) return status;
  if (!exists_) {
    return fail("no profile '" + printable(reference->name) + "': " + printable(file_) +
                " does not exist" + hint);
  }
  const Profile* profile = config_.find(reference->name);
  if (profile == nullptr) {
    return fail("no profile '" + printable(reference->name) + "' in " + printable(file_) + hint);
  }
  if (applied_ && *applied_ != profile->name) {
    return fail("profiles '" + *applied_ + "' and '" + profile->name +
                "' in one command: all remote arguments must use the same server");
  }
  if (!applied_) {
    if (auto status = apply(app, *profile, key_file)) return status;
    applied_ = profile->name;
  }
  arg = host_port_text(profile->host, profile->port);
  for (const Endpoint& other : profile->alternates)
    arg += "," + host_port_text(other.host, other.port);
  if (!reference->path.empty()) arg += "/" + reference->path;
  return std::nullopt;
}

std::optional<int> ProfileOptions::apply(CLI::App& app, const Profile& profile,
                                         std::string& key_file) {
  // Excludes join the filters after the command line's rules (first match
  // wins: a command-line --include can take back what a profile leaves
  // out); add_excludes() does that once the filters are built.
  excludes_ = profile.excludes;
  if (key_file.empty()) key_file = profile.key_file;
  const CLI::Option* recursive = app.get_option_no_throw("--recursive");
  const bool with_recursive = recursive != nullptr && recursive->count() > 0;
  for (const Setting& setting : profile.options) {
    CLI::Option* option = app.get_option_no_throw("--" + setting.key);
    if (option == nullptr || option->count() > 0) continue;  // not ours, or given: it wins
    bool excluded = false;
    for (const CLI::Option* other : option->get_excludes()) excluded |= other->count() > 0;
    if (excluded) continue;
    bool needs_recursive = false;
    for (const ProfileOption& known : kProfileOptions) {
      if (known.key == setting.key) needs_recursive = known.needs_recursive;
    }
    if (needs_recursive && !with_recursive) continue;
    try {
      const bool is_switch = option->get_expected_min() == 0;
      option->add_result(is_switch ? option->get_flag_value(setting.key, setting.value)
                                   : setting.value);
      option->run_callback();
      applied_lines_.emplace_back("--" + setting.key, setting.line);
    } catch (const CLI::ParseError& e) {
      return fail(printable(settings_error_text(file_, setting.line, e.what())));
    }
  }
  return std::nullopt;
}

std::optional<int> ProfileOptions::add_excludes(FilterSet& filters, bool recursive) const {
  // A profile's excludes are defaults for tree transfers; a single file is
  // sent or fetched as named.
  if (!recursive) return std::nullopt;
  for (const Setting& exclude : excludes_) {
    std::string why;
    auto rule = parse_filter_rule(FilterAction::kExclude, exclude.value, why);
    if (!rule) {
      return fail(printable(settings_error_text(
          file_, exclude.line, "bad exclude pattern '" + exclude.value + "': " + why)));
    }
    filters.rules.push_back(std::move(*rule));
  }
  return std::nullopt;
}

std::string ProfileOptions::where(std::string_view option) const {
  for (const auto& [name, line] : applied_lines_) {
    if (name == option) return printable(settings_error_text(file_, line, ""));
  }
  return {};
}

}  // namespace ft::client
