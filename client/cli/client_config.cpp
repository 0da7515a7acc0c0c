#include "client/cli/client_config.hpp"

#include <cstdlib>

#include "common/rules/address.hpp"

namespace ft::client {
namespace {

const ProfileOption* profile_option(std::string_view key) {
  for (const ProfileOption& option : kProfileOptions) {
    if (option.key == key) return &option;
  }
  return nullptr;
}

std::string known_keys() {
  std::string out = "host, key-file, exclude";
  for (const ProfileOption& option : kProfileOptions) out += ", " + std::string(option.key);
  return out;
}

// '~/' is the home directory; a relative path is beside the file (as ssh
// reads a relative IdentityFile against its own home, the file's place is
// the only anchor that does not depend on where the command runs).
std::string resolve_path(const std::string& value, const std::string& file,
                         const std::string& home) {
  if (value == "~") return home;
  if (value.starts_with("~/")) return home + value.substr(1);
  if (value.starts_with("/")) return value;
  std::size_t slash = file.rfind('/');
  if (slash == std::string::npos) return value;
  return file.substr(0, slash + 1) + value;
}

}  // namespace

const Profile* ClientConfig::find(std::string_view name) const {
  for (const Profile& profile : profiles) {
    if (profile.name == name) return &profile;
  }
  return nullptr;
}

std::optional<ClientConfig> parse_client_config(std::string_view text, const std::string& file,
                                                const std::string& home, std::string& why) {
  auto fail = [&](std::size_t line, const std::string& reason) {
    why = settings_error_text(file, line, reason);
    return std::nullopt;
  };
  SettingsError error;
  auto sections = parse_settings(text, error);
  if (!sections) return fail(error.line, error.reason);
  if (!sections->front().settings.empty()) {
    return fail(sections->front().settings.front().line,
                "settings belong to a profile: start one with [NAME] above this line");
  }
  ClientConfig config;
  config.file = file;
  for (std::size_t i = 1; i < sections->size(); ++i) {
    const SettingsSection& section = (*sections)[i];
    Profile profile;
    profile.name = section.name;
    profile.line = section.line;
    std::vector<std::pair<std::string, std::size_t>> seen;
    for (const Setting& setting : section.settings) {
      if (setting.key != "exclude") {
        for (const auto& [key, line] : seen) {
          if (key == setting.key) {
            return fail(setting.line, "'" + setting.key + "' is already set on line " +
                                          std::to_string(line) + " in [" + profile.name + "]");
          }
        }
        seen.emplace_back(setting.key, setting.line);
      }
      if (setting.key == "host") {
        std::string reason;
        auto remote = parse_remote(setting.value, reason);
        if (remote && !remote->path.empty()) reason = "a path does not belong in host";
        if (!remote || !remote->path.empty()) {
          return fail(setting.line,
                      "bad host '" + setting.value + "': " + reason +
                          " (write HOST or HOST:PORT, or several: HOST1, HOST2:PORT)");
        }
        profile.host = remote->host;
        profile.port = remote->port;
        profile.alternates = remote->alternates;
      } else if (setting.key == "key-file") {
        if (setting.value.empty()) return fail(setting.line, "no value for 'key-file'");
        profile.key_file = resolve_path(setting.value, file, home);
        profile.key_file_line = setting.line;
      } else if (setting.key == "exclude") {
        if (setting.value.empty()) return fail(setting.line, "no pattern for 'exclude'");
        profile.excludes.push_back(setting);
      } else if (const ProfileOption* option = profile_option(setting.key)) {
        if (option->switch_value && !is_switch_value(setting.value)) {
          return fail(setting.line, "'" + setting.key + "' is a switch: write " + setting.key +
                                        " = true or " + setting.key + " = false");
        }
        if (setting.value.empty()) return fail(setting.line, "no value for '" + setting.key + "'");
        profile.options.push_back(setting);
      } else {
        return fail(setting.line, "unknown setting '" + setting.key + "' in [" + profile.name +
                                      "] (known: " + known_keys() + ")");
      }
    }
    if (profile.host.empty()) {
      return fail(section.line, "profile [" + profile.name + "] has no 'host = HOST[:PORT]'");
    }
    config.profiles.push_back(std::move(profile));
  }
  return config;
}

std::string default_config_path() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  // The XDG spec: a relative value is invalid and must be ignored.
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/ft/config";
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "") + "/.config/ft/config";
}

std::optional<ProfileReference> profile_reference(std::string_view arg) {
  std::size_t colon = arg.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view name = arg.substr(0, colon);
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return std::nullopt;  // '[' (IPv6), '/' (a path before the colon), ...
  }
  std::string_view rest = arg.substr(colon + 1);
  std::size_t digits = 0;
  while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
  if (digits > 0 && (digits == rest.size() || rest[digits] == '/')) return std::nullopt;  // :PORT
  while (rest.starts_with("/")) rest.remove_prefix(1);
  return ProfileReference{std::string(name), std::string(rest)};
}

}  // namespace ft::client
