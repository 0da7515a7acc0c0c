#include "server/metrics/http_request.hpp"

namespace ft::server {
namespace {

// RFC 9110 tchar: the characters of a method or a header name.
bool is_token_char(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

// Visible ASCII only: a target holds no space, control or 8-bit byte.
bool is_target(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c <= ' ' || c >= 0x7f) return false;
  }
  return true;
}

HttpParseResult error(int status, std::string_view reason) {
  HttpParseResult result;
  result.status = HttpParseStatus::kError;
  result.error_status = status;
  result.reason = reason;
  return result;
}

bool parse_request_line(std::string_view line, HttpRequestHead& head) {
  const std::size_t first = line.find(' ');
  if (first == std::string_view::npos) return false;
  const std::size_t second = line.find(' ', first + 1);
  if (second == std::string_view::npos) return false;
  head.method = line.substr(0, first);
  head.target = line.substr(first + 1, second - first - 1);
  const std::string_view version = line.substr(second + 1);
  if (!is_token(head.method) || !is_target(head.target)) return false;
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/") return false;
  if (version[5] < '0' || version[5] > '9' || version[6] != '.' || version[7] < '0' ||
      version[7] > '9') {
    return false;
  }
  head.minor_version = version[5] == '1' ? version[7] - '0' : -1;
  return true;
}

bool is_header(std::string_view line) {
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) return false;
  for (char c : line.substr(colon + 1)) {
    // Field values: visible characters, spaces and tabs, and (obsolete but
    // harmless) 8-bit bytes; no other control.
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\t') || byte == 0x7f) return false;
  }
  return true;
}

}  // namespace

HttpParseResult parse_http_request(std::string_view input, std::size_t max_head) {
  HttpRequestHead head;
  std::size_t position = 0;
  bool first = true;
  while (true) {
    const std::size_t newline = input.find('\n', position);
    if (newline == std::string_view::npos || newline + 1 > max_head) {
      // No end of line yet: wait, unless the head is already too long.
      if (input.size() >= max_head) return error(431, "request head too large");
      return HttpParseResult{};
    }
    std::string_view line = input.substr(position, newline - position);
    // CRLF, or a bare LF as lenient parsers accept (RFC 9112, 2.2).
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    position = newline + 1;
    if (first) {
      if (line.empty()) continue;  // RFC 9112, 2.2: ignore a leading empty line
      if (!parse_request_line(line, head)) return error(400, "malformed request line");
      if (head.minor_version < 0) return error(505, "only HTTP/1.x is served");
      first = false;
      continue;
    }
    if (line.empty()) {
      HttpParseResult result;
      result.status = HttpParseStatus::kComplete;
      result.consumed = position;
      result.head = head;
      return result;
    }
    if (!is_header(line)) return error(400, "malformed header line");
  }
}

}  // namespace ft::server
