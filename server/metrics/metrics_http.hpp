#pragma once
// The --metrics endpoint: a minimal HTTP/1.1 responder on the server's loop
// that answers GET /metrics with the Prometheus text and GET /health with
// 200 or, while the server drains, 503 (a load balancer's check), then
// closes the connection. Bounded: at most kMaxConnections at once (more are closed on
// accept), one fixed kMaxRequestHead buffer each, and a deadline per
// connection. Unauthenticated by design, like node_exporter: bind it to a
// loopback or management address (docs/server.md "Metrics").
#include <uv.h>

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "common/rules/address.hpp"
#include "uvx/handle.hpp"

namespace ft::server {

class MetricsHttpServer {
 public:
  /// Produces the body of one scrape and passes it to `done`, on the loop
  /// thread, now or after thread-pool work.
  using Collect = std::function<void(std::function<void(std::string body)> done)>;
  static constexpr std::size_t kMaxConnections = 4;
  static constexpr std::size_t kMaxRequestHead = 4096;
  static constexpr std::uint64_t kDeadlineMs = 10'000;

  /// Whether GET /health answers 200 (else 503: the server drains).
  using Healthy = std::function<bool()>;

  MetricsHttpServer(uv_loop_t* loop, Collect collect, Healthy healthy = {});
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  /// Binds and listens on a numeric address; `bound` gets the real port.
  /// Returns a libuv error code.
  int listen(const RemoteSpec& address, std::string& bound);
  /// Closes the listener and every connection (idempotent).
  void stop();

 private:
  struct Connection;

  static void on_connection(uv_stream_t* listener, int status) noexcept;
  void accept();
  void handle(const std::shared_ptr<Connection>& connection);
  void respond(const std::shared_ptr<Connection>& connection, int status, std::string_view reason,
               std::string body, const char* extra_headers = "");
  void close(Connection& connection);
  static void on_connection_closed(void* context) noexcept;

  uv_loop_t* loop_;
  Collect collect_;
  Healthy healthy_;
  uvx::Handle<uv_tcp_t> listener_;
  std::list<std::shared_ptr<Connection>> connections_;
};

}  // namespace ft::server
