#pragma once
// The head of an HTTP/1.x request, parsed as picohttpparser does: a pure
// function of the bytes received so far that answers "complete, N bytes",
// "need more" or "error, with the status to answer". The metrics endpoint
// needs only the request line; headers are checked for form and skipped.
// (Debian 12 packages no C HTTP parser library: picohttpparser and llhttp
// are not there, so this small one is ours, fed whole, byte by byte and in
// random splits by its tests.)
#include <cstddef>
#include <string_view>

namespace ft::server {

enum class HttpParseStatus { kNeedMore, kComplete, kError };

struct HttpRequestHead {
  std::string_view method;
  std::string_view target;  // as sent: "/metrics", "/metrics?x=1"
  int minor_version = 1;    // HTTP/1.0 or HTTP/1.1
};

struct HttpParseResult {
  HttpParseStatus status = HttpParseStatus::kNeedMore;
  std::size_t consumed = 0;  // kComplete: the head's length, blank line included
  HttpRequestHead head;      // kComplete: views into the input
  int error_status = 0;      // kError: 400, 431 or 505
  std::string_view reason;   // kError: why, for the response body
};

/// Parses the request head at the start of `input`. A head longer than
/// `max_head` bytes is an error (431) as soon as that many bytes arrived
/// without its end; end of stream before kComplete is the caller's error.
HttpParseResult parse_http_request(std::string_view input, std::size_t max_head);

}  // namespace ft::server
