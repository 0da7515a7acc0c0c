#pragma once
// What a request sees of the rest of the server: its connection
// (RequestContext, implemented by net/Session) and the services every
// connection shares (ServerServices, implemented by net/Server). Requests
// include this header, never the session's or the server's, so that they
// depend on a narrow interface and not on how connections are run.
#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "common/base/bytes.hpp"
#include "common/rules/errors.hpp"
#include "common/rules/path_rules.hpp"
#include "server/core/request.hpp"
#include "server/core/server_options.hpp"

namespace ft::server {

class HashCache;
class JobBatcher;
class SpaceLedger;
class RequestContext;

/// An upload's share of its identity's quota: its declared size and, for a
/// resumable upload, its partial file's path below the identity's root;
/// then what the upload learns on the way, for settle_quota.
struct QuotaClaim {
  using FileId = std::pair<dev_t, ino_t>;
  std::uint64_t size = 0;
  std::string partial;  // "" for a plain or eager upload
  /// Set by admit_quota: the kept partial file this upload resumes, whose
  /// share it took over (given back if the upload leaves the file as it was).
  bool credited = false;
  std::uint64_t credit_bytes = 0;
  std::optional<FileId> credit_file;
  /// The partial file, once this upload opened it.
  std::optional<FileId> file;
  /// The commit replaced a regular file of this many bytes.
  std::optional<std::uint64_t> replaced;
};
/// How an upload that held a QuotaClaim ended.
enum class QuotaOutcome {
  kCommitted,    // renamed into place (over `replaced`, if set)
  kDropped,      // its file was removed, or never made
  kKeptPartial,  // cut: its partial file is kept for a resume
  kUntouched,    // a resume that ended before it opened its partial file
};

/// What all connections share: the group commit, the options, and the
/// per-identity and per-file registries.
class ServerServices {
 public:
  /// Batches small file jobs and group-commits uploads (storage/).
  virtual JobBatcher& batcher() = 0;
  /// Whole-file hashes of unchanged files, for LIST with HASHES (storage/).
  virtual HashCache& hash_cache() = 0;
  virtual const ServerOptions& options() const = 0;
  /// Space promised to open uploads, per file system (storage/).
  virtual SpaceLedger& space_ledger() = 0;
  /// Counts the uploads open by `connection`'s identity across all its
  /// connections, or in open mode by that one connection
  /// (ServerOptions::max_uploads_per_identity); false when at the cap.
  virtual bool acquire_upload_slot(const RequestContext& connection) = 0;
  virtual void release_upload_slot(const RequestContext& connection) = 0;
  /// Claims a partial file's key for one upload at a time; false if another
  /// upload holds it (BUSY).
  virtual bool claim_partial(const std::string& key) = 0;
  virtual void release_partial(const std::string& key) = 0;
  /// Records the partial file `key` of a resumable upload of `connection`'s
  /// identity; false (refused) when the identity already keeps
  /// ServerOptions::max_partials_per_identity partial files of cut uploads
  /// and `key` is not one of them (in open mode all anonymous clients are
  /// one identity, since a partial file outlives its connection).
  virtual bool hold_partial(const RequestContext& connection, const std::string& key) = 0;
  /// The upload of `key` was cut: true if its partial file may be kept
  /// (counted from now on), false if the identity keeps the most it may
  /// already and the file is to be removed.
  virtual bool keep_partial(const std::string& key) = 0;
  /// The partial file `key` was committed or removed.
  virtual void partial_gone(const std::string& key) = 0;
  /// Counts an upload against `connection`'s identity's quotas (bytes and
  /// files, with what other open uploads and kept partial files promised):
  /// nullopt when admitted (or the identity has none), else why not.
  virtual std::optional<std::string> admit_quota(const RequestContext& connection,
                                                 QuotaClaim& claim) = 0;
  /// An admitted upload ended: its promise becomes usage (committed, or
  /// kept as partial data) or goes.
  virtual void settle_quota(const RequestContext& connection, const QuotaClaim& claim,
                            QuotaOutcome outcome) = 0;
  /// A DELETE removed a file of `bytes` (or a link or directory: 0 bytes)
  /// from `connection`'s identity's tree: its quotas give that back.
  virtual void quota_removed(const RequestContext& connection, std::uint64_t bytes) = 0;

 protected:
  ~ServerServices() = default;
};

class ContextRef;
class StatBatcher;

/// A request's connection: how it answers, accounts its memory and ends.
/// The connection owns its requests; a request reaches back only through a
/// ContextRef, which never keeps the connection open.
class RequestContext {
 public:
  /// Bytes queued for sending: downloads stop reading ahead above the high
  /// mark and are woken below the low one (notify_when_writable).
  static constexpr std::size_t kSendHighWater = 4 * 1024 * 1024;
  static constexpr std::size_t kSendLowWater = 2 * 1024 * 1024;

  virtual uv_loop_t* loop() const = 0;
  virtual ServerServices& services() const = 0;
  /// The root this connection sees: the identity's sub-directory, or the
  /// served root.
  virtual int root_fd() const = 0;
  /// Who is connected and what they may do (docs/server.md "Rights").
  virtual const Access& access() const = 0;
  /// Whether both hellos carried RESUME / EAGER (docs/protocol.md).
  virtual bool resume() const = 0;
  virtual bool eager() const = 0;
  virtual bool stream() const = 0;  // STREAM (section 5.14)
  /// Whether both hellos carried DELTA_PUT (docs/protocol.md, section 5.12).
  virtual bool delta_put() const { return false; }
  /// Whether both hellos carried DELTA_EARLY too: a DELTA PUT's signature
  /// follows its PUT_READY (section 5.12).
  virtual bool delta_early() const { return false; }
  /// Whether both hellos carried DELTA_GET (section 5.16).
  virtual bool delta_get() const { return false; }
  /// The name rules of this connection: any bytes with ARCHIVE (section 5.9).
  virtual NameRules name_rules() const { return NameRules::kPortable; }
  /// Whether both hellos carried SPARSE / OWNERS (section 5.9).
  virtual bool sparse() const { return false; }
  virtual bool owners() const { return false; }
  /// Whether both hellos carried COMPRESS (section 5.15).
  virtual bool compress() const { return false; }

  virtual void send_frame(Bytes frame) = 0;
  /// Sends a DATA frame of `length` bytes of `body`; `flags`
  /// kFlagCompressed when they are a zstd frame (COMPRESS).
  virtual void send_data(std::uint32_t id, std::uint64_t offset, std::uint64_t chunk_hash,
                         std::shared_ptr<Bytes> body, std::size_t length,
                         std::uint8_t flags = 0) = 0;
  virtual void send_error(std::uint32_t id, ErrorCode code, const std::string& path,
                          const std::string& message) = 0;
  /// The request ended (its last frame was sent); `discard_rest` keeps
  /// swallowing its DATA/END frames still on their way.
  virtual void finish_request(std::uint32_t id, bool discard_rest) = 0;
  /// Hands a received payload buffer back to the decoder for reuse.
  virtual void recycle(Bytes&& buffer) = 0;
  /// A recycled buffer of `size` bytes whose old contents stay (nothing
  /// allocated nor filled), or an empty one (FrameDecoder::take_recycled).
  virtual Bytes take_recycled(std::size_t size) = 0;
  /// A frame broke the protocol after its handler returned (a compressed
  /// chunk found bad on the thread pool, or a frame that waited behind
  /// it): the connection fails as if the handler had refused the frame,
  /// with `reason` (docs/protocol.md, section 7).
  virtual void fail_protocol(const std::string& reason) = 0;

  /// Received bytes waiting for the disk (reading pauses above a mark).
  virtual void add_disk_backlog(std::size_t bytes) = 0;
  virtual void remove_disk_backlog(std::size_t bytes) = 0;
  /// Bytes queued for sending, and chunks being read for downloads.
  virtual std::size_t send_backlog() const = 0;
  virtual std::size_t read_ahead() const = 0;
  virtual void add_read_ahead(std::size_t bytes) = 0;
  virtual void remove_read_ahead(std::size_t bytes) = 0;
  /// Whether `bytes` more may be queued for sending now: the connection's
  /// send queue is under its high mark and the server's memory budget has
  /// room (docs/server.md, "Memory"). When not, wait with
  /// notify_when_writable.
  virtual bool may_buffer(std::size_t bytes) const = 0;
  /// Calls request->on_writable() once the send queue drained below its
  /// low-water mark, or the server's memory budget drained.
  virtual void notify_when_writable(std::weak_ptr<Request> request) = 0;
  /// Memory a request keeps for its replies (a listing's entries waiting to
  /// be sent, a download's chunk buffers): counted in the connection's share
  /// of the server's memory budget.
  virtual void add_reply_memory(std::size_t bytes) = 0;
  virtual void remove_reply_memory(std::size_t bytes) = 0;
  /// Runs `task` on a later turn of the loop, never from the caller's own
  /// stack (a reply decided before anything started goes this way).
  virtual void defer(std::function<void()> task) = 0;
  /// Runs `run` when fewer than the session's cap of listings run, the send
  /// queue is under its mark and the server's memory budget has room; `run`
  /// then holds a server-wide listing job slot, which its job gives back
  /// with listing_job_done(). listing_finished() once its last page is sent.
  /// A listing that `hashes` file contents also waits for one of the few
  /// server-wide hashing slots (docs/server.md, "Fairness").
  virtual void start_listing(std::function<void()> run, bool hashes) = 0;
  virtual void listing_job_done(bool hashes) = 0;
  virtual void listing_finished() = 0;
  /// Runs `run` once this connection holds one of the server's hashing
  /// slots (shared with LIST with HASHES, handed to identities in turn), on
  /// the loop; the request gives it back with hashing_done(). `run` never
  /// runs if the connection closes first.
  virtual void start_hashing(std::function<void()> run) = 0;
  /// Where this connection's STATs are run together (stat_batch.hpp), or
  /// null: each STAT then waits in the line of listings alone.
  virtual StatBatcher* stat_batcher() { return nullptr; }
  virtual void hashing_done() = 0;
  /// Takes one more of the server's hashing slots if one is free now
  /// (never waits, never jumps a waiter's line); false otherwise. Given
  /// back with extra_hashing_done(). A delta upload's signature uses it
  /// for its second half.
  virtual bool try_extra_hashing() { return false; }
  virtual void extra_hashing_done() {}

  /// A request of operation `op` (put, get, list, stat, mkdir, symlink)
  /// ended with `result` ("ok" or an error code's name) after moving `bytes`
  /// of file data or listing: its access-log line and its metrics
  /// (docs/server.md "Logs"). Once per request.
  virtual void log_access(const char* op, const std::string& path, std::uint64_t bytes,
                          std::chrono::steady_clock::time_point started, const std::string& result,
                          std::uint64_t resumed_from = 0) = 0;

 protected:
  ~RequestContext() = default;
  /// The last ContextRef went away: a closed connection may now be freed
  /// (on a later turn, never from this call).
  virtual void references_dropped() = 0;
  std::size_t references() const { return references_; }

 private:
  friend class ContextRef;
  std::size_t references_ = 0;
};

/// A counted, non-owning reference to a request's connection. The
/// connection is opened and closed by its owner (the Server) alone; while
/// a ContextRef exists (a request, or a thread-pool job of one, still
/// running) a closed connection's memory is kept, so a job that completes
/// after the close still finds its context. Loop thread only.
class ContextRef {
 public:
  explicit ContextRef(RequestContext& context) : context_(&context) { ++context_->references_; }
  ContextRef(const ContextRef& other) : ContextRef(*other.context_) {}
  ContextRef(ContextRef&& other) noexcept : context_(std::exchange(other.context_, nullptr)) {}
  ContextRef& operator=(const ContextRef&) = delete;
  ContextRef& operator=(ContextRef&&) = delete;
  ~ContextRef() {
    if (context_ != nullptr && --context_->references_ == 0) context_->references_dropped();
  }

  RequestContext* operator->() const { return context_; }
  RequestContext& operator*() const { return *context_; }

 private:
  RequestContext* context_;
};

}  // namespace ft::server
