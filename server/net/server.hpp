#pragma once
// ftserve's listener: accepts connections into Sessions on one libuv loop,
// and on SIGINT/SIGTERM stops accepting, aborts transfers in flight (their
// temporary files are removed) and lets the loop run dry.
//
// The Server owns its sessions (and nothing else does): a session is
// closed by itself or by stop(), and freed here on a later turn of the
// loop once its handles are closed and no request or job refers to it.
#include <uv.h>

#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/rules/address.hpp"
#include "server/core/request_context.hpp"
#include "server/core/server_options.hpp"
#include "server/net/bandwidth_pacer.hpp"
#include "server/net/memory_budget.hpp"
#include "server/storage/hash_cache.hpp"
#include "server/storage/job_batcher.hpp"
#include "server/storage/root_fs.hpp"
#include "server/storage/space_ledger.hpp"
#include "server/storage/tree_usage.hpp"
#include "uvx/handle.hpp"
#include "uvx/next_turn.hpp"

namespace ft::server {

class MetricsHttpServer;
class Session;

class Server final : public ServerServices {
 public:
  Server(uv_loop_t* loop, Fd root, ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and listens; on success `bound` is the address actually bound
  /// (with the real port when 0 was asked). Returns a libuv error code.
  int listen(const RemoteSpec& address, std::string& bound);
  /// Listens on a socket already bound and listening (systemd's socket
  /// activation), taking ownership of it; `bound` as for listen().
  int adopt(int listening_fd, std::string& bound);
  /// Runs `hook` once, when the server starts stopping (systemd's
  /// STOPPING=1); set before the loop runs.
  void on_stop(std::function<void()> hook) { stop_hook_ = std::move(hook); }
  /// Removes stale partial uploads now (blocking, before the loop runs) and
  /// then periodically on the thread pool.
  void start_partial_cleanup(std::chrono::seconds ttl);
  /// Stops accepting and closes every session (SIGINT; SIGTERM with
  /// --drain-timeout 0; the end of a drain).
  void stop();
  /// SIGTERM (server_drain.cpp): stops accepting, turns GET /health to 503,
  /// closes the connections with no request in flight, refuses new uploads and downloads
  /// (SHUTTING_DOWN, which clients retry elsewhere) and lets those in
  /// flight finish; stop() once the last connection closed or when
  /// ServerOptions::drain_timeout passes, whichever comes first.
  void drain();
  /// Draining or stopping: what a balancer's health check is told.
  bool draining() const { return draining_ || stopping_; }
  /// Serves the Prometheus text on `address` (--metrics; server_metrics.cpp);
  /// `bound` as for listen(). Returns a libuv error code.
  int serve_metrics(const RemoteSpec& address, std::string& bound);
  /// The Prometheus text of this server now, passed to `done` on the loop
  /// (after a thread-pool fstatvfs of the root).
  void collect_metrics(std::function<void(std::string body)> done);

  uv_loop_t* loop() const { return loop_; }
  JobBatcher& batcher() override { return batcher_; }
  HashCache& hash_cache() override { return hash_cache_; }
  SpaceLedger& space_ledger() override { return space_ledger_; }
  int root_fd() const { return root_.get(); }
  const ServerOptions& options() const override { return options_; }

  /// Counts the uploads open under one identity across all its sessions,
  /// in open mode under one session (ServerOptions::max_uploads_per_identity);
  /// false when at the cap.
  bool acquire_upload_slot(const RequestContext& connection) override;
  void release_upload_slot(const RequestContext& connection) override;
  /// Whose budget an upload of `connection` counts against.
  std::string upload_slot_owner(const RequestContext& connection) const;
  /// The session is closing: it no longer counts as a connection.
  void connection_closed(Session* session);
  /// The session is closed and unreferenced: freed on a later turn.
  void retire(Session* session);
  /// Runs `task` on a later turn of the loop (dropped once stopped).
  void defer(std::function<void()> task) { next_turn_.defer(std::move(task)); }
  /// The memory all connections hold for their peers, together.
  MemoryBudget& budget() { return budget_; }
  /// --bwlimit and --bwlimit-per-identity, shared by all connections.
  BandwidthPacer& pacer() { return pacer_; }
  /// Where every TLS session's ciphertext is read: libuv calls a stream's
  /// alloc and read callbacks back to back on this one thread, and the
  /// engine copies what it is fed, so one area serves all connections
  /// instead of 64 KiB held by each (docs/server.md "Memory").
  std::span<std::uint8_t> cipher_read_area(std::size_t size);
  /// Connections accepted and not yet closed.
  std::size_t connections() const { return connections_; }

  /// Counts `session`, from `host`, as a connection that has not completed
  /// its handshake; false (nothing counted) when the host is at
  /// ServerOptions::max_unauthenticated_per_address.
  bool admit_unauthenticated(Session* session, const std::string& host);
  void release_unauthenticated(Session* session, const std::string& host);

  /// The keys-file entry of a TLS identity (the wire id), or null.
  const KeyEntry* find_key(const std::string& identity) const;
  /// The root an identity sees: the served root, or its sub-directory once
  /// opened (cached for the server's life); -1 if not opened yet.
  int identity_root(const KeyEntry& entry) const;
  /// Opens (creating if missing) the identity's sub-directory beneath the
  /// root on the thread pool; `done(err)` runs on the loop with 0 or an
  /// errno value, after which identity_root() answers.
  void open_identity_root(const KeyEntry& entry, std::function<void(int err)> done);
  /// Other identities' sub-directories inside `entry`'s tree, relative to
  /// its root: names its requests may not create, replace or write beneath
  /// (docs/server.md "Keys").
  std::vector<std::string> reserved_beneath(const KeyEntry& entry) const;

  /// Claims a resumable upload's partial file (its path below the root) for
  /// one upload at a time; false if another upload holds it.
  bool claim_partial(const std::string& key) override {
    return active_partials_.insert(key).second;
  }
  void release_partial(const std::string& key) override;
  bool hold_partial(const RequestContext& connection, const std::string& key) override;
  bool keep_partial(const std::string& key) override;
  void partial_gone(const std::string& key) override;
  std::optional<std::string> admit_quota(const RequestContext& connection,
                                         QuotaClaim& claim) override;
  void settle_quota(const RequestContext& connection, const QuotaClaim& claim,
                    QuotaOutcome outcome) override;
  void quota_removed(const RequestContext& connection, std::uint64_t bytes) override;
  /// The stale-partial cleanup removed these partial files: quotas that
  /// counted them as kept give their share back.
  void quota_partials_removed(const std::vector<FileId>& removed);

 private:
  /// A partial file being written (`active`) or kept by a cut upload: its
  /// identity and when last used (max_partials_per_identity).
  struct HeldPartial {
    std::string owner;
    std::chrono::steady_clock::time_point used;
    bool active = true;
  };
  using HeldPartials = std::unordered_map<std::string, HeldPartial>;
  /// A kept partial file's share of its quota, and the file (when known)
  /// for the stale-partial cleanup to name.
  struct KeptQuota {
    std::uint64_t bytes = 0;
    std::optional<FileId> file;
  };
  /// One quota tree (an identity's sub-directory): what it holds, measured
  /// once, then kept up to date by this server's own uploads.
  struct QuotaBook {
    bool measured = false;
    TreeUsage used;
    std::uint64_t open_bytes = 0;  // declared by uploads in progress
    std::uint64_t open_files = 0;
    // Partial files kept by cut resumable uploads (or found by the
    // measure), counted in `used` at their declared size, by
    // QuotaClaim::partial.
    std::unordered_map<std::string, KeptQuota> kept;
  };

  static void on_connection(uv_stream_t* listener, int status) noexcept;
  static void on_signal(uv_signal_t* handle, int signum) noexcept;
  static void on_cleanup_timer(uv_timer_t* timer) noexcept;
  static void on_drain_timer(uv_timer_t* timer) noexcept;
  static void on_log_flush(uv_check_t* check) noexcept;
  void free_retired();
  /// Stops counting a partial file; the next entry.
  HeldPartials::iterator forget_partial(HeldPartials::iterator held);
  void log_refusal(const char* why);
  /// Starts accepting on the bound listener_ and names its address.
  int start_listening(std::string& bound);
  /// The walk of `entry`'s sub-directory (whose "<dev>:<inode>" is
  /// `root_id`) is done: its usage, and the partial files it found, counted
  /// as kept for the quota and for the identity's cap on kept partials.
  void measured(const KeyEntry& entry, const std::string& root_id, TreeUsage usage);
  /// Counts partial files found at start-up (`paths` below the root)
  /// against the cap of the identity whose tree holds them: the one with
  /// the longest sub-directory above each (the first configured, if several
  /// share it), or in open mode the one implicit identity. Blocking: before
  /// the loop runs.
  void count_kept_partials(const std::vector<std::string>& paths);
  /// Counts the partial file `key` (claim_partial's keys) as kept by
  /// `owner`, unless it is known already.
  void register_kept_partial(const std::string& key, const std::string& owner);

  uv_loop_t* loop_;
  Fd root_;
  ServerOptions options_;
  // Open uploads per budget: an identity's name, or in open mode one
  // connection's (upload_slot_owner).
  std::unordered_map<std::string, std::size_t> uploads_per_identity_;
  std::unordered_map<std::string, std::size_t> unauthenticated_;  // per source address
  // The same connections, oldest first: when the server is full, the oldest
  // of them makes room for a new one, so that unfinished handshakes from
  // many addresses cannot keep everyone out until their deadline.
  std::list<Session*> waiting_for_handshake_;
  std::unordered_map<std::string, Fd> identity_roots_;  // by key name
  std::uint64_t refused_since_log_ = 0;
  std::uint64_t last_refusal_log_ms_ = 0;
  JobBatcher batcher_;
  HashCache hash_cache_;
  SpaceLedger space_ledger_;
  uvx::Handle<uv_tcp_t> listener_;
  uvx::Handle<uv_signal_t> sigint_;
  uvx::Handle<uv_signal_t> sigterm_;
  uvx::Handle<uv_timer_t> cleanup_timer_;
  uvx::Handle<uv_timer_t> drain_timer_;  // the end of a drain (--drain-timeout)
  uvx::Handle<uv_check_t> log_flush_;    // writes the log lines of a loop turn at once
  uvx::NextTurn next_turn_;
  Bytes cipher_read_area_;  // cipher_read_area()
  MemoryBudget budget_;     // before sessions_: they give their share back as they go
  BandwidthPacer pacer_;
  std::chrono::seconds partial_ttl_{0};
  bool cleanup_running_ = false;
  bool listening_ = false;
  bool stopping_ = false;
  bool draining_ = false;  // drain(): no new connection or request
  std::function<void()> stop_hook_;
  std::unordered_map<Session*, std::unique_ptr<Session>> sessions_;
  std::vector<std::unique_ptr<Session>> retired_;  // freed on the next turn
  std::size_t connections_ = 0;
  std::unordered_set<std::string> active_partials_;
  HeldPartials held_partials_;                                   // by key, counted per identity
  std::unordered_map<std::string, QuotaBook> quotas_;            // by sub-directory
  std::unordered_map<std::string, std::size_t> kept_per_owner_;  // held, not active
  std::unique_ptr<MetricsHttpServer> metrics_http_;              // --metrics
};

}  // namespace ft::server
