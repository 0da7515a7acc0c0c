#pragma once
// The clients' per-user file of server profiles (docs/client.md
// "Profiles"), in the syntax of common/rules/settings_file.hpp:
//
//   [nas]
//   host = nas.lan:7070            # HOST[:PORT], required; or a list of
//                                  # servers of one shared root: HOST1, HOST2:PORT
//   key-file = ~/.config/ft/nas.key
//   retries = 5                    # default options, see kProfileOptions
//   checksum = true
//
// A destination written NAME: or NAME:PATH then stands for HOST:PORT/PATH
// with those defaults. This part only reads and checks the file; applying
// a profile to a command line is profile_options.hpp.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/rules/address.hpp"
#include "common/rules/settings_file.hpp"

namespace ft::client {

/// A default option a profile may set: the long option's name, and whether
/// it only means something with -r (it is then applied only with -r, so
/// that a profile never turns a plain command line into a usage error).
struct ProfileOption {
  std::string_view key;
  bool switch_value;  // true/false rather than a number or size
  bool needs_recursive;
};
/// The options a profile may set. A command applies those it has.
inline constexpr ProfileOption kProfileOptions[] = {
    {"retries", false, false},        // ftsend, ftget
    {"chunk-size", false, false},     // ftsend
    {"progress", true, false},        // ftsend, ftget
    {"links", true, true},            // ftsend -r, ftget -r
    {"checksum", true, true},         // ftsend -r
    {"ignore-existing", true, true},  // ftsend -r
    {"long", true, false},            // ftls
    {"bwlimit", false, false},        // ftsend, ftget, ftls
};

/// One [NAME] section.
struct Profile {
  std::string name;
  std::size_t line = 0;
  std::string host;  // without brackets
  std::uint16_t port = 0;
  /// More servers of the same root (`host = HOST1, HOST2:PORT`): the
  /// client fails over to them (docs/scale-out.md).
  std::vector<Endpoint> alternates;
  /// Absolute or as written after '~' expansion; a relative path is taken
  /// from the file's directory. Empty: none.
  std::string key_file;
  std::size_t key_file_line = 0;
  std::vector<Setting> options;   // keys from kProfileOptions
  std::vector<Setting> excludes;  // `exclude = PATTERN` lines (with -r: ProfileOptions)
};

struct ClientConfig {
  std::string file;
  std::vector<Profile> profiles;
  const Profile* find(std::string_view name) const;
};

/// Checks and reads a whole file's text; `file` names it in errors and
/// anchors relative key files, `home` expands '~/'. On failure returns
/// nullopt with `why` = "FILE:LINE: reason".
std::optional<ClientConfig> parse_client_config(std::string_view text, const std::string& file,
                                                const std::string& home, std::string& why);

/// Where the file is when neither --config nor FT_CONFIG names one:
/// $XDG_CONFIG_HOME/ft/config, or ~/.config/ft/config.
std::string default_config_path();

/// A destination naming a profile: NAME: or NAME:PATH (scp's form). A
/// colon followed by digits only (HOST:PORT, HOST:PORT/PATH) is not one,
/// nor anything starting with '[' or without a colon: those keep their
/// meaning as HOST[:PORT][/PATH].
struct ProfileReference {
  std::string name;
  std::string path;  // as written after the colon, leading '/' removed
};
std::optional<ProfileReference> profile_reference(std::string_view arg);

}  // namespace ft::client
