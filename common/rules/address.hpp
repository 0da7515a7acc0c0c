#pragma once
// Parsing of the address forms on the command line:
//   HOST[:PORT][/PATH]   with HOST a name, an IPv4 literal or [IPv6]
// used by the clients (remote spec) and ftserve --listen (ADDR:PORT).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ft {

inline constexpr std::uint16_t kDefaultPort = 7070;

struct RemoteSpec {
  std::string host;  // without brackets
  std::uint16_t port = kDefaultPort;
  std::string path;  // after the first '/', trailing '/' removed; "" = root
};

/// Parses HOST[:PORT][/PATH]. On failure returns nullopt and sets `why`.
std::optional<RemoteSpec> parse_remote(std::string_view text, std::string& why);
/// Parses ADDR:PORT for listening (port 0 allowed, no path).
std::optional<RemoteSpec> parse_listen(std::string_view text, std::string& why);

}  // namespace ft
