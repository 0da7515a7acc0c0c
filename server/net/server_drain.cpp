// The Server's ending: SIGINT stops at once; SIGTERM drains (a load
// balancer's node going away: docs/scale-out.md).
#include <csignal>

#include "server/log/log.hpp"
#include "server/metrics/metrics_http.hpp"
#include "server/net/server.hpp"
#include "server/net/session.hpp"

namespace ft::server {

void Server::on_signal(uv_signal_t* handle, int signum) noexcept {
  auto* self = static_cast<Server*>(handle->data);
  try {
    // A second SIGTERM during a drain, or SIGINT, cuts what is left.
    if (signum == SIGTERM && self->options_.drain_timeout.count() > 0 && !self->draining_) {
      return self->drain();
    }
    log::info("%s received, stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
    self->stop();
  } catch (...) {
    self->stop();
  }
}

void Server::drain() {
  if (stopping_ || draining_) return;
  draining_ = true;
  log::info("SIGTERM received, draining %zu connection(s) for at most %llds", connections_,
            static_cast<long long>(options_.drain_timeout.count() / 1000));
  if (stop_hook_) std::exchange(stop_hook_, nullptr)();  // systemd: STOPPING=1
  // New connections go to the other nodes: the balancer sees the refused
  // connect, and GET /health answers 503 already.
  listener_.close();
  listening_ = false;
  uv_timer_start(drain_timer_.get(), on_drain_timer,
                 static_cast<std::uint64_t>(options_.drain_timeout.count()), 0);
  std::vector<Session*> sessions;
  sessions.reserve(sessions_.size());
  for (auto& [session, owned] : sessions_) sessions.push_back(session);
  for (Session* session : sessions) session->drain();
  if (connections_ == 0) defer([this] { stop(); });
}

void Server::on_drain_timer(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Server*>(timer->data);
  log::warn("drain: --drain-timeout passed with %zu connection(s) open, cutting them",
            self->connections_);
  self->stop();
}

}  // namespace ft::server
