#include "common/rules/address.hpp"

#include <charconv>

namespace ft {
namespace {

std::optional<std::uint16_t> parse_port(std::string_view s, bool allow_zero) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value > 65535) return std::nullopt;
  if (value == 0 && !allow_zero) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// Splits "HOST[:PORT]" (already cut before any '/').
bool parse_host_port(std::string_view text, bool allow_zero, RemoteSpec& out, std::string& why) {
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      why = "missing ']' after IPv6 address";
      return false;
    }
    out.host = std::string(text.substr(1, close - 1));
    rest = text.substr(close + 1);
    if (out.host.empty() || out.host.find(':') == std::string::npos) {
      why = "'[...]' must hold an IPv6 address";
      return false;
    }
  } else {
    std::size_t colon = text.find(':');
    out.host = std::string(text.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
    if (rest.find(':', 1) != std::string_view::npos) {
      why = "an IPv6 address must be written in brackets, e.g. [::1]:7070";
      return false;
    }
  }
  if (out.host.empty()) {
    why = "missing host";
    return false;
  }
  if (rest.empty()) return true;
  if (rest.front() != ':') {
    why = "unexpected text after the host";
    return false;
  }
  auto port = parse_port(rest.substr(1), allow_zero);
  if (!port) {
    why = "invalid port '" + std::string(rest.substr(1)) + "' (1 to 65535)";
    return false;
  }
  out.port = *port;
  return true;
}

}  // namespace

std::optional<RemoteSpec> parse_remote(std::string_view text, std::string& why) {
  // The server list ends at the first '/' outside brackets; its items are
  // separated by ',' outside brackets.
  std::vector<std::string_view> servers;
  std::size_t start = 0;
  std::size_t end = text.size();
  bool bracket = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '[') bracket = true;
    if (text[i] == ']') bracket = false;
    if (bracket) continue;
    if (text[i] == ',') {
      servers.push_back(text.substr(start, i - start));
      start = i + 1;
    } else if (text[i] == '/') {
      end = i;
      break;
    }
  }
  servers.push_back(text.substr(start, end - start));
  RemoteSpec spec;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    // "node1, node2:7071" as a profile writes it.
    while (servers.size() > 1 && !servers[i].empty() && servers[i].front() == ' ') {
      servers[i].remove_prefix(1);
    }
    while (servers.size() > 1 && !servers[i].empty() && servers[i].back() == ' ') {
      servers[i].remove_suffix(1);
    }
    RemoteSpec server;
    if (!parse_host_port(servers[i], false, server, why)) {
      if (servers.size() > 1) why += " (server " + std::to_string(i + 1) + " of the list)";
      return std::nullopt;
    }
    if (i == 0) {
      spec.host = std::move(server.host);
      spec.port = server.port;
    } else {
      spec.alternates.push_back(Endpoint{std::move(server.host), server.port});
    }
  }
  if (end != text.size()) {
    std::string_view path = text.substr(end + 1);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    spec.path = std::string(path);
  }
  return spec;
}

std::optional<RemoteSpec> parse_listen(std::string_view text, std::string& why) {
  RemoteSpec spec;
  if (text.find('/') != std::string_view::npos) {
    why = "a listen address has no path";
    return std::nullopt;
  }
  if (text.find(',') != std::string_view::npos) {
    why = "one address to listen on, not a list";
    return std::nullopt;
  }
  if (!parse_host_port(text, true, spec, why)) return std::nullopt;
  return spec;
}

}  // namespace ft
