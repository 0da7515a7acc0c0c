#include "server/metrics/metrics_http.hpp"

#include <array>
#include <cstdio>

#include "server/log/log.hpp"
#include "server/metrics/http_request.hpp"
#include "uvx/uv_support.hpp"

namespace ft::server {

struct MetricsHttpServer::Connection {
  MetricsHttpServer* server = nullptr;
  std::list<std::shared_ptr<Connection>>::iterator position;
  uvx::Handle<uv_tcp_t> tcp;
  uvx::Handle<uv_timer_t> timer;  // the deadline
  std::array<char, kMaxRequestHead> head{};
  std::size_t used = 0;
  bool answered = false;  // a response is on its way (or none will come)
  bool closing = false;
  int handles_open = 0;
};

MetricsHttpServer::MetricsHttpServer(uv_loop_t* loop, Collect collect, Healthy healthy)
    : loop_(loop), collect_(std::move(collect)), healthy_(std::move(healthy)) {}

MetricsHttpServer::~MetricsHttpServer() {
  // The loop ran dry: every connection's close callbacks have run.
  stop();
}

int MetricsHttpServer::listen(const RemoteSpec& address, std::string& bound) {
  if (int rc = listener_.init(loop_, uv_tcp_init); rc != 0) return rc;
  listener_.set_data(this);
  int rc = bind_tcp(listener_.get(), address.host, address.port);
  if (rc == 0) rc = uv_listen(listener_.stream(), 16, on_connection);
  if (rc != 0) {
    listener_.close();
    return rc;
  }
  struct sockaddr_storage storage {};
  int length = sizeof storage;
  uv_tcp_getsockname(listener_.get(), reinterpret_cast<struct sockaddr*>(&storage), &length);
  bound = format_address(reinterpret_cast<struct sockaddr*>(&storage));
  return 0;
}

void MetricsHttpServer::stop() {
  listener_.close();
  // close() erases nothing now (that waits for the close callbacks), so
  // the walk is safe.
  for (auto& connection : connections_) close(*connection);
}

void MetricsHttpServer::on_connection(uv_stream_t* listener, int status) noexcept {
  auto* self = static_cast<MetricsHttpServer*>(listener->data);
  if (status != 0) return;
  try {
    self->accept();
  } catch (...) {
    // Out of memory: the connection waits in the backlog, or goes.
  }
}

void MetricsHttpServer::accept() {
  if (connections_.size() >= kMaxConnections) {
    // Full: taken from the backlog and closed at once, so that a scraper
    // that hangs on costs nothing but its own failed scrape.
    uvx::Handle<uv_tcp_t> refused;
    if (refused.init(loop_, uv_tcp_init) != 0) return;
    uv_accept(listener_.stream(), refused.stream());
    refused.close();
    log::warn("metrics: more than %zu connections at once, one refused", kMaxConnections);
    return;
  }
  auto connection = std::make_shared<Connection>();
  connection->server = this;
  if (connection->tcp.init(loop_, uv_tcp_init) != 0) return;
  connection->handles_open = 1;
  connection->tcp.set_data(connection.get());
  if (connection->timer.init(loop_, uv_timer_init) == 0) {
    connection->handles_open = 2;
    connection->timer.set_data(connection.get());
  }
  connection->position = connections_.insert(connections_.end(), connection);
  Connection& c = *connection;
  if (uv_accept(listener_.stream(), c.tcp.stream()) != 0 || !c.timer.open()) return close(c);
  uv_timer_start(
      c.timer.get(),
      [](uv_timer_t* timer) noexcept {
        auto* conn = static_cast<Connection*>(timer->data);
        conn->server->close(*conn);
      },
      kDeadlineMs, 0);
  uv_read_start(
      c.tcp.stream(),
      [](uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
        auto* conn = static_cast<Connection*>(handle->data);
        *buf = uv_buf_init(conn->head.data() + conn->used,
                           static_cast<unsigned>(conn->head.size() - conn->used));
      },
      [](uv_stream_t* stream, ssize_t nread, const uv_buf_t*) noexcept {
        auto* conn = static_cast<Connection*>(stream->data);
        if (nread == 0 || conn->answered) return;
        if (nread < 0) return conn->server->close(*conn);  // gone before asking
        conn->used += static_cast<std::size_t>(nread);
        try {
          conn->server->handle(*conn->position);
        } catch (...) {
          conn->server->close(*conn);
        }
      });
}

void MetricsHttpServer::handle(const std::shared_ptr<Connection>& connection) {
  const HttpParseResult parsed = parse_http_request(
      std::string_view(connection->head.data(), connection->used), kMaxRequestHead);
  if (parsed.status == HttpParseStatus::kNeedMore) return;
  if (parsed.status == HttpParseStatus::kError) {
    const char* phrase = parsed.error_status == 431   ? "Request Header Fields Too Large"
                         : parsed.error_status == 505 ? "HTTP Version Not Supported"
                                                      : "Bad Request";
    return respond(connection, parsed.error_status, phrase, std::string(parsed.reason) + "\n");
  }
  std::string_view path = parsed.head.target;
  if (auto query = path.find('?'); query != std::string_view::npos) path = path.substr(0, query);
  if (parsed.head.method != "GET") {
    return respond(connection, 405, "Method Not Allowed", "only GET is served\n", "Allow: GET\r\n");
  }
  if (path == "/health") {
    // A load balancer's check (docs/scale-out.md): 503 from the moment a
    // drain starts, so that no new client is sent here.
    if (healthy_ && !healthy_()) {
      return respond(connection, 503, "Service Unavailable", "draining\n");
    }
    return respond(connection, 200, "OK", "ok\n");
  }
  if (path != "/metrics") return respond(connection, 404, "Not Found", "try /metrics or /health\n");
  connection->answered = true;
  uv_read_stop(connection->tcp.stream());
  std::weak_ptr<Connection> weak = connection;
  collect_([this, weak](std::string body) {
    auto alive = weak.lock();
    if (!alive || alive->closing) return;
    respond(alive, 200, "OK", std::move(body));
  });
}

void MetricsHttpServer::respond(const std::shared_ptr<Connection>& connection, int status,
                                std::string_view reason, std::string body,
                                const char* extra_headers) {
  connection->answered = true;
  uv_read_stop(connection->tcp.stream());
  char head[256];
  const int n = std::snprintf(head, sizeof head,
                              "HTTP/1.1 %d %.*s\r\n"
                              "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                              "Content-Length: %zu\r\n"
                              "Connection: close\r\n"
                              "%s\r\n",
                              status, static_cast<int>(reason.size()), reason.data(), body.size(),
                              extra_headers);
  auto request = std::make_unique<WriteRequest>();
  request->head.assign(head, head + n);
  request->head.insert(request->head.end(), body.begin(), body.end());
  Connection* raw = connection.get();
  // The write callback runs before the TCP handle's close callback, which
  // frees the connection: `raw` is valid there.
  request->on_written = [raw](int) { raw->server->close(*raw); };
  if (start_write(connection->tcp.stream(), std::move(request)) != 0) close(*connection);
}

void MetricsHttpServer::close(Connection& connection) {
  if (connection.closing) return;
  connection.closing = true;
  connection.answered = true;
  if (connection.handles_open == 0) {
    connections_.erase(connection.position);
    return;
  }
  connection.timer.close(on_connection_closed, &connection);
  connection.tcp.close(on_connection_closed, &connection);
}

void MetricsHttpServer::on_connection_closed(void* context) noexcept {
  auto* connection = static_cast<Connection*>(context);
  if (--connection->handles_open > 0) return;
  // Both handles are gone: nothing of libuv's refers to the connection.
  connection->server->connections_.erase(connection->position);
}

}  // namespace ft::server
