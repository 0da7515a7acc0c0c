#pragma once
// ftserve's listener: accepts connections into Sessions on one libuv loop,
// and on SIGINT/SIGTERM stops accepting, aborts transfers in flight (their
// temporary files are removed) and lets the loop run dry.
#include <uv.h>

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "address.hpp"
#include "job_batcher.hpp"
#include "root_fs.hpp"

namespace ft::server {

class Session;

class Server {
 public:
  Server(uv_loop_t* loop, Fd root);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and listens; on success `bound` is the address actually bound
  /// (with the real port when 0 was asked). Returns a libuv error code.
  int listen(const RemoteSpec& address, std::string& bound);
  /// Removes stale partial uploads now (blocking, before the loop runs) and
  /// then periodically on the thread pool.
  void start_partial_cleanup(std::chrono::seconds ttl);
  /// Stops accepting and closes every session (signal handler's job).
  void stop();

  uv_loop_t* loop() const { return loop_; }
  JobBatcher& batcher() { return batcher_; }
  int root_fd() const { return root_.get(); }
  void session_closed(Session* session);

  /// Claims a resumable upload's partial file (its path below the root) for
  /// one upload at a time; false if another upload holds it.
  bool claim_partial(const std::string& key) { return active_partials_.insert(key).second; }
  void release_partial(const std::string& key) { active_partials_.erase(key); }

 private:
  static void on_connection(uv_stream_t* listener, int status) noexcept;
  static void on_signal(uv_signal_t* handle, int signum) noexcept;
  static void on_cleanup_timer(uv_timer_t* timer) noexcept;

  uv_loop_t* loop_;
  Fd root_;
  JobBatcher batcher_;
  uv_tcp_t listener_{};
  uv_signal_t sigint_{};
  uv_signal_t sigterm_{};
  uv_timer_t cleanup_timer_{};
  std::chrono::seconds partial_ttl_{0};
  bool cleanup_running_ = false;
  bool listening_ = false;
  bool stopping_ = false;
  std::unordered_map<Session*, std::shared_ptr<Session>> sessions_;
  std::unordered_set<std::string> active_partials_;
};

}  // namespace ft::server
