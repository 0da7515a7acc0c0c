#pragma once
// Parsing of the address forms on the command line:
//   HOST[:PORT][,HOST[:PORT]...][/PATH]   with HOST a name, an IPv4 literal or [IPv6]
// used by the clients (remote spec; several servers of one shared root,
// tried in turn: docs/scale-out.md) and ftserve --listen (ADDR:PORT).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ft {

inline constexpr std::uint16_t kDefaultPort = 7070;

/// One server: a host (without brackets) and its port.
struct Endpoint {
  std::string host;
  std::uint16_t port = kDefaultPort;
  bool operator==(const Endpoint&) const = default;
};

struct RemoteSpec {
  std::string host;  // without brackets
  std::uint16_t port = kDefaultPort;
  std::string path;  // after the first '/', trailing '/' removed; "" = root
  /// More servers of the same root after the first (HOST1,HOST2:PORT/PATH),
  /// each with its own port (default kDefaultPort); the client fails over
  /// to them in order.
  std::vector<Endpoint> alternates;
};

/// Parses HOST[:PORT][,HOST[:PORT]...][/PATH]. On failure returns nullopt
/// and sets `why`.
std::optional<RemoteSpec> parse_remote(std::string_view text, std::string& why);
/// Parses ADDR:PORT for listening (port 0 allowed, no path).
std::optional<RemoteSpec> parse_listen(std::string_view text, std::string& why);

}  // namespace ft
