#include "server.hpp"

#include <algorithm>
#include <cstdio>

#include "partial_cleanup.hpp"
#include "session.hpp"
#include "uv_support.hpp"

namespace ft::server {

Server::Server(uv_loop_t* loop, Fd root)
    : loop_(loop), root_(std::move(root)), batcher_(loop, root_.get()) {
  uv_tcp_init(loop_, &listener_);
  listener_.data = this;
  uv_signal_init(loop_, &sigint_);
  uv_signal_init(loop_, &sigterm_);
  sigint_.data = sigterm_.data = this;
  uv_signal_start(&sigint_, on_signal, SIGINT);
  uv_signal_start(&sigterm_, on_signal, SIGTERM);
  uv_timer_init(loop_, &cleanup_timer_);
  cleanup_timer_.data = this;
}

void Server::start_partial_cleanup(std::chrono::seconds ttl) {
  partial_ttl_ = ttl;
  CleanupStats stats = remove_stale_partials(root_.get(), ttl, {});
  if (stats.removed > 0 || stats.errors > 0) {
    std::fprintf(stderr,
                 "ftserve: removed %zu stale partial upload(s) older than %llds (%zu errors)\n",
                 stats.removed, static_cast<long long>(ttl.count()), stats.errors);
  }
  const auto interval = std::clamp<std::int64_t>(ttl.count(), 1, 3600) * 1000;
  uv_timer_start(&cleanup_timer_, on_cleanup_timer, static_cast<std::uint64_t>(interval),
                 static_cast<std::uint64_t>(interval));
}

void Server::on_cleanup_timer(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Server*>(timer->data);
  if (self->cleanup_running_ || self->stopping_) return;
  self->cleanup_running_ = true;
  try {
    auto in_use = std::make_shared<std::unordered_set<std::string>>(self->active_partials_);
    auto stats = std::make_shared<CleanupStats>();
    const int root = self->root_.get();
    const std::chrono::seconds ttl = self->partial_ttl_;
    queue_job(
        self->loop_,
        [root, ttl, in_use, stats] { *stats = remove_stale_partials(root, ttl, *in_use); },
        [self, stats, ttl] {
          self->cleanup_running_ = false;
          if (stats->removed > 0) {
            std::fprintf(stderr, "ftserve: removed %zu stale partial upload(s) older than %llds\n",
                         stats->removed, static_cast<long long>(ttl.count()));
          }
        });
  } catch (...) {
    self->cleanup_running_ = false;
  }
}

Server::~Server() = default;

int Server::listen(const RemoteSpec& address, std::string& bound) {
  struct sockaddr_storage storage {};
  int rc = address.host.find(':') != std::string::npos
               ? uv_ip6_addr(address.host.c_str(), address.port,
                             reinterpret_cast<struct sockaddr_in6*>(&storage))
               : uv_ip4_addr(address.host.c_str(), address.port,
                             reinterpret_cast<struct sockaddr_in*>(&storage));
  if (rc != 0) return rc;
  if ((rc = uv_tcp_bind(&listener_, reinterpret_cast<struct sockaddr*>(&storage), 0)) != 0) {
    return rc;
  }
  if ((rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 128, on_connection)) != 0) {
    return rc;
  }
  listening_ = true;
  int length = sizeof storage;
  uv_tcp_getsockname(&listener_, reinterpret_cast<struct sockaddr*>(&storage), &length);
  bound = format_address(reinterpret_cast<struct sockaddr*>(&storage));
  return 0;
}

void Server::on_connection(uv_stream_t* listener, int status) noexcept {
  auto* self = static_cast<Server*>(listener->data);
  if (status != 0) {
    std::fprintf(stderr, "ftserve: accept: %s\n", uv_strerror(status));
    return;
  }
  try {
    auto session = std::make_shared<Session>(*self);
    Session* key = session.get();
    self->sessions_[key] = session;
    if (int rc = session->accept_from(listener); rc != 0) {
      std::fprintf(stderr, "ftserve: accept: %s\n", uv_strerror(rc));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ftserve: accept: %s\n", e.what());
  }
}

void Server::session_closed(Session* session) {
  sessions_.erase(session);
}

void Server::on_signal(uv_signal_t* handle, int signum) noexcept {
  auto* self = static_cast<Server*>(handle->data);
  std::fprintf(stderr, "ftserve: %s received, stopping\n", signum == SIGINT ? "SIGINT" : "SIGTERM");
  self->stop();
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  auto close_handle = [](auto* handle) {
    auto* h = reinterpret_cast<uv_handle_t*>(handle);
    if (!uv_is_closing(h)) uv_close(h, nullptr);
  };
  close_handle(&listener_);
  close_handle(&sigint_);
  close_handle(&sigterm_);
  close_handle(&cleanup_timer_);
  // Copy: closing a session may erase it from the map.
  auto sessions = sessions_;
  for (auto& [key, session] : sessions) {
    session->close(ErrorCode::SHUTTING_DOWN, "server is shutting down", true);
  }
}

}  // namespace ft::server
