#include "server/net/server.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "common/rules/path_rules.hpp"
#include "server/log/log.hpp"
#include "server/metrics/metrics.hpp"
#include "server/metrics/metrics_http.hpp"
#include "server/net/notice.hpp"
#include "server/net/session.hpp"
#include "server/storage/partial_cleanup.hpp"
#include "uvx/uv_support.hpp"

namespace ft::server {

Server::Server(uv_loop_t* loop, Fd root, ServerOptions options)
    : loop_(loop),
      root_(std::move(root)),
      options_(std::move(options)),
      batcher_(loop),
      next_turn_(loop),
      budget_(MemoryBudget::kDefaultLimit,
              [this](std::function<void()> task) { defer(std::move(task)); }),
      pacer_(options_.bwlimit, options_.bwlimit_per_identity) {
  // libuv sizes its pool from this variable (4 when unset; ftserve's main
  // sets 8): hashing listings may take only a share of it, and of the CPUs.
  const char* pool = std::getenv("UV_THREADPOOL_SIZE");
  const long threads = pool != nullptr ? std::strtol(pool, nullptr, 10) : 4;
  budget_.set_max_hashing_jobs(MemoryBudget::hashing_jobs_for(
      threads > 0 ? static_cast<std::size_t>(threads) : 4, uv_available_parallelism()));
  listener_.init(loop_, uv_tcp_init);
  listener_.set_data(this);
  sigint_.init(loop_, uv_signal_init);
  sigterm_.init(loop_, uv_signal_init);
  sigint_.set_data(this);
  sigterm_.set_data(this);
  uv_signal_start(sigint_.get(), on_signal, SIGINT);
  uv_signal_start(sigterm_.get(), on_signal, SIGTERM);
  cleanup_timer_.init(loop_, uv_timer_init);
  cleanup_timer_.set_data(this);
  drain_timer_.init(loop_, uv_timer_init);
  drain_timer_.set_data(this);
  // stderr is fully buffered (main): a log line per small file was a write
  // syscall per file on the loop thread. The lines of each loop turn leave
  // together, and the check never keeps the loop alive on its own.
  log_flush_.init(loop_, uv_check_init);
  log_flush_.set_data(this);
  uv_check_start(log_flush_.get(), on_log_flush);
  uv_unref(log_flush_.handle());
  // The libuv helpers' reports of a failed job go to the log too.
  set_error_reporter([](const char* message) { log::error("%s", message); });
  // Every identity of the keys file is listed in the metrics from the start
  // (at 0), open mode's one implicit identity too.
  if (!options_.tls) metrics().add_identity("");
  for (const KeyEntry& entry : options_.keys) metrics().add_identity(entry.name);
}

void Server::start_partial_cleanup(std::chrono::seconds ttl) {
  partial_ttl_ = ttl;
  // No upload runs yet: every temporary file is a killed server's leftover.
  CleanupStats stats =
      remove_stale_partials(root_.get(), ttl, {}, TemporaryFiles::kAll, &space_ledger_);
  // The partial files left by the last run count against their identity's
  // cap at once, as the cut uploads that left them did.
  count_kept_partials(stats.kept_partials);
  if (stats.removed > 0 || stats.errors > 0) {
    log::info(
        "removed %zu temporary file(s) and stale partial upload(s) older than %llds (%zu errors)",
        stats.removed, static_cast<long long>(ttl.count()), stats.errors);
  }
  const auto interval = std::clamp<std::int64_t>(ttl.count(), 1, 3600) * 1000;
  uv_timer_start(cleanup_timer_.get(), on_cleanup_timer, static_cast<std::uint64_t>(interval),
                 static_cast<std::uint64_t>(interval));
}

void Server::on_log_flush(uv_check_t*) noexcept {
  log::flush();
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
    SpaceLedger* ledger = &self->space_ledger_;  // the server outlives its jobs
    queue_job(
        self->loop_,
        [root, ttl, in_use, stats, ledger] {
          *stats = remove_stale_partials(root, ttl, *in_use, TemporaryFiles::kOlderThanTtl, ledger);
        },
        [self, stats, ttl] {
          self->cleanup_running_ = false;
          self->quota_partials_removed(stats->removed_partials);
          if (stats->removed > 0) {
            log::info("removed %zu stale partial upload(s) older than %llds", stats->removed,
                      static_cast<long long>(ttl.count()));
          }
        });
  } catch (...) {
    self->cleanup_running_ = false;
  }
}

Server::~Server() {
  // After the loop ran dry every session is closed; those whose last turn
  // never came (the loop stopped first) are freed here, after the deferred
  // tasks that may still refer to them.
  next_turn_.close();
  batcher_.close();
  retired_.clear();
  sessions_.clear();
}

int Server::listen(const RemoteSpec& address, std::string& bound) {
  if (int rc = bind_tcp(listener_.get(), address.host, address.port); rc != 0) return rc;
  return start_listening(bound);
}

int Server::adopt(int listening_fd, std::string& bound) {
  if (int rc = uv_tcp_open(listener_.get(), listening_fd); rc != 0) return rc;
  return start_listening(bound);
}

int Server::start_listening(std::string& bound) {
  // A deep backlog: a burst of clients waits in the kernel, not in SYN
  // retries, while the loop accepts them (on a socket systemd listens on
  // already, listen() again just sets this backlog).
  if (int rc = uv_listen(listener_.stream(), 1024, on_connection); rc != 0) return rc;
  listening_ = true;
  struct sockaddr_storage storage {};
  int length = sizeof storage;
  uv_tcp_getsockname(listener_.get(), reinterpret_cast<struct sockaddr*>(&storage), &length);
  bound = format_address(reinterpret_cast<struct sockaddr*>(&storage));
  return 0;
}

void Server::on_connection(uv_stream_t* listener, int status) noexcept {
  auto* self = static_cast<Server*>(listener->data);
  if (status != 0) {
    // Out of descriptors (EMFILE): libuv has already accepted and closed
    // the waiting connections with its reserve descriptor; log, rate-limited.
    self->log_refusal(uv_strerror(status));
    return;
  }
  try {
    if (self->connections_ >= self->options_.max_connections &&
        !self->waiting_for_handshake_.empty()) {
      // Full, but some connections have not finished their handshake: the
      // oldest of them goes (told why, if it can hear it), the new one comes
      // in. An authenticated connection is never dropped for a newcomer.
      Session* oldest = self->waiting_for_handshake_.front();
      oldest->close(ErrorCode::SERVER_FULL,
                    "server full: dropped to make room, the handshake was not finished", true);
      self->log_refusal("server full: dropped the oldest unfinished handshake");
    }
    if (self->connections_ >= self->options_.max_connections) {
      // Full: a notice and a close, without a session or a decoder.
      refuse_connection(self->loop_, listener, ErrorCode::SERVER_FULL,
                        "too many connections (--max-connections " +
                            std::to_string(self->options_.max_connections) + ")");
      self->log_refusal("server full (--max-connections)");
      return;
    }
    auto owned = std::make_unique<Session>(*self);
    Session* session = owned.get();
    self->sessions_.emplace(session, std::move(owned));
    ++self->connections_;
    metrics().connections_accepted.fetch_add(1, std::memory_order_relaxed);
    if (int rc = session->accept_from(listener); rc != 0) {
      log::warn("accept: %s", uv_strerror(rc));
    } else {
      log::debug("peer=%s: connected (%zu open)", session->peer().c_str(), self->connections_);
    }
  } catch (const std::exception& e) {
    log::error("accept: %s", e.what());
  }
}

void Server::log_refusal(const char* why) {
  // An attacker decides how often this happens: one line per second at most.
  ++refused_since_log_;
  metrics().connections_refused.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t now = uv_now(loop_);
  if (last_refusal_log_ms_ != 0 && now - last_refusal_log_ms_ < 1000) return;
  log::warn("refused %llu connection(s): %s", static_cast<unsigned long long>(refused_since_log_),
            why);
  refused_since_log_ = 0;
  last_refusal_log_ms_ = now == 0 ? 1 : now;
}

std::span<std::uint8_t> Server::cipher_read_area(std::size_t size) {
  if (cipher_read_area_.size() < size) cipher_read_area_.resize(size);
  return std::span<std::uint8_t>(cipher_read_area_.data(), size);
}

bool Server::admit_unauthenticated(Session* session, const std::string& host) {
  std::size_t& count = unauthenticated_[host];
  if (count >= options_.max_unauthenticated_per_address) {
    if (count == 0) unauthenticated_.erase(host);
    log_refusal("too many unauthenticated connections from one address");
    return false;
  }
  ++count;
  waiting_for_handshake_.push_back(session);
  return true;
}

void Server::release_unauthenticated(Session* session, const std::string& host) {
  // At most --max-connections entries, and most leave near the front (a
  // handshake takes milliseconds).
  if (auto at = std::find(waiting_for_handshake_.begin(), waiting_for_handshake_.end(), session);
      at != waiting_for_handshake_.end()) {
    waiting_for_handshake_.erase(at);
  }
  auto it = unauthenticated_.find(host);
  if (it == unauthenticated_.end()) return;
  if (--it->second == 0) unauthenticated_.erase(it);
}

const KeyEntry* Server::find_key(const std::string& identity) const {
  for (const KeyEntry& entry : options_.keys) {
    if (entry.key.identity == identity) return &entry;
  }
  return nullptr;
}

int Server::identity_root(const KeyEntry& entry) const {
  if (entry.subdir.empty()) return root_.get();
  auto it = identity_roots_.find(entry.name);
  return it == identity_roots_.end() ? -1 : it->second.get();
}

void Server::open_identity_root(const KeyEntry& entry, std::function<void(int err)> done) {
  auto opened = std::make_shared<Fd>();
  auto err = std::make_shared<int>(0);
  const int root = root_.get();
  std::string subdir = entry.subdir;
  // An identity with a quota has its tree measured in the same job, before
  // its first request: every check after that is a few additions on the
  // loop (docs/server.md "Quotas").
  const bool measure =
      (entry.quota_bytes != 0 || entry.quota_files != 0) && !quotas_[entry.subdir].measured;
  auto usage = std::make_shared<TreeUsage>();
  auto root_id = std::make_shared<std::string>();
  queue_job(
      // Component by component and never through a symbolic link: a link
      // made at (or above) this name by another identity must not make this
      // identity's connections serve another tree (ELOOP, refused).
      loop_,
      [root, subdir, opened, err, measure, usage, root_id] {
        *err = open_directory_creating(root, subdir, *opened);
        if (*err != 0 || !measure) return;
        if (measure_tree(opened->get(), *usage) != 0) {
          log::warn("quota of %s: some directories could not be read", subdir.c_str());
        }
        if (directory_identity(opened->get(), *root_id) != 0) root_id->clear();
      },
      [this, entry, opened, err, measure, usage, root_id, done = std::move(done)] {
        if (*err == 0 && identity_roots_.count(entry.name) == 0) {
          identity_roots_.emplace(entry.name, std::move(*opened));
        }
        if (*err == 0 && measure) measured(entry, *root_id, std::move(*usage));
        done(*err);
      });
}

std::vector<std::string> Server::reserved_beneath(const KeyEntry& entry) const {
  std::vector<std::string> reserved;
  const std::string& own = entry.subdir;
  for (const KeyEntry& other : options_.keys) {
    const std::string& theirs = other.subdir;
    // Identities sharing a directory share its tree; the whole root is no
    // one's to protect.
    if (theirs.empty() || theirs == own) continue;
    if (own.empty()) {
      reserved.push_back(theirs);
    } else if (theirs.size() > own.size() && theirs.compare(0, own.size(), own) == 0 &&
               theirs[own.size()] == '/') {
      reserved.push_back(theirs.substr(own.size() + 1));
    }
  }
  return reserved;
}

std::string Server::upload_slot_owner(const RequestContext& connection) const {
  // With keys a budget is an identity's, whatever it spreads its uploads
  // over. Open mode has one implicit identity for every anonymous client:
  // one budget for all would let any of them starve the others (issue 17),
  // so each connection counts alone, as an rsync daemon or sshd limits each
  // client. The ':' keeps the two kinds apart (key names never hold one).
  if (options_.tls) return connection.access().identity;
  return "connection:" + std::to_string(reinterpret_cast<std::uintptr_t>(&connection));
}

bool Server::acquire_upload_slot(const RequestContext& connection) {
  std::size_t& open = uploads_per_identity_[upload_slot_owner(connection)];
  if (open >= options_.max_uploads_per_identity) return false;
  ++open;
  return true;
}

void Server::release_upload_slot(const RequestContext& connection) {
  auto it = uploads_per_identity_.find(upload_slot_owner(connection));
  if (it == uploads_per_identity_.end()) return;
  if (--it->second == 0) uploads_per_identity_.erase(it);
}

void Server::release_partial(const std::string& key) {
  active_partials_.erase(key);
  // A partial file kept by a cut upload ages from now, as the cleanup's
  // mtime does.
  if (auto held = held_partials_.find(key); held != held_partials_.end()) {
    held->second.used = std::chrono::steady_clock::now();
  }
}

bool Server::hold_partial(const RequestContext& connection, const std::string& key) {
  // Partial files outlive their connection: in open mode every anonymous
  // client is the one implicit identity here, unlike the upload slots.
  const std::string owner = options_.tls ? connection.access().identity : std::string();
  const auto now = std::chrono::steady_clock::now();
  if (partial_ttl_.count() > 0) {
    // What the stale-partial cleanup removes (older than the TTL) no longer
    // counts.
    for (auto it = held_partials_.begin(); it != held_partials_.end();) {
      const bool stale = !it->second.active && now - it->second.used > partial_ttl_;
      it = stale ? forget_partial(it) : std::next(it);
    }
  }
  if (auto held = held_partials_.find(key); held != held_partials_.end()) {
    // Resuming one already kept: always allowed, and it is no longer left
    // behind while it runs.
    if (!held->second.active) {
      held->second.active = true;
      --kept_per_owner_[held->second.owner];
    }
    held->second.used = now;
    return true;
  }
  // Open uploads are bounded by the upload slots; what the cap bounds is
  // what cut uploads leave behind. An identity that already keeps that many
  // starts no new one until it resumes or lets some expire.
  if (kept_per_owner_[owner] >= options_.max_partials_per_identity) return false;
  held_partials_.emplace(key, HeldPartial{owner, now, true});
  return true;
}

bool Server::keep_partial(const std::string& key) {
  auto held = held_partials_.find(key);
  if (held == held_partials_.end()) return true;
  if (!held->second.active) return true;
  std::size_t& kept = kept_per_owner_[held->second.owner];
  // Counted at once, not when its last chunk is written: uploads cut
  // together (a whole connection) cannot all slip under the cap.
  if (kept >= options_.max_partials_per_identity) return false;
  ++kept;
  held->second.active = false;
  held->second.used = std::chrono::steady_clock::now();
  return true;
}

void Server::partial_gone(const std::string& key) {
  if (auto held = held_partials_.find(key); held != held_partials_.end()) forget_partial(held);
}

Server::HeldPartials::iterator Server::forget_partial(HeldPartials::iterator held) {
  if (!held->second.active) {
    auto kept = kept_per_owner_.find(held->second.owner);
    if (kept != kept_per_owner_.end() && --kept->second == 0) kept_per_owner_.erase(kept);
  }
  return held_partials_.erase(held);
}

void Server::connection_closed(Session* session) {
  --connections_;
  log::debug("peer=%s: closed (%zu open)", session->peer().c_str(), connections_);
  // The last connection of a drain: nothing left to wait for.
  if (draining_ && !stopping_ && connections_ == 0) defer([this] { stop(); });
}

void Server::retire(Session* session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  // Not now: this runs inside one of the session's own callbacks.
  if (retired_.empty()) defer([this] { free_retired(); });
  retired_.push_back(std::move(it->second));
  sessions_.erase(it);
}

void Server::free_retired() {
  retired_.clear();
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  if (stop_hook_) std::exchange(stop_hook_, nullptr)();
  listener_.close();
  listening_ = false;
  sigint_.close();
  sigterm_.close();
  cleanup_timer_.close();
  batcher_.close();
  drain_timer_.close();
  log_flush_.close();
  if (metrics_http_) metrics_http_->stop();
  log::flush();
  // Sessions leave the map only on a later turn, but a list keeps this
  // loop independent of that.
  std::vector<Session*> sessions;
  sessions.reserve(sessions_.size());
  for (auto& [session, owned] : sessions_) sessions.push_back(session);
  for (Session* session : sessions) {
    session->close(ErrorCode::SHUTTING_DOWN, "server is shutting down", true);
  }
  // Deferred work still queued (replies, frees) runs once more; then the
  // handle closes and the rest waits for ~Server.
  defer([this] { next_turn_.close(); });
}

}  // namespace ft::server
