#pragma once
// Small helpers around libuv: thread-pool jobs whose completion runs a
// callback on the loop, and write requests that own the bytes they send.
#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "common/base/bytes.hpp"

namespace ft::server {

/// Where these helpers report a failure that must not pass silently (an
/// exception escaping a job or a write completion): "ftserve: MESSAGE" on
/// stderr until the server routes it to its log (server/log).
void set_error_reporter(void (*report)(const char* message));

/// Runs `work` on libuv's thread pool, then `done` on the loop thread. The
/// job owns both closures until `done` has run; neither may throw (an
/// exception is caught and logged, never crosses libuv).
void queue_job(uv_loop_t* loop, std::function<void()> work, std::function<void()> done);

/// One uv_write with its bytes: a head (frame header and small payloads)
/// and an optional body (a chunk sent from where it lies). Freed in the
/// write callback, after `on_written(status)` ran.
struct WriteRequest {
  uv_write_t req{};
  Bytes head;
  std::shared_ptr<Bytes> body;  // may be null
  std::size_t body_offset = 0;
  std::size_t body_length = 0;
  std::function<void(int status)> on_written;

  std::size_t size() const { return head.size() + body_length; }
};

/// Starts the write; the request is owned by libuv until its callback.
/// Returns a libuv error code if the write could not be started (the
/// request is then freed and `on_written` is not called).
int start_write(uv_stream_t* stream, std::unique_ptr<WriteRequest> request);

/// A printable "ADDR:PORT" (IPv6 in brackets) for a socket address.
/// Binds `handle` to a numeric IPv4 or IPv6 address (`host` holds a ':'
/// for IPv6) and port; a libuv error code.
int bind_tcp(uv_tcp_t* handle, const std::string& host, int port);
std::string format_address(const struct sockaddr* address);
/// The address alone, without the port ("127.0.0.1", "::1").
std::string format_host(const struct sockaddr* address);

}  // namespace ft::server
